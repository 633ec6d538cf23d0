import Foundation
import Testing
import TestSupport

/// `entra-syncctl check`: every failure an admin meets when setting up a profile, without the daemon.
@Suite("check end to end")
struct CheckEndToEndTests {
    func check(_ daemon: DaemonHarness, _ extra: [String] = []) throws -> Harness.Output {
        try Harness.run(Harness.binary("entra-syncctl"), ["check", "contoso", "--config-dir", daemon.configDirectory] + extra)
    }

    @Test func healthyProfilePassesAndPreviewCommitsNothing() throws {
        let sim = try Simulator(users: 9, groups: 2, memberships: 5)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        let output = try check(daemon, ["--preview"])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        for step in ["config", "tenant", "token", "users", "groups", "clock", "preview"] {
            #expect(output.stdout.contains("\(step.padding(toLength: 8, withPad: " ", startingAt: 0)) OK"), "\(step): \(output.stdout)")
        }
        #expect(output.stdout.contains("would import 9 users, 2 groups"))
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDirectory))
    }

    @Test("check tests each LDAP target: connect, bind, base DN, write; a wrong bind password fails with its fix")
    func ldapTarget() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let sim = try Simulator(users: 3, groups: 1, memberships: 1)
        let daemon = DaemonHarness()
        let password = daemon.configDirectory + "/ldap.pw"
        try daemon.writeProfile("contoso", simulator: sim, extra: """

            [LDAP:corp]
            URI=\(slapd.uri)
            BindDN=\(Slapd.rootDN)
            BindPasswordFile=\(password)
            BaseDN=\(Slapd.suffix)
            """)
        try Slapd.rootPassword.write(toFile: password, atomically: true, encoding: .utf8)
        chmod(password, 0o600)
        let good = try check(daemon)
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        for step in ["connect", "bind", "base", "write"] { #expect(good.stdout.contains("ldap     OK     \(step): [LDAP:corp]"), "\(step): \(good.stdout)") }
        try "wrong-password".write(toFile: password, atomically: true, encoding: .utf8)
        let bad = try check(daemon)
        #expect(bad.status == 1)
        #expect(bad.stdout.contains("ldap     FAILED bind: [LDAP:corp]"), "\(bad.stdout)")
        #expect(bad.stdout.contains("fix: the directory refused \(Slapd.rootDN) with the password in \(password)"), "\(bad.stdout)")
        #expect(!bad.stdout.contains("wrong-password") && !bad.stderr.contains("wrong-password"))
    }

    @Test("each failure names the step and its fix", arguments: [
        "wrong-secret", "expired-secret", "unknown-tenant", "unknown-app", "no-consent", "tls", "clock", "bad-config", "proxy",
    ])
    func failures(mode: String) throws {
        let sim = try Simulator(users: 3, groups: 1, memberships: 1)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        var profile = try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
        var expected: [String]
        switch mode {
        case "wrong-secret":
            try "not-the-secret".write(toFile: daemon.configDirectory + "/contoso.secret", atomically: true, encoding: .utf8)
            expected = ["token    FAILED", "AADSTS7000215", "secret ID, not its value"]
        case "expired-secret":
            try sim.admin("POST", "/_sim/settings", ["secretExpired": true])
            expected = ["token    FAILED", "AADSTS7000222", "expired"]
        case "unknown-tenant":
            profile = profile.replacingOccurrences(of: "TenantId=\(sim.tenantId)", with: "TenantId=fabrikam.onmicrosoft.com")
            expected = ["tenant   FAILED", "AADSTS90002", "Check TenantId"]
        case "unknown-app":
            profile = profile.replacingOccurrences(of: "ClientId=11111111-2222-3333-4444-555555555555", with: "ClientId=99999999-2222-3333-4444-555555555555")
            expected = ["token    FAILED", "AADSTS700016", "Check ClientId"]
        case "no-consent":
            try sim.admin("POST", "/_sim/settings", ["consent": false])
            expected = ["users    FAILED", "User.Read.All", "consent can take minutes"]
        case "tls":
            profile = profile.replacingOccurrences(of: "LoginEndpoint=http://", with: "LoginEndpoint=https://")
            expected = ["tenant   FAILED", "TLS"]
        case "proxy":
            profile = profile.replacingOccurrences(of: "[Sync]", with: "Proxy=http://127.0.0.1:1\n[Sync]")  // nothing listens there
            expected = ["tenant   FAILED", "proxy"]
        case "clock":
            try sim.admin("POST", "/_sim/settings", ["clockSkew": 3600])
            expected = ["clock    FAILED", "Synchronize the clock"]
        default:
            profile += "\nBogus=1\n"
            expected = ["config   FAILED", "contoso.conf:", "Bogus"]
        }
        try daemon.write("contoso.conf", profile)
        let output = try check(daemon)
        #expect(output.status != 0, "\(mode): \(output.stdout)")
        for text in expected { #expect(output.stdout.contains(text), "\(mode) lacks '\(text)':\n\(output.stdout)") }
        #expect(!output.stdout.contains("sim-secret"))
    }
}

@Suite("proxy end to end")
struct ProxyEndToEndTests {
    @Test("Proxy= sends every request through the proxy")
    func throughProxy() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 2)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        // Endpoints nobody listens on, reachable only through the proxy (the simulator answers absolute-form requests).
        var text = try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
        text = text.replacingOccurrences(of: sim.baseURL, with: "http://127.0.0.9:9")
            .replacingOccurrences(of: "[Sync]", with: "Proxy=\(sim.baseURL)\n[Sync]")
        try daemon.write("contoso.conf", text)
        try daemon.start()
        #expect(try daemon.status()["contoso"]?["users"] as? Int == 5, "\(daemon.log.suffix(1500))")
        #expect(((try sim.admin("GET", "/_sim/stats") as! [String: Any])["proxiedRequests"] as? Int ?? 0) >= 3)
    }
}
