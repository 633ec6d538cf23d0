import Foundation
@testable import EntraConfig

/// A profile in a temp directory for the push target section tests: a [Tenant] section (lines 1–5),
/// then the sections under test, in which each placeholder names a secret file written beside it.
struct TargetSectionFixture {
    let dir: String
    /// Placeholder → (file name, content): e.g. "TOKEN" → ("vault.token", "tok-123\n").
    let secrets: [String: (file: String, content: String)]

    init(_ prefix: String, secrets: [String: (file: String, content: String)]) throws {
        dir = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        self.secrets = secrets
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func path(_ placeholder: String) -> String { dir + "/" + secrets[placeholder]!.file }

    func load(_ sections: String, environment: [String: String] = [:]) throws(ConfigError) -> Profile {
        let secret = dir + "/c.secret"
        var text = sections
        for (placeholder, (file, content)) in secrets.merging(["": ("c.secret", "s3cr3t")]) { a, _ in a } {
            try? content.write(toFile: dir + "/" + file, atomically: true, encoding: .utf8)
            chmod(dir + "/" + file, 0o600)
            if !placeholder.isEmpty { text = text.replacingOccurrences(of: placeholder, with: dir + "/" + file) }
        }
        let path = dir + "/contoso.conf"
        try? """
            [Tenant]
            TenantId=contoso.onmicrosoft.com
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecretFile=\(secret)

            """.appending(text).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return try ProfileLoader.load(file: path, environment: environment).0
    }

    func error(_ sections: String) -> ConfigError? {
        do { _ = try load(sections) } catch { return error }
        return nil
    }
}
