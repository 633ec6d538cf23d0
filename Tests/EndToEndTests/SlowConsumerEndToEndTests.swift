import Foundation
import Testing
import TestSupport

/// A push target that never answers delays no sync: scheduled runs, `run-now --wait`, `status` and
/// queries go on while the push waits on its own queue.
@Suite("slow consumer end to end")
struct SlowConsumerEndToEndTests {
    @Test("a SCIM target that takes 60 s per request delays neither scheduled runs, run-now --wait, status nor queries")
    func deadScimTarget() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 12)
        // Reads each request and never answers it (the connection is held for 30 s).
        let application = TinyServer { _ in nil }
        defer { application.stop() }
        let daemon = DaemonHarness()
        try daemon.write("scim.token", "scim-token")
        try daemon.writeProfile("contoso", simulator: sim, interval: "2s", extra: """

            [SCIM]
            Endpoint=\(application.baseURL)/scim/v2
            BearerTokenFile=\(daemon.configDirectory)/scim.token
            RequestTimeout=60s
            """)
        try daemon.start()
        try Harness.waitUntil("the push to reach the silent target", timeout: 20) { !application.received.isEmpty }
        let pushStarted = Date()

        // Scheduled runs go on every ~2 s while the push hangs.
        let before = (try daemon.status()["contoso"]?["lastRun"] as? [String: Any])?["runId"] as? String
        try Harness.waitUntil("a scheduled run after the push began", timeout: 15) {
            let last = try daemon.status()["contoso"]?["lastRun"] as? [String: Any]
            return last?["runId"] as? String != before && last?["result"] as? String == "succeeded"
        }
        // status and queries answer at once.
        for command in [["status", "--json"], ["users", "contoso", "--json"], ["groups", "contoso"]] {
            let started = Date()
            let output = try daemon.ctl(command)
            #expect(output.status == 0, "\(command): \(output.stderr)")
            #expect(Date().timeIntervalSince(started) < 3, "\(command) took \(Date().timeIntervalSince(started)) s")
        }
        // run-now --wait is answered with its own run, not after the push.
        try sim.admin("POST", "/_sim/churn", ["seed": 9, "changes": 3])
        let started = Date()
        try daemon.runNow("contoso")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        // Still inside the first request's 60 s deadline: the target was never answered.
        #expect(Date().timeIntervalSince(pushStarted) < 50)
        let scim = try daemon.ctl(["scim", "contoso", "--json"])
        #expect(scim.stdout.contains("pushing"), "\(scim.stdout)")
        // Stopping cancels the hung push instead of waiting 60 s for it.
        let stopStarted = Date()
        try daemon.stop()
        #expect(Date().timeIntervalSince(stopStarted) < 10)
    }
}
