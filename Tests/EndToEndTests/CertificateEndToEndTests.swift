import Foundation
import Testing

/// Certificate credentials: a client assertion the simulator verifies cryptographically.
@Suite("certificate credentials end to end")
struct CertificateEndToEndTests {
    struct KeyPair {
        var certificate: String
        var privateKey: String
        var publicKey: String
    }

    func makeKeyPair(in dir: String, name: String, days: Int = 365) throws -> KeyPair {
        let pair = KeyPair(certificate: "\(dir)/\(name).crt", privateKey: "\(dir)/\(name).key", publicKey: "\(dir)/\(name).pub")
        let req = try Harness.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pair.privateKey,
                                                       "-out", pair.certificate, "-days", "\(days)", "-subj", "/CN=entra-sync-test"])
        guard req.status == 0 else { throw HarnessError("openssl req failed: \(req.stderr)") }
        let pub = try Harness.run("/usr/bin/openssl", ["rsa", "-in", pair.privateKey, "-pubout", "-out", pair.publicKey])
        guard pub.status == 0 else { throw HarnessError("openssl rsa failed: \(pub.stderr)") }
        chmod(pair.privateKey, 0o600)
        return pair
    }

    func profile(_ daemon: DaemonHarness, _ sim: Simulator, _ pair: KeyPair, algorithm: String) throws {
        try daemon.writeProfile("contoso", simulator: sim)
        var text = try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
        text = text.replacingOccurrences(of: "ClientSecretFile=\(daemon.configDirectory)/contoso.secret",
                                         with: "CertificateFile=\(pair.certificate)\nPrivateKeyFile=\(pair.privateKey)\nCertificateAlgorithm=\(algorithm)")
        try daemon.write("contoso.conf", text)
    }

    @Test("PS256 and RS256 assertions are accepted; the status shows the certificate's expiry", arguments: ["PS256", "RS256"])
    func accepted(algorithm: String) throws {
        let daemon = DaemonHarness()
        let pair = try makeKeyPair(in: daemon.directory, name: "app", days: 10)
        let sim = try Simulator(users: 4, groups: 1, memberships: 2, extra: ["--client-cert", pair.certificate, "--client-public-key", pair.publicKey])
        try profile(daemon, sim, pair, algorithm: algorithm)
        try daemon.start()
        let status = try daemon.status()["contoso"]!
        #expect((status["lastRun"] as? [String: Any])?["result"] as? String == "succeeded", "\(daemon.log.suffix(2000))")
        #expect(status["users"] as? Int == 4)
        #expect((try sim.admin("GET", "/_sim/stats") as! [String: Any])["assertionsAccepted"] as? Int == 1)
        #expect(status["credentialExpires"] is String)
        #expect(((status["warnings"] as? [String]) ?? []).first?.contains("expires on") == true)
        #expect(try daemon.ctl(["status"]).stdout.contains("warning:"))
    }

    @Test("a key that does not match the registered certificate fails with AADSTS700027 and its fix")
    func wrongKey() throws {
        let daemon = DaemonHarness()
        let registered = try makeKeyPair(in: daemon.directory, name: "registered")
        let other = try makeKeyPair(in: daemon.directory, name: "other")
        let sim = try Simulator(users: 2, groups: 1, memberships: 1, extra: ["--client-cert", registered.certificate, "--client-public-key", registered.publicKey])
        // The registered certificate, but another key: the thumbprint matches, the signature does not.
        try profile(daemon, sim, KeyPair(certificate: registered.certificate, privateKey: other.privateKey, publicKey: ""), algorithm: "PS256")
        let check = try Harness.run(Harness.binary("entra-syncctl"), ["check", "contoso", "--config-dir", daemon.configDirectory])
        #expect(check.status != 0)
        #expect(check.stdout.contains("AADSTS700027"))
        #expect(check.stdout.contains("upload this certificate"))
        #expect(!check.stdout.contains("PRIVATE KEY"))
    }
}
