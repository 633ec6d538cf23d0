import Foundation
import Testing
import TestSupport

/// The daemon sends the Graph token only to the profile's Graph endpoint, its client secret only to
/// the token endpoint, and a push target only its own credential. A listener on a second loopback
/// address (127.0.0.2) stands for the host a tampered response points at; it must receive nothing.
@Suite("token scope end to end")
struct TokenScopeEndToEndTests {
    /// Answers like a Graph delta page, so a client that followed a link there would carry on.
    static func thief() -> TinyServer {
        TinyServer(host: "127.0.0.2") { _ in
            TinyServer.response(Array(#"{"value":[],"@odata.deltaLink":"http://127.0.0.2/d"}"#.utf8), headers: ["Content-Type: application/json"])
        }
    }

    @Test("a foreign @odata.nextLink or @odata.deltaLink, a redirect from Graph or from the token endpoint: the run fails and names both origins")
    func foreignLinksFailTheRun() throws {
        let sim = try Simulator(users: 12, groups: 3, memberships: 20, pageSize: 5)
        let thief = Self.thief()
        defer { thief.stop() }
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(committed == (try sim.expectedMirror()))

        let stolen = "\(thief.baseURL)/v1.0/users/delta?$skiptoken=stolen"
        let cases: [(String, [String: Any], revokeToken: Bool)] = [
            ("nextLink", ["path": "/v1.0/users/delta", "status": 200, "body": #"{"value":[],"@odata.nextLink":"\#(stolen)"}"#], false),
            ("deltaLink", ["path": "/v1.0/users/delta", "status": 200, "body": #"{"value":[],"@odata.deltaLink":"\#(stolen)"}"#], false),
            ("Graph redirect", ["path": "/v1.0/users/delta", "status": 302, "headers": ["Location": stolen]], false),
            // A revoked token makes the daemon ask the token endpoint again, which redirects.
            ("token redirect", ["path": "/oauth2/v2.0/token", "status": 302, "headers": ["Location": "\(thief.baseURL)/token"]], true),
        ]
        for (name, fault, revokeToken) in cases {
            try sim.addFault(fault)
            if revokeToken { try sim.admin("POST", "/_sim/revoke-tokens") }
            try sim.admin("POST", "/_sim/churn", ["seed": name.count, "changes": 3])
            let output = try daemon.ctl(["run-now", "contoso", "--wait", "--full"])
            #expect(output.status != 0, "\(name): \(output.stdout)")
            let lastRun = try daemon.status()["contoso"]?["lastRun"] as? [String: Any] ?? [:]
            let error = lastRun["error"] as? String ?? ""
            #expect(lastRun["result"] as? String == "failed", "\(name): \(lastRun)")
            #expect(error.contains(thief.baseURL), "\(name): the error names the foreign origin: \(error)")
            if !revokeToken { #expect(error.contains(sim.baseURL), "\(name): the error names the Graph endpoint: \(error)") }
            #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == committed, "\(name): a refused run changed the exports")
            #expect(thief.connections == 0, "\(name): \(thief.received)")
            try sim.admin("DELETE", "/_sim/faults")
        }
        // Nothing was lost: a clean run takes all the changes.
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        #expect(!daemon.log.contains(sim.clientSecret))
    }

    @Test("a delta link stored in the journal for another Graph endpoint is refused after a restart; --full starts again")
    func storedLinkOfAnotherEndpoint() throws {
        let sim = try Simulator(users: 8, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.stop()
        // The same server under another origin (localhost is not 127.0.0.1): the stored links point elsewhere.
        let moved = "http://localhost:\(sim.port)"
        let text = try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
        try daemon.write("contoso.conf", text.replacingOccurrences(of: "GraphEndpoint=\(sim.baseURL)", with: "GraphEndpoint=\(moved)"))
        try daemon.start()
        try sim.admin("DELETE", "/_sim/requests")
        let output = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(output.status != 0)
        let error = (try daemon.status()["contoso"]?["lastRun"] as? [String: Any])?["error"] as? String ?? ""
        #expect(error.contains(sim.baseURL) && error.contains(moved), "\(error)")
        #expect(daemon.log.contains("run-now contoso --full"), "the hint names the way out")
        let graphRequests = try sim.requests().filter { ($0["path"] as? String ?? "").hasPrefix("/v1.0/") }
        #expect(graphRequests.isEmpty, "\(graphRequests)")
        try daemon.runNow("contoso", full: true)
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }

    @Test("a SCIM target gets its own bearer token, never the Graph token")
    func scimGetsItsOwnCredential() throws {
        let sim = try Simulator(users: 6, groups: 2, memberships: 6)
        let application = TinyServer { _ in
            TinyServer.response(Array(#"{"detail":"down for maintenance"}"#.utf8), headers: ["Content-Type: application/scim+json"])
                .replacing(Array("200 OK".utf8), with: Array("503 Service Unavailable".utf8), maxReplacements: 1)
        }
        defer { application.stop() }
        let daemon = DaemonHarness()
        let scimToken = "scim-only-token-\(UInt32.random(in: 0...UInt32.max))"
        try daemon.write("scim.token", scimToken)
        try daemon.writeProfile("contoso", simulator: sim, extra: """

            [SCIM]
            Endpoint=\(application.baseURL)/scim/v2
            BearerTokenFile=\(daemon.configDirectory)/scim.token
            RequestTimeout=5s
            """)
        try daemon.start()
        try Harness.waitUntil("the SCIM application to be asked something", timeout: 30) { !application.received.isEmpty }
        let authorizations = application.received.map { request in
            request.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("authorization:") }
                .map { $0.dropFirst("authorization:".count).trimmingCharacters(in: .whitespaces) }
        }
        #expect(authorizations.allSatisfy { $0 == ["Bearer \(scimToken)"] }, "\(authorizations)")
        // The Graph side did use a token of its own.
        #expect(try sim.requests().contains { $0["authorization"] as? Bool == true })
    }
}
