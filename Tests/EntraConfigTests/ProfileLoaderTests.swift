import Foundation
import Testing
@testable import EntraConfig

@Suite("profiles")
struct ProfileLoaderTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "cfg-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode_t(mode))
        return path
    }

    let tenant = """
        [Tenant]
        TenantId=contoso.onmicrosoft.com
        ClientId=11111111-2222-3333-4444-555555555555
        """

    @Test func minimalProfileGetsDefaults() throws {
        let secret = try write("c.secret", "s3cr3t-value\n")
        let path = try write("contoso.conf", tenant + "\nClientSecretFile=\(secret)\n")
        let (profile, warnings) = try ProfileLoader.load(file: path)
        #expect(profile.name == "contoso")
        #expect(profile.clientSecret.value == "s3cr3t-value")
        #expect(profile.interval == 1800)
        #expect(profile.randomizedDelay == 180)
        #expect(profile.syncUsers && profile.syncGroups)
        #expect(profile.loginEndpoint == "https://login.microsoftonline.com")
        #expect(profile.graphEndpoint == "https://graph.microsoft.com")
        #expect(profile.tokenURL == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        #expect(profile.graphScope == "https://graph.microsoft.com/.default")
        #expect(profile.parallel == .auto && profile.parallel.limit == 32)
        #expect(warnings.isEmpty)
    }

    @Test("Parallel= takes auto, off or a maximum number of requests at once", arguments: [
        ("auto", ParallelSync.auto, 32), ("off", .off, 0), ("OFF", .off, 0), ("8", .max(8), 8), ("32", .max(32), 32),
    ])
    func parallel(value: String, mode: ParallelSync, limit: Int) throws {
        let path = try write("p.conf", tenant + "\nClientSecret=x\n[Sync]\nParallel=\(value)\n")
        let (profile, _) = try ProfileLoader.load(file: path)
        #expect(profile.parallel == mode && profile.parallel.limit == limit)
    }

    @Test func everyKeyParses() throws {
        let ca = try write("ca.pem", "-----BEGIN CERTIFICATE-----\n")
        let path = try write("full.conf", """
            # comment
            ; another
            [Tenant]
            TenantId = 0d2a1f3e-1111-4222-8333-444455556666
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecret="inline secret"
            Cloud=usgov-dod
            LoginEndpoint=http://127.0.0.2:8080/
            GraphEndpoint=http://[::1]:9090
            CAFile=\(ca)
            Proxy=http://proxy.example:3128
            [Sync]
            Interval=1h 30s
            RandomizedDelay=0
            Users=no
            Groups=yes
            RequestTimeout=2min
            MaxAttempts=\\
              3
            """)
        let (p, warnings) = try ProfileLoader.load(file: path)
        #expect(p.cloud == .usgovDod)
        #expect(p.loginEndpoint == "http://127.0.0.2:8080")
        #expect(p.graphEndpoint == "http://[::1]:9090")
        #expect(p.graphScope == "https://dod-graph.microsoft.us/.default")
        #expect(p.interval == 3630)
        #expect(p.randomizedDelay == 0)
        #expect(!p.syncUsers)
        #expect(p.requestTimeout == 120)
        #expect(p.maxAttempts == 3)
        #expect(p.secretSource == .inline)
        #expect(warnings.isEmpty)
    }

    @Test("errors name file, line and key", arguments: [
        ("Interval=soon", "Interval", "invalid time span"),
        ("Users=maybe", "Users", "expected yes or no"),
        ("MaxAttempts=99", "MaxAttempts", "1 to 20"),
        ("Intervall=5min", "Intervall", "did you mean Interval"),
        ("Parallel=33", "Parallel", "expected auto, off or a maximum number of requests at once (1–32)"),
        ("Parallel=fast", "Parallel", "found 'fast'"),
    ])
    func syncErrors(line: String, key: String, text: String) throws {
        let path = try write("bad.conf", tenant + "\nClientSecret=x\n[Sync]\n\(line)\n")
        #expect {
            _ = try ProfileLoader.load(file: path)
        } throws: { error in
            let e = error as! ConfigError
            return e.line == 6 && e.key == key && "\(e)".contains("bad.conf:6: \(key): ") && "\(e)".contains(text)
        }
    }

    @Test("http is only for loopback", arguments: ["http://example.com", "http://10.0.0.1:80", "ftp://127.0.0.1"])
    func httpNonLoopbackRejected(url: String) throws {
        let path = try write("x.conf", tenant + "\nClientSecret=x\nGraphEndpoint=\(url)\n")
        #expect(throws: ConfigError.self) { try ProfileLoader.load(file: path) }
    }

    @Test func loopbackHosts() {
        for host in ["127.0.0.1", "127.5.5.5", "[::1]", "::1", "localhost"] { #expect(ProfileLoader.isLoopback(host)) }
        for host in ["128.0.0.1", "example.com", "127.0.0", "10.0.0.1"] { #expect(!ProfileLoader.isLoopback(host)) }
    }

    @Test func clouds() throws {
        for (cloud, login, graph) in [("china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
                                      ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us")] {
            let path = try write("c.conf", tenant + "\nClientSecret=x\nCloud=\(cloud)\n", mode: 0o600)
            let (p, _) = try ProfileLoader.load(file: path)
            #expect(p.loginEndpoint == login)
            #expect(p.graphEndpoint == graph)
        }
    }

    @Test func credentialFromSystemd() throws {
        let creds = dir + "/creds"
        try FileManager.default.createDirectory(atPath: creds, withIntermediateDirectories: true)
        try "cred-secret".write(toFile: creds + "/tenant", atomically: true, encoding: .utf8)
        let path = try write("c.conf", tenant + "\nClientSecretCredential=tenant\n")
        let (p, _) = try ProfileLoader.load(file: path, environment: ["CREDENTIALS_DIRECTORY": creds])
        #expect(p.clientSecret.value == "cred-secret")
        #expect(throws: ConfigError.self) { try ProfileLoader.load(file: path, environment: [:]) }
    }

    @Test func exactlyOneSecret() throws {
        let none = try write("n.conf", tenant + "\n")
        #expect(throws: ConfigError.self) { try ProfileLoader.load(file: none) }
        let two = try write("t.conf", tenant + "\nClientSecret=a\nClientSecretCredential=b\n")
        #expect(throws: ConfigError.self) { try ProfileLoader.load(file: two) }
    }

    @Test func readableSecretsWarnWithoutShowingThem() throws {
        let secret = try write("open.secret", "very-secret-value", mode: 0o644)
        let path = try write("w.conf", tenant + "\nClientSecretFile=\(secret)\n", mode: 0o644)
        let (p, warnings) = try ProfileLoader.load(file: path)
        #expect(warnings.count == 1)
        #expect(warnings[0].description.contains("readable by every user; run: chown root:entra-sync \(secret) && chmod 0640 \(secret)"))
        let inline = try write("i.conf", tenant + "\nClientSecret=very-secret-value\n", mode: 0o644)
        let (q, inlineWarnings) = try ProfileLoader.load(file: inline)
        #expect(inlineWarnings.count == 1)
        for text in ["\(p)", String(reflecting: p), "\(q)", String(reflecting: q.clientSecret), "\(warnings)", "\(inlineWarnings)"] {
            #expect(!text.contains("very-secret-value"))
        }
        let bad = try write("b.conf", tenant + "\nClientSecret=very-secret-value\nInterval=x\n")
        do { _ = try ProfileLoader.load(file: bad) } catch { #expect(!"\(error)".contains("very-secret-value")) }
    }

    /// The group of files this process creates, standing in for the service's group: its owner may
    /// chgrp to it without root.
    static var ownGroup: String { String(cString: getgrgid(getegid())!.pointee.gr_name) }
    /// Loading checks only that the certificate is PEM around base64 (`check` verifies it with Entra).
    static let certificatePEM = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"

    /// Writes every kind of secret file (client secret, private key, SCIM token, inline secrets)
    /// with `mode` and this process's group, and returns the warnings of loading both profiles.
    func secretWarnings(mode: Int, serviceGroup: String) throws -> [ConfigWarning] {
        let key = try write("k.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", mode: mode)
        let cert = try write("c.pem", Self.certificatePEM)
        let token = try write("t.token", "scim-token", mode: mode)
        let secret = try write("g.secret", "group-secret", mode: mode)
        let withFiles = try write("files.conf", tenant + "\nClientSecretFile=\(secret)\n[SCIM]\nEndpoint=https://v.example\nBearerTokenFile=\(token)\n",
                                  mode: mode)
        let withCertificate = try write("cert.conf", tenant + "\nCertificateFile=\(cert)\nPrivateKeyFile=\(key)\n", mode: mode)
        let inline = try write("inline.conf", tenant + "\nClientSecret=inline-secret\n[SCIM]\nEndpoint=https://v.example\nBearerToken=inline-token\n",
                               mode: mode)
        for path in [key, token, secret, withFiles, withCertificate, inline] { #expect(chown(path, getuid(), getegid()) == 0) }
        var warnings: [ConfigWarning] = []
        for profile in [withFiles, withCertificate, inline] {
            warnings += try ProfileLoader.load(file: profile, serviceGroup: serviceGroup).1
        }
        return warnings
    }

    @Test("0640 in the service's group, the documented setup, and 0600 get no warning", arguments: [0o640, 0o600])
    func serviceGroupMayReadSecrets(mode: Int) throws {
        #expect(try secretWarnings(mode: mode, serviceGroup: Self.ownGroup) == [])
    }

    @Test func anotherGroupReadingSecretsIsWarnedAbout() throws {
        let warnings = try secretWarnings(mode: 0o640, serviceGroup: "entra-sync-test-other")
        #expect(warnings.count == 5)
        for warning in warnings {
            #expect(warning.message.contains("readable by group \(Self.ownGroup), which is not the service's group entra-sync-test-other"))
            #expect(warning.message.contains("run: chown root:entra-sync-test-other \(warning.file) && chmod 0640 \(warning.file)"))
        }
        #expect(Set(warnings.map { $0.file.split(separator: "/").last! }) == ["g.secret", "t.token", "k.pem", "inline.conf"])
    }

    @Test func everyoneReadingSecretsIsWarnedAboutEvenInTheServiceGroup() throws {
        let warnings = try secretWarnings(mode: 0o644, serviceGroup: Self.ownGroup)
        #expect(warnings.count == 5)
        #expect(warnings.allSatisfy { $0.message.contains("is readable by every user") })
    }

    @Test func directoryLoadsGoodFilesDespiteBadOnes() throws {
        _ = try write("good.conf", tenant + "\nClientSecret=x\n")
        _ = try write("bad.conf", tenant + "\nClientSecret=x\n[Sync]\nInterval=\n\nUsers=perhaps\n")
        _ = try write("example.conf.sample", "garbage")
        _ = try write("notes.txt", "garbage")
        _ = try write("bad name.conf", "garbage")
        let set = ProfileLoader.loadDirectory(dir)
        #expect(set.profiles.map(\.name) == ["good"])
        #expect(set.errors["bad"]?.line == 8)
        #expect(set.errors["bad"]?.key == "Users")
        #expect(set.errors["bad name"] != nil)
        #expect(ProfileLoader.loadDirectory(dir + "/missing").errors["*"] != nil)
    }

    @Test("a file with several mistakes reports all of them at once, in line order")
    func everyMistakeAtOnce() throws {
        let path = try write("many.conf", """
            [Tenant]
            TenantId=not a tenant
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecret=x
            Cloud=mars
            [Sync]
            Intervall=5min
            Users=perhaps
            MaxAttempts=0
            garbage line
            [Syncc]
            Interval=1h
            [SCIM:app]
            Endpoint=ftp://app.example
            BearerToken=t
            Bulk=sometimes
            """)
        #expect {
            _ = try ProfileLoader.load(file: path)
        } throws: { error in
            let e = error as! ConfigError
            let lines = "\(e)".split(separator: "\n")
            return e.problems.map(\.line) == [2, 5, 7, 8, 9, 10, 12, 14, 16]
                && e.problems.map(\.key) == ["TenantId", "Cloud", "Intervall", "Users", "MaxAttempts", nil, nil, "Endpoint", "Bulk"]
                && e.line == 2 && e.key == "TenantId"
                && lines.count == 9 && lines.allSatisfy { $0.hasPrefix("\(path):") }
                && lines[2].hasSuffix("many.conf:7: Intervall: unknown key in [Sync]; did you mean Interval?")
        }
    }

    @Test("missing keys come after the ones with a line")
    func missingKeysLast() throws {
        let path = try write("m.conf", "[Sync]\nUsers=perhaps\n")
        #expect {
            _ = try ProfileLoader.load(file: path)
        } throws: { error in
            let e = error as! ConfigError
            return e.problems.map(\.key) == ["Users", "TenantId", "ClientId", "ClientSecretFile"] && e.problems.dropFirst().allSatisfy { $0.line == nil }
        }
    }

    @Test func malformedLines() throws {
        let path = try write("m.conf", "TenantId=x\n")
        #expect { try ProfileLoader.load(file: path) } throws: { ($0 as? ConfigError)?.line == 1 }
        let header = try write("h.conf", "[Tenant\n")
        #expect { try ProfileLoader.load(file: header) } throws: { "\($0)".contains("section header") }
    }

    @Test func timeSpans() throws {
        #expect(try TimeSpan.parse("30min") == 1800)
        #expect(try TimeSpan.parse("1h 30s") == 3630)
        #expect(try TimeSpan.parse("2h30m") == 9000)
        #expect(try TimeSpan.parse("1.5h") == 5400)
        #expect(try TimeSpan.parse("500ms") == 0.5)
        #expect(try TimeSpan.parse("45") == 45)
        #expect(try TimeSpan.parse("1w 1d") == 691_200)
        for bad in ["", "abc", "5 parsecs", "-5s", "1..2s"] {
            #expect(throws: TimeSpan.ParseError.self) { try TimeSpan.parse(bad) }
        }
        #expect(TimeSpan.format(3630) == "1h 30s")
    }
}
