import Foundation
import Testing

/// The daemon-wide limit on runs (`--max-concurrent-runs`), seen from the Graph side: the
/// simulator counts the requests it answers at once.
@Suite("concurrent runs end to end")
struct ConcurrencyEndToEndTests {
    @Test("80 profiles, at most 4 runs at once: first runs and run-now --all queue behind the limit, status shows queued, every profile synced")
    func limitHolds() throws {
        let profiles = 80, limit = 4
        // Each delta request is held 100 ms: a run (two of them) lasts longer than the 4 × 30 ms in which
        // four more first runs fall due (the start spread), so runs queue even on an idle machine.
        let sim = try Simulator(users: 20, groups: 3, memberships: 30, pageSize: 100, extra: ["--page-latency", "100"])
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--log-level", "notice", "--max-concurrent-runs", "\(limit)"]
        for i in 0..<profiles { try daemon.writeProfile(String(format: "p%03d", i), simulator: sim) }
        try daemon.launch()
        var sawQueued = false
        var states: [String: Int] = [:]
        try Harness.waitUntil("every first run", timeout: 90, every: 0.2) {
            guard let status = try? daemon.status() else { return false }
            states = [:]
            for profile in status.values { states[profile["state"] as? String ?? "?", default: 0] += 1 }
            #expect(states["syncing", default: 0] <= limit, "\(states)")
            if states["queued", default: 0] > 0 { sawQueued = true }
            return status.count == profiles && status.values.allSatisfy { $0["lastRun"] != nil && $0["state"] as? String == "idle" }
        }
        var stats = try sim.admin("GET", "/_sim/stats") as! [String: Int]
        #expect(stats["maxInFlight", default: 0] <= limit, "\(stats)")
        #expect(stats["maxInFlight", default: 0] >= 2, "runs never overlapped: the test tests nothing (\(stats))")

        // Every profile at once: they queue, and --wait answers when all of them ran.
        let all = try daemon.ctl(["run-now", "--all", "--wait"])
        #expect(all.status == 0, "\(all.stdout)\(all.stderr)")
        let status = try daemon.status()
        #expect(status.count == profiles)
        let expected = try sim.expectedMirror()
        for (name, profile) in status {
            let run = profile["lastRun"] as? [String: Any]
            #expect(run?["result"] as? String == "succeeded", "\(name): \(profile)")
            #expect(profile["users"] as? Int == expected.users.count, "\(name): \(profile)")
        }
        #expect(all.stdout.components(separatedBy: "succeeded").count - 1 == profiles, "\(all.stdout.prefix(2000))")
        stats = try sim.admin("GET", "/_sim/stats") as! [String: Int]
        #expect(stats["maxInFlight", default: 0] <= limit, "\(stats)")
        #expect(sawQueued || states.isEmpty, "no run ever waited for a slot: \(states)")
        #expect(try daemon.stop() == 0)
    }

    @Test("stopping 1,000 profiles while most runs are queued: SIGTERM ends the daemon in seconds, not at the 20 s deadline")
    func stopWithQueuedRuns() throws {
        let profiles = 1000
        // Every delta page is held 2 s: the two running runs hold their slots, the rest queue.
        let sim = try Simulator(users: 5, groups: 1, memberships: 5, pageSize: 100, extra: ["--page-latency", "2000"])
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--log-level", "notice", "--max-concurrent-runs", "2"]
        for i in 0..<profiles { try daemon.writeProfile(String(format: "p%04d", i), simulator: sim) }
        try daemon.launch()
        // First runs spread over 30 s; wait until a few hundred are due and queued.
        var queued = 0
        try Harness.waitUntil("hundreds of queued runs", timeout: 90, every: 0.5) {
            guard let status = try? daemon.status() else { return false }
            queued = status.values.filter { $0["state"] as? String == "queued" }.count
            return queued >= 300
        }
        let started = Date()
        #expect(try daemon.stop() == 0)
        let took = Date().timeIntervalSince(started)
        #expect(took < 5, "SIGTERM with \(queued) queued runs took \(took) s")
    }
}
