import Foundation
import Testing

/// A recognisable client secret must never leave the secret file: not in logs, status, history,
/// exports, the journal, metrics, hook input or entra-syncctl output.
@Suite("secrets end to end")
struct SecretsEndToEndTests {
    static let secret = "Zq8~SECRET.canary_With+Plus/Slash=Eq-4242"
    static let wrongSecret = "Wr0ng~CANARY.secret_Value+7777/x="

    /// The secret as it could appear: raw, form-encoded, in a Basic header, JSON-escaped.
    static func forms(_ secret: String) -> [String] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return [secret, secret.addingPercentEncoding(withAllowedCharacters: allowed)!,
                Data(secret.utf8).base64EncodedString(),
                Data("11111111-2222-3333-4444-555555555555:\(secret)".utf8).base64EncodedString(),
                secret.replacingOccurrences(of: "/", with: "\\/"),
                String(secret.prefix(12))]
    }

    /// A profile for the simulator's tenant with the given credential lines; one attempt per request.
    static func profile(_ sim: Simulator, credential: String) -> String {
        """
        [Tenant]
        TenantId=\(sim.tenantId)
        ClientId=11111111-2222-3333-4444-555555555555
        \(credential)
        LoginEndpoint=\(sim.baseURL)
        GraphEndpoint=\(sim.baseURL)
        [Sync]
        Interval=1h
        RandomizedDelay=0
        MaxAttempts=1
        """
    }

    /// Every file under `directory`, as bytes.
    static func files(under directory: String) -> [(String, Data)] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var result: [(String, Data)] = []
        while let name = enumerator.nextObject() as? String {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
               let data = FileManager.default.contents(atPath: path) {
                result.append((path, data))
            }
        }
        return result
    }

    @Test("sync, a wrong secret, a typo in the secret key, check, status, history, queries, exports, hooks: no secret anywhere")
    func secretNeverLeaks() throws {
        let sim = try Simulator(users: 12, groups: 3, memberships: 15, clientSecret: Self.secret)
        let daemon = DaemonHarness()
        let hookOutput = daemon.directory + "/hook.out"
        let hook = daemon.directory + "/hook.sh"
        try "#!/bin/sh\n{ env; cat; } >> \(hookOutput)\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nOnChange=\(hook)\nExport=json,csv")
        // The same tenant with a wrong secret, inline (a warned-about but valid configuration).
        try daemon.write("wrong.conf", Self.profile(sim, credential: "ClientSecret=\(Self.wrongSecret)"))
        // A typo in the key: the error must name the key, not echo its value.
        try daemon.write("typo.conf", """
            [Tenant]
            TenantId=\(sim.tenantId)
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecrets=\(Self.secret)
            """)
        try daemon.start()
        try sim.admin("POST", "/_sim/churn", ["seed": 4, "changes": 6])
        try daemon.runNow("contoso")
        _ = try daemon.ctl(["run-now", "wrong", "--wait"])
        // A token that expires mid-run is fetched again with the secret.
        try sim.admin("POST", "/_sim/revoke-tokens")
        try sim.admin("POST", "/_sim/churn", ["seed": 5, "changes": 3])
        try daemon.runNow("contoso", full: true)

        let status = try daemon.status()
        #expect(status["wrong"]?["state"] as? String == "failed")
        let typoError = status["typo"]?["error"] as? String ?? ""
        #expect(typoError.contains("ClientSecrets"), "\(typoError)")
        let user = try sim.expectedMirror().users.keys.sorted().first!
        var outputs: [(String, Harness.Output)] = []
        for arguments in [["status"], ["status", "--json"], ["history", "contoso"], ["history", "wrong", "--json"],
                          ["history", "contoso", "--json"], ["users", "contoso", "--json"], ["groups", "contoso", "--csv"],
                          ["show", "contoso", user], ["run-now", "wrong", "--wait"], ["run-now", "typo", "--wait"]] {
            outputs.append((arguments.joined(separator: " "), try daemon.ctl(arguments)))
        }
        for profile in ["contoso", "wrong", "typo"] {
            outputs.append(("check \(profile)", try Harness.run(Harness.binary("entra-syncctl"),
                                                                ["check", profile, "--config-dir", daemon.configDirectory, "--preview"])))
        }
        #expect(outputs.last { $0.0 == "check wrong" }?.1.stdout.contains("AADSTS7000215") == true)
        try daemon.stop(SIGTERM)

        var haystacks: [(String, Data)] = [("daemon log", Data(daemon.log.utf8))]
        haystacks += outputs.map { ("entra-syncctl \($0.0)", Data(($0.1.stdout + $0.1.stderr).utf8)) }
        haystacks += Self.files(under: daemon.stateDirectory)
        haystacks += Self.files(under: daemon.directory).filter { $0.0.hasSuffix("hook.out") }
        #expect(haystacks.contains { $0.0.contains("/journal/") && $0.0.hasSuffix(".seg") })
        #expect(haystacks.contains { $0.0.hasSuffix("users.csv") })
        #expect(haystacks.contains { $0.0.hasSuffix("hook.out") && $0.1.count > 100 })
        for (name, bytes) in haystacks {
            for form in Self.forms(Self.secret) + Self.forms(Self.wrongSecret) {
                #expect(bytes.range(of: Data(form.utf8)) == nil, "\(name) contains the secret (as '\(form)')")
            }
        }
    }

    @Test("a certificate credential's private key, valid or damaged, appears in no log, output or state file",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs openssl to make a key pair"))
    func privateKeyNeverLeaks() throws {
        let daemon = DaemonHarness()
        let pair = try CertificateEndToEndTests().makeKeyPair(in: daemon.directory, name: "app")
        let sim = try Simulator(users: 5, groups: 1, memberships: 3, extra: ["--client-cert", pair.certificate, "--client-public-key", pair.publicKey])
        let keyText = try String(contentsOfFile: pair.privateKey, encoding: .utf8)
        let keyLines = keyText.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init)
        // A damaged copy: the parser fails on it; its error must not quote it.
        let damaged = daemon.directory + "/damaged.key"
        try (keyLines.prefix(keyLines.count / 2).joined(separator: "\n") + "\n-----END PRIVATE KEY-----\n")
            .write(toFile: damaged, atomically: true, encoding: .utf8)
        for (name, key) in [("contoso", pair.privateKey), ("broken", damaged)] {
            try daemon.write("\(name).conf", Self.profile(sim, credential: "CertificateFile=\(pair.certificate)\nPrivateKeyFile=\(key)"))
        }
        try daemon.start()
        let status = try daemon.status()
        #expect(status["contoso"]?["users"] as? Int == 5)
        let broken = status["broken"] ?? [:]
        let brokenError = (broken["error"] as? String) ?? ((broken["lastRun"] as? [String: Any])?["error"] as? String) ?? ""
        #expect(["failed", "config-error"].contains(broken["state"] as? String ?? ""), "\(broken)")
        #expect(brokenError.contains("key"), "the damaged key is not what failed: \(brokenError)")
        print("damaged key: \(brokenError)")
        var outputs = [try daemon.ctl(["status"]), try daemon.ctl(["status", "--json"]), try daemon.ctl(["history", "broken"])]
        for profile in ["contoso", "broken"] {
            outputs.append(try Harness.run(Harness.binary("entra-syncctl"), ["check", profile, "--config-dir", daemon.configDirectory]))
        }
        try daemon.stop(SIGTERM)
        var haystacks: [(String, Data)] = [("daemon log", Data(daemon.log.utf8))]
        haystacks += outputs.map { ("entra-syncctl", Data(($0.stdout + $0.stderr).utf8)) }
        haystacks += Self.files(under: daemon.stateDirectory)
        for (name, bytes) in haystacks {
            #expect(bytes.range(of: Data("PRIVATE KEY".utf8)) == nil, "\(name) mentions a PEM private key")
            for line in keyLines where line.count >= 40 {
                #expect(bytes.range(of: Data(line.prefix(40).utf8)) == nil, "\(name) contains private key material")
            }
        }
    }
}
