import Foundation
import Testing

/// Runs against a simulator that injects seeded random faults into requests.
@Suite("network faults end to end")
struct FaultEndToEndTests {
    static let kinds = ["delay", "reset", "truncate", "invalidJSON", "wrongContentType", "errorBody200", "serverErrorBurst",
                        "throttleRetryAfter", "throttleNoRetryAfter", "stall", "expiredToken", "expiredPageToken"]

    @Test("under chaos each run completes with the tenant or fails cleanly, and a clean run recovers; nothing hangs")
    func chaos() throws {
        let sim = try Simulator(users: 24, groups: 4, memberships: 40, pageSize: 4, memberSlice: 4)
        let daemon = DaemonHarness()
        // Short deadlines so a stalled response (3s) must be cut by the client's timeout (1s).
        try daemon.writeProfile("contoso", simulator: sim, extra: "MaxAttempts=3")
        try daemon.write("contoso.conf", try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
            .replacingOccurrences(of: "RequestTimeout=10s", with: "RequestTimeout=1s"))
        try daemon.start()
        var committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(committed == (try sim.expectedMirror()))

        var outcomes: [String: Int] = [:]
        var injected: [String: Int] = [:]
        let started = Date()
        var run = 0
        // Until every kind of fault has been injected (bounded).
        while run < 40 && (run < 10 || Self.kinds.contains { injected[$0, default: 0] == 0 }) {
            run += 1
            try sim.admin("POST", "/_sim/churn", ["seed": 100 + run, "changes": 4])
            let tenant = try sim.expectedMirror()
            try sim.admin("POST", "/_sim/chaos", ["seed": run, "rate": 0.25, "stallMs": 3000])
            let runStarted = Date()
            // Every third run is a full one: many pages, so faults land mid-chain too.
            let output = try Harness.run(Harness.binary("entra-syncctl"), ["run-now", "contoso", "--wait"] + (run % 3 == 0 ? ["--full"] : []),
                                         environment: ["ENTRA_SYNC_SOCKET": daemon.socket], timeout: 60)
            let elapsed = Date().timeIntervalSince(runStarted)
            let report = try sim.admin("DELETE", "/_sim/chaos") as! [String: Any]
            injected = report["injected"] as? [String: Int] ?? [:]
            // Bounded: attempts × (deadline + backoff) per request, never a hang.
            #expect(elapsed < 45, "run \(run) took \(elapsed)s")

            let status = try daemon.status()["contoso"]!
            let lastRun = status["lastRun"] as? [String: Any] ?? [:]
            let exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
            if output.status == 0 {
                outcomes["succeeded", default: 0] += 1
                #expect(lastRun["result"] as? String == "succeeded")
                #expect(exported == tenant, "run \(run) succeeded with a wrong mirror:\n\(exported.difference(from: tenant))")
                committed = exported
            } else {
                let error = lastRun["error"] as? String ?? ""
                outcomes["failed: " + (error.split(separator: ":").first.map(String.init) ?? "?"), default: 0] += 1
                #expect(status["state"] as? String == "failed", "run \(run): \(status)")
                #expect(!error.isEmpty)
                #expect(exported == committed, "a failed run changed the exports")
                // A clean run recovers.
                try daemon.runNow("contoso")
                let recovered = try Mirror.fromExports(daemon.exportDirectory("contoso"))
                #expect(recovered == tenant, "run \(run): the clean run did not recover:\n\(recovered.difference(from: tenant))")
                committed = recovered
            }
        }
        let summary = outcomes.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }.joined(separator: "\n")
        print("chaos: \(run) runs in \(Int(Date().timeIntervalSince(started)))s; injected \(injected.sorted { $0.key < $1.key })\n\(summary)")
        for kind in Self.kinds { #expect(injected[kind, default: 0] > 0, "never injected \(kind)") }
        #expect(outcomes["succeeded", default: 0] > 0)
        #expect(outcomes.keys.contains { $0.hasPrefix("failed") })
        #expect(daemon.log.contains("timed out") || daemon.log.contains("Timeout"), "no request ran into its deadline")
    }
}
