import Foundation
import Testing

/// Graph's per-app limit across tenants, seen from the simulator: many profiles of one app
/// (`ClientId`), each its own tenant, against a small per-app bucket.
@Suite("one app's budget end to end")
struct AppBudgetEndToEndTests {
    @Test("32 tenants of one app under an 8 RU/s per-app bucket: the app's profiles slow down together, few 429s, every first sync succeeds")
    func appBudgetShared() throws {
        let profiles = 32
        let tenants = (0..<profiles).map { String(format: "00000000-0000-4000-8000-0000000010%02d", $0) }
        // The per-app bucket: 8 RU refilled per second, across every tenant. Each first sync needs
        // about 3 RU (the delta chain: a page each of users and groups), so together they need
        // about 12 s of the app's budget; 16 runs at once ask for far more.
        let sim = try Simulator(users: 20, groups: 3, memberships: 30, pageSize: 100, extra: [
            "--extra-tenants", tenants.joined(separator: ","), "--app-resource-units", "8", "--app-resource-units-window", "1",
        ])
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--log-level", "notice", "--max-concurrent-runs", "16"]
        let secret = daemon.configDirectory + "/app.secret"
        try sim.clientSecret.write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        for (i, tenant) in tenants.enumerated() {
            try daemon.write(String(format: "t%02d.conf", i), """
                [Tenant]
                TenantId=\(tenant)
                ClientId=11111111-2222-3333-4444-555555555555
                ClientSecretFile=\(secret)
                LoginEndpoint=\(sim.baseURL)
                GraphEndpoint=\(sim.baseURL)

                [Sync]
                Interval=1h
                RandomizedDelay=0
                RequestTimeout=10s
                Parallel=off
                """)
        }
        try daemon.launch()
        try Harness.waitUntil("every first run", timeout: 120, every: 0.25) {
            guard let status = try? daemon.status(), status.count == profiles else { return false }
            return status.values.allSatisfy { $0["lastRun"] != nil && $0["state"] as? String != "syncing" && $0["state"] as? String != "queued" }
        }
        let status = try daemon.status()
        let expected = try sim.expectedMirror()
        for (name, profile) in status {
            let run = profile["lastRun"] as? [String: Any]
            #expect(run?["result"] as? String == "succeeded", "\(name): \(profile)")
            #expect(profile["users"] as? Int == expected.users.count, "\(name): \(profile)")
        }
        let stats = try sim.admin("GET", "/_sim/stats") as! [String: Int]
        // The limit was reached, from several tenants: otherwise this tests nothing.
        #expect(stats["appThrottledTenants", default: 0] >= 2, "\(stats)")
        #expect(daemon.log.contains("Graph's per-app limit"), "\(daemon.log.suffix(3000))")
        // Paced together, the app's profiles meet the bucket's 429 in a round or two (4-5 measured),
        // not once a second per waiting run: without the shared budget, 82-88 429s here and runs
        // that failed after MaxAttempts=.
        #expect(stats["appThrottledRequests", default: 0] <= 25, "\(stats)")
        #expect(try daemon.stop() == 0)
    }
}
