import EntraControl
import Foundation
import Testing
import TestSupport

/// Whether the binaries honour `ENTRA_SYNC_CRASH_AT` (compiled into debug builds only).
var crashPointsCompiledIn: Bool {
    #if DEBUG
    true
    #else
    false
    #endif
}

/// SIGKILL the daemon again and again while a changing tenant is synced; after every restart the
/// mirror must be exactly one committed state of the tenant.
@Suite("crash torture end to end")
struct TortureEndToEndTests {
    /// Where a kill can be aimed. Crash points make the daemon kill itself exactly there.
    enum Target: CaseIterable {
        case request, plan, journalAppend, journalFsync, compactionWrite, compactionRename, export, exportLink, exportSwap, random, startup

        var crashPoint: String? {
            switch self {
            case .plan: "plan"
            case .journalAppend: "journal.append"
            case .journalFsync: "journal.fsync"
            case .compactionWrite: "compaction.write"
            case .compactionRename: "compaction.rename"
            case .export: "export"
            case .exportLink: "export.link"
            case .exportSwap: "export.swap"
            case .request, .random, .startup: nil
            }
        }
    }

    /// The mirror as `entra-syncctl users/groups --json` shows it.
    func queriedMirror(_ daemon: DaemonHarness) throws -> Mirror {
        var mirror = Mirror()
        for kind in ["users", "groups"] {
            let output = try daemon.ctl([kind, "contoso", "--json"])
            guard output.status == 0 else { throw HarnessError("entra-syncctl \(kind) failed: \(output.stderr)") }
            let objects = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as! [[String: Any]]
            for object in objects {
                let id = object["id"] as! String
                if kind == "users" {
                    mirror.users[id] = Mirror.User(json: object)
                } else {
                    mirror.groups[id] = Mirror.Group(displayName: object["displayName"] as? String,
                                                     members: object["members"] as? [String] ?? [])
                }
            }
        }
        return mirror
    }

