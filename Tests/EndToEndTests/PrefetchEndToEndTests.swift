import EntraHTTP
import Foundation
import EntraLock
import Testing

/// The client fetches the next delta page while it decodes the current one, from a link it
/// guesses from the page's bytes; the simulator models Graph's server time per page.
@Suite("next-page prefetch end to end")
struct PrefetchEndToEndTests {
    @Test("decoy links, a nested key after the page's own link or escaped text in a name, never derail a round")
    func decoyLinks() throws {
        let sim = try Simulator(users: 40, groups: 6, memberships: 90, pageSize: 7, memberSlice: 5)
        // Escaped inside a string, so no key: never guessed.
        let name = #"x","@odata.nextLink":"\#(sim.baseURL)/v1.0/users/delta?$skiptoken=escaped"#
        try sim.admin("POST", "/_sim/users", ["displayName": name, "userPrincipalName": "decoy@contoso.onmicrosoft.com",
                                              "accountEnabled": true])
        // Four pages end in `"@sim.decoy":{"@odata.nextLink":".../delta?$skiptoken=decoy"}`: the guess is
        // the decoy, which the simulator answers with Directory_ExpiredPageToken.
        try sim.addFault(["path": "$skiptoken=r", "action": "decoy", "count": 4])
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()

        let status = try daemon.status()["contoso"]!
        #expect((status["lastRun"] as? [String: Any])?["result"] as? String == "succeeded", "\(status)")
        let exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        let expected = try sim.expectedMirror()
        #expect(exported == expected, "\(exported.difference(from: expected))")
        #expect(exported.users.values.contains { $0.displayName == name })
        let paths = try sim.requests().compactMap { $0["path"] as? String }
        #expect(paths.filter { $0.hasSuffix("$skiptoken=decoy") }.count == 4, "\(paths)")
        #expect(!paths.contains { $0.contains("skiptoken=escaped") })
        // A decoy followed for real would have reset the round: each round started once.
        #expect(paths.filter { $0.hasPrefix("/v1.0/users/delta?$select=") }.count == 1, "\(paths)")
        #expect(paths.filter { $0.hasPrefix("/v1.0/groups/delta?$select=") }.count == 1, "\(paths)")
    }

    @Test("--page-latency holds each delta page while the simulator goes on serving other connections")
    func pageLatency() throws {
        let latency = 5.0
        let sim = try Simulator(users: 5, groups: 1, memberships: 2, extra: ["--page-latency", "\(Int(latency * 1000))"])
        let form = "client_id=11111111-2222-3333-4444-555555555555&client_secret=\(sim.clientSecret)&grant_type=client_credentials"
            + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        let tokenResponse = try sim.http.perform(HTTPRequest(method: "POST", url: "\(sim.baseURL)/\(sim.tenantId)/oauth2/v2.0/token",
                                                             headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")],
                                                             body: Array(form.utf8)))
        let token = (try JSONSerialization.jsonObject(with: Data(tokenResponse.body)) as! [String: Any])["access_token"] as! String

        let page = PageFetch()
        let url = "\(sim.baseURL)/v1.0/users/delta"
        let started = Date()
        Thread {
            let client = try? HTTPClient(options: HTTPClientOptions())
            let response = try? client?.perform(HTTPRequest(url: url,
                                                            headers: [(name: "Authorization", value: "Bearer \(token)")], timeout: 30))
            page.finish(status: response?.status ?? -1)
        }.start()
        try Harness.waitUntil("the delta request to be held") {
            (try sim.admin("GET", "/_sim/stats") as! [String: Any])["heldPages"] as? Int == 1
        }
        // While the page is held, another connection is answered.
        for _ in 1...5 { try sim.admin("GET", "/_sim/stats") }
        #expect(page.done == nil, "the admin requests waited for the held page")
        try Harness.waitUntil("the delta page", timeout: 30) { page.done != nil }
        #expect(page.done?.status == 200)
        #expect(page.done!.at.timeIntervalSince(started) >= latency)
    }
}

/// The outcome of a request made on another thread: its status and when it arrived.
final class PageFetch: Sendable {
    private let result = Locked<(status: Int, at: Date)?>(nil)

    var done: (status: Int, at: Date)? { result.withLock { $0 } }

    func finish(status: Int) { result.withLock { $0 = (status, Date()) } }
}
