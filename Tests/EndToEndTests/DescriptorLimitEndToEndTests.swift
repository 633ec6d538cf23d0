import Foundation
import Testing

private let prlimit = "/usr/bin/prlimit"

/// Descriptors of a process: their numbers, from /proc/PID/fd.
private func descriptors(_ pid: Int32) throws -> [Int] {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap(Int.init).sorted()
}

/// A trap leaves "Fatal error" (Swift) or a backtrace header in the log; a dispatch crash says "BUG IN".
private func expectNoTrap(_ daemon: DaemonHarness) {
    let log = daemon.log
    for sign in ["Fatal error", "BUG IN", "Backtracing", "Illegal instruction"] {
        #expect(!log.contains(sign), "the daemon trapped:\n\(log.suffix(3000))")
    }
}

/// Many profiles under a low open-file limit, and runs that meet the limit.
@Suite("descriptor limit end to end", .enabled(if: FileManager.default.isExecutableFile(atPath: prlimit), "needs util-linux prlimit"))
struct DescriptorLimitEndToEndTests {
    /// 300 profiles under `ulimit -n 256` (soft and hard). Before, each idle profile held four
    /// descriptors, and the daemon died with SIGILL: libdispatch's lazily made event loop, then
    /// (the residual one) Foundation's `ISO8601DateFormatter`, made for every stderr log line, whose
    /// time zone (`CFTimeZoneCreateWithName`, which reads /usr/share/zoneinfo) came back nil when the
    /// first runs had taken every descriptor, and which force-unwraps it.
    @Test("300 profiles under a 256 open-file limit: no failed run within a run limit of 16, bursts beyond it fail cleanly, no trap")
    func manyProfilesUnderLowLimit() throws {
        let profiles = 300
        let sim = try Simulator(users: 20, groups: 3, memberships: 30, pageSize: 100)
        let daemon = DaemonHarness()
        // notice: no line is logged until runs fail at the limit (the trap was in making the first line).
        // 16 runs at once (the default on 8 cores) need far fewer than 256 descriptors.
        daemon.extraArguments = ["--log-level", "notice", "--max-concurrent-runs", "16"]
        for i in 0..<profiles { try daemon.writeProfile(String(format: "p%03d", i), simulator: sim) }
        daemon.launcher = [prlimit, "--nofile=256:256", "--"]
        try daemon.start()
        let limits = try String(contentsOfFile: "/proc/\(daemon.pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" 256 ") })

        // The run limit keeps 300 first runs within 256 descriptors: none fails.
        var status = try daemon.status()
        #expect(status.count == profiles)
        let expected = try sim.expectedMirror()
        for (name, profile) in status {
            #expect((profile["lastRun"] as? [String: Any])?["result"] as? String == "succeeded", "\(name): \(profile)")
            #expect(profile["users"] as? Int == expected.users.count, "\(name): \(profile)")
        }
        #expect(try Mirror.fromExports(daemon.exportDirectory("p000")) == expected)
        // Idle: no connection, no journal segment per profile; a fixed few (stdio, epoll, eventfd,
        // timerfd, signalfds, control socket and its reserve, log).
        let idle = try descriptors(daemon.pid)
        #expect(idle.count <= 24, "idle descriptors: \(idle.count) for \(profiles) profiles")
        #expect(try daemon.stop() == 0)

        // No limit on runs: every profile at once meets the descriptor limit. The runs that do fail
        // with an error that says so, committed state stays, the daemon neither traps nor stops answering.
        daemon.extraArguments = ["--log-level", "notice", "--max-concurrent-runs", "\(profiles)"]
        try daemon.start()
        var failed: Set<String> = []
        for _ in 0..<3 where failed.isEmpty {
            _ = try daemon.ctl(["run-now", "--all", "--wait"])
            try daemon.waitForIdle()  // the control connection itself may have met the limit
            status = try daemon.status()
            for (name, profile) in status {
                let run = profile["lastRun"] as? [String: Any]
                if run?["result"] as? String == "succeeded" && profile["error"] == nil { continue }
                failed.insert(name)
                let error = profile["error"] as? String ?? run?["error"] as? String ?? "\(profile)"
                #expect(error.contains("Too many open files") && error.contains("LimitNOFILE="), "\(name): \(error)")
            }
        }
        #expect(!failed.isEmpty, "no run met the descriptor limit: the test tests nothing")
        for name in failed.sorted() { _ = try daemon.runNow(name) }
        status = try daemon.status()
        for (name, profile) in status {
            #expect((profile["lastRun"] as? [String: Any])?["result"] as? String == "succeeded", "\(name): \(profile)")
            #expect(profile["error"] == nil, "\(name): \(profile)")
        }
        #expect(try Mirror.fromExports(daemon.exportDirectory(String(format: "p%03d", profiles - 1))) == expected)
        expectNoTrap(daemon)
        #expect(try daemon.stop() == 0)
    }

    /// Lowers the running daemon's soft limit to what it holds plus `spare`, so the next run meets
    /// it at one step or another: the control socket's accept, libcurl's socket pair, the connection,
    /// the journal segment, an export's temp file, the metrics file.
    func limitToHeld(_ daemon: DaemonHarness, spare: Int) throws {
        let held = try descriptors(daemon.pid)
        let firstFree = (0...).first { !held.contains($0) }!
        let set = try Harness.run(prlimit, ["--pid", "\(daemon.pid)", "--nofile=\(firstFree + spare):"])
        guard set.status == 0 else { throw HarnessError("prlimit failed: \(set.stderr)") }
    }

    func restoreLimit(_ daemon: DaemonHarness) throws {
        let set = try Harness.run(prlimit, ["--pid", "\(daemon.pid)", "--nofile=4096:"])
        guard set.status == 0 else { throw HarnessError("prlimit failed: \(set.stderr)") }
    }

    @Test("a run that runs out of descriptors fails with a clear error, the committed state stays, status answers, the next run succeeds")
    func runOutOfDescriptors() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: "MaxAttempts=1")
        daemon.launcher = [prlimit, "--nofile=4096:4096", "--"]
        try daemon.start()
        var committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(committed == (try sim.expectedMirror()))
        var failures = 0
        for spare in 0...6 {
            try sim.admin("POST", "/_sim/churn", ["seed": spare + 1, "changes": 6])
            let next = try sim.expectedMirror()
            try limitToHeld(daemon, spare: spare)
            let run = try daemon.ctl(["run-now", "contoso", "--wait"])
            // Status answers at the limit (the control server's reserved descriptor).
            let status = try daemon.status()["contoso"]!
            let lastRun = status["lastRun"] as? [String: Any] ?? [:]
            let exports = try Mirror.fromExports(daemon.exportDirectory("contoso"))
            if run.status != 0 {
                failures += 1
                let error = lastRun["error"] as? String ?? ""
                #expect(error.contains("Too many open files"), "spare \(spare): \(status)")
                #expect(status["state"] as? String == "failed")
            }
            // Never a mix: the exports show the last committed run, or this one.
            #expect(exports == committed || exports == next, "spare \(spare): \(exports.difference(from: next))")
            try restoreLimit(daemon)
            _ = try daemon.runNow("contoso")
            committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))
            #expect(committed == next, "spare \(spare): \(committed.difference(from: next))")
        }
        #expect(failures > 0, "no limit made a run fail: the test tests nothing")
        expectNoTrap(daemon)

        // What was committed replays: a new daemon on the same state shows it.
        #expect(try daemon.stop() == 0)
        daemon.launcher = []
        try daemon.start()
        let replayed = try daemon.status()["contoso"]!
        #expect(replayed["users"] as? Int == committed.users.count)
        #expect(replayed["memberships"] as? Int == committed.membershipCount)
    }
}