    /// Reads the exports; every read must be whole JSON (files are replaced atomically).
    func exportedMirror(_ daemon: DaemonHarness) throws -> Mirror? {
        let dir = daemon.exportDirectory("contoso")
        guard FileManager.default.fileExists(atPath: dir + "/users.json") else { return nil }
        for file in ["users.json", "groups.json"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))
            guard (try? JSONSerialization.jsonObject(with: data)) is [Any] else {
                throw HarnessError("\(file) is not whole JSON (\(data.count) bytes): \(String(decoding: data.suffix(80), as: UTF8.self))")
            }
        }
        return try Mirror.fromExports(dir)
    }

    /// Status over the socket without spawning entra-syncctl (polled often); nil while it does not answer.
    func quickStatus(_ daemon: DaemonHarness) -> ProfileStatus? {
        guard let client = try? VarlinkClient(path: daemon.socket, timeout: 5) else { return nil }
        return (try? client.call(ManagerProtocol.Method.status, parameters: StatusRequest(profile: "contoso"), as: StatusReply.self))?
            .profiles.first
    }

    /// Starts the daemon and waits until it answers and is not syncing.
    func startAndWait(_ daemon: DaemonHarness) throws -> ProfileStatus {
        let process = try daemon.launch()
        var status: ProfileStatus?
        try Harness.waitUntil("entra-syncd to answer", every: 0.005) {
            guard process.isRunning else { throw HarnessError("entra-syncd exited") }
            status = quickStatus(daemon)
            return status.map { $0.state != "syncing" } ?? false
        }
        return status!
    }

    /// Starts a run; a daemon that kills itself at a crash point may do so before it replies.
    func triggerRun(_ daemon: DaemonHarness) throws {
        do {
            let client = try VarlinkClient(path: daemon.socket, timeout: 10)
            _ = try client.call(ManagerProtocol.Method.runNow, parameters: RunNowRequest(profile: "contoso"), as: RunNowReply.self)
        } catch {
            let process = daemon.process!
            guard (try? Harness.waitUntil("entra-syncd to die", timeout: 2, every: 0.005) { !process.isRunning }) != nil else { throw error }
        }
    }

    /// Waits until the run after `previous` finished; false if the daemon died first.
    func waitForRun(_ daemon: DaemonHarness, after previous: String?) throws -> Bool {
        let process = daemon.process!
        var finished = false
        try Harness.waitUntil("the run to finish or the daemon to die", every: 0.005) {
            guard process.isRunning else { return true }
            if let run = quickStatus(daemon)?.lastRun, run.runId != previous, run.result != "running" { finished = true }
            return finished
        }
        return finished
    }

    /// SIGKILLs the daemon (unless it killed itself at a crash point) and checks that nothing else ended it.
    func killDaemon(_ daemon: DaemonHarness) throws {
        let status = try daemon.stop(SIGKILL)
        #expect(status == SIGKILL, "entra-syncd ended with status \(status), not by SIGKILL:\n\(daemon.log.suffix(2000))")
    }

    @Test("at least 200 SIGKILLs over request, plan, journal append and fsync, compaction and export: every restart shows one committed state")
    func killAgainAndAgain() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["ENTRA_TORTURE_SEED"] ?? "") ?? 0x5eed_2026
        var rng = SeededGenerator(seed: seed)
        let sim = try Simulator(users: 24, groups: 4, memberships: 40, pageSize: 6, memberSlice: 5)
        let daemon = DaemonHarness()
        // Compaction after every committed run, so kills land in it often.
        daemon.extraArguments = ["--compact-min-bytes", "1", "--compact-factor", "0"]
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        // How long an incremental run takes here: random kills are spread over that.
        try sim.admin("POST", "/_sim/churn", ["seed": 1, "changes": 5])
        let previous = quickStatus(daemon)?.lastRun?.runId
        let timing = Date()
        try triggerRun(daemon)
        #expect(try waitForRun(daemon, after: previous))
        let runMillis = max(20, Date().timeIntervalSince(timing) * 1000)
        var committed = try queriedMirror(daemon)
        #expect(committed == (try sim.expectedMirror()))
        #expect(try daemon.stop(SIGKILL) == SIGKILL)

        let targets = Target.allCases.filter { crashPointsCompiledIn || $0.crashPoint == nil }
        var hits: [String: Int] = [:]
        var kills = 0, commitsSeen = 0, cycles = 0
        let started = Date()
        let budget = 150.0
        // The tenant as the killed run saw it: after the restart the mirror is this or `committed`.
        var inFlight: Mirror?
        while kills < 200 && cycles < 400 {
            cycles += 1
            guard Date().timeIntervalSince(started) < budget else {
                Issue.record("the torture test ran out of its \(budget)s budget after \(kills) kills")
                break
            }
            let target = targets[Int(rng.next() % UInt64(targets.count))]
            if target != .startup {
                try sim.admin("POST", "/_sim/churn", ["seed": Int(rng.next() % 100_000), "changes": 2 + Int(rng.next() % 6)])
            }
            let tenant = try sim.expectedMirror()

            // Restart; the daemon kills itself at the crash point, if it gets there.
            daemon.environment = target.crashPoint.map { ["ENTRA_SYNC_CRASH_AT": "\($0):1"] } ?? [:]
            if target == .startup {
                let process = try daemon.launch()
                Thread.sleep(forTimeInterval: Double(rng.next() % 60) / 1000)  // the kill moment is the point
                if process.isRunning {
                    kills += 1
                    hits["startup (journal replay)", default: 0] += 1
                }
                try killDaemon(daemon)
                continue
            }
            let status: ProfileStatus
            let mirror: Mirror
            do {
                status = try startAndWait(daemon)
                mirror = try queriedMirror(daemon)
            } catch {
                // Exports refreshed at startup (a kill fell between commit and export) can reach the point.
                guard let point = target.crashPoint, daemon.process?.isRunning == false else { throw error }
                try killDaemon(daemon)
                kills += 1
                hits[point + " (at startup)", default: 0] += 1
                continue
            }

            // Exactly one committed state: the last one, or the killed run's if it got committed.
            let allowed = [committed] + (inFlight.map { [$0] } ?? [])
            guard allowed.contains(mirror) else {
                Issue.record("after kill \(kills) the mirror is no committed state:\n\(mirror.difference(from: committed))\nlog:\n\(daemon.log.suffix(3000))")
                return
            }
            if mirror != committed { commitsSeen += 1 }
            committed = mirror
            inFlight = nil
            #expect(status.state == "idle", "\(status)")
            #expect(status.users == mirror.users.count)
            // Exports a kill left stale or mixed are rewritten before the daemon answers.
            let exported = try exportedMirror(daemon)
            #expect(exported == mirror, "after kill \(kills) the exports differ from the mirror:\n\(exported.map { $0.difference(from: mirror) } ?? "none")")

            // Start a run and kill it.
            let logBefore = daemon.log.utf8.count
            inFlight = tenant
            switch target {
            case .request:
                let held = (try sim.admin("GET", "/_sim/stats") as! [String: Any])["delayedRequests"] as? Int ?? 0
                try sim.addFault(["path": "/v1.0/", "delayMs": 8000, "afterRequests": Int(rng.next() % 2), "count": 1])
                try triggerRun(daemon)
                try Harness.waitUntil("a Graph request to be held", every: 0.005) {
                    (try sim.admin("GET", "/_sim/stats") as! [String: Any])["delayedRequests"] as? Int ?? 0 > held
                }
                try killDaemon(daemon)
                try sim.admin("DELETE", "/_sim/faults")
                hits["request (held by the simulator)", default: 0] += 1
            case .random:
                try triggerRun(daemon)
                Thread.sleep(forTimeInterval: Double.random(in: 0...runMillis, using: &rng) / 1000)  // a random moment is the point
                try killDaemon(daemon)
                let log = String(daemon.log.utf8.dropFirst(logBefore)) ?? ""
                let phase = log.contains("journal compacted") ? "after compaction"
                    : log.contains("run succeeded") ? "after commit (export, compaction)"
                    : log.contains("run started") ? "during the Graph round (request, parse)" : "before the run started"
                hits["random: " + phase, default: 0] += 1
            default:
                try triggerRun(daemon)
                let finished = try waitForRun(daemon, after: status.lastRun?.runId)
                try killDaemon(daemon)
                // A run that never reached the point (e.g. nothing to export) was killed idle.
                hits[finished ? "idle (after a completed run)" : target.crashPoint!, default: 0] += 1
            }
            kills += 1
        }

        // A clean start and run: the tenant exactly.
        daemon.environment = [:]
        try daemon.start()
        let last = try queriedMirror(daemon)
        #expect(([committed] + (inFlight.map { [$0] } ?? [])).contains(last), "the last restart shows no committed state")
        try daemon.runNow("contoso")
        let expected = try sim.expectedMirror()
        #expect(try queriedMirror(daemon) == expected)
        #expect(try exportedMirror(daemon) == expected)
        #expect(try daemon.stop(SIGTERM) == 0)

        let summary = hits.sorted { $0.key < $1.key }.map { "  \($0.key): \($0.value)" }.joined(separator: "\n")
        print("crash torture (seed \(seed)): \(kills) kills in \(cycles) cycles, \(commitsSeen) killed runs had committed, \(Int(Date().timeIntervalSince(started)))s\n\(summary)")
        #expect(kills >= 200)
        if crashPointsCompiledIn {
            for point in Target.allCases.compactMap(\.crashPoint) {
                #expect(hits[point, default: 0] > 0, "no kill at \(point)")
            }
        }
    }
}
