import Foundation
import Testing

/// Damaged journals, as a crash or a bad disk leaves them.
@Suite("journal damage end to end")
struct JournalEndToEndTests {
    /// Two committed runs, the second with changes; returns the mirror after the first.
    func twoRuns(_ daemon: DaemonHarness, _ sim: Simulator) throws -> Mirror {
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        let first = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        try sim.admin("POST", "/_sim/churn", ["seed": 11, "changes": 15])
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) != first)
        #expect(try daemon.stop(SIGTERM) == 0)
        return first
    }

    func lastSegment(_ daemon: DaemonHarness) throws -> String {
        let dir = daemon.journalDirectory("contoso")
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted()
        guard let last = segments.last else { throw HarnessError("no journal segment in \(dir)") }
        return dir + "/" + last
    }

    /// Where each commit of a segment ends. The journal's frames are a u32 length, a u32 checksum,
    /// a type byte and the payload, after a 32-byte segment header; type 200 marks a commit.
    func commitEnds(_ bytes: [UInt8]) -> [Int] {
        var ends: [Int] = []
        var offset = 32
        while offset + 9 <= bytes.count {
            let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
            let next = offset + 9 + length
            guard next <= bytes.count else { break }
            if bytes[offset + 8] == 200 { ends.append(next) }
            offset = next
        }
        return ends
    }

    /// Where the second run's batch ends in the last segment: after it comes only the small batch
    /// that journals when that run ended (after its exports).
    func lastRunBatchEnd(_ bytes: [UInt8]) throws -> Int {
        let ends = commitEnds(bytes)
        try #require(ends.count >= 2 && ends.last == bytes.count, "commits end at \(ends) in \(bytes.count) bytes")
        return ends[ends.count - 2]
    }

    func modify(_ path: String, _ body: (inout [UInt8]) throws -> Void) throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        try body(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test("the first sync is written once, as the journal's snapshot: no compaction rewrites it, a restart replays it")
    func firstSyncIsASnapshot() throws {
        let sim = try Simulator(users: 40, groups: 4, memberships: 60)
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--compact-min-bytes", "1024", "--compact-factor", "0"]  // otherwise compacts after every run
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let expected = try sim.expectedMirror()
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == expected)
        let segments = try FileManager.default.contentsOfDirectory(atPath: daemon.journalDirectory("contoso")).filter { $0.hasSuffix(".seg") }
        #expect(segments.count == 1)
        #expect(!daemon.log.contains("journal compacted"), "\(daemon.log)")
        #expect(try daemon.stop(SIGTERM) == 0)
        try daemon.start()
        #expect(try daemon.status()["contoso"]?["memberships"] as? Int == expected.membershipCount)
        try sim.admin("POST", "/_sim/churn", ["seed": 5, "changes": 10])
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        #expect(daemon.log.contains("journal compacted"))  // factor 0: later runs do compact
    }

    @Test("a run that changes nothing marks the exports current: a restart does not rewrite them")
    func unchangedRunKeepsExportsCurrent() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 12)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        let history = try JSONSerialization.jsonObject(with: Data(try daemon.ctl(["history", "contoso", "-n", "1", "--json"]).stdout.utf8))
        let lastRun = try #require(((history as? [String: Any])?["runs"] as? [[String: Any]])?.first?["runId"] as? String)
        let exports = daemon.exportDirectory("contoso")
        #expect(try String(contentsOfFile: exports + "/.state", encoding: .utf8) == lastRun + "\n")
        func inode(_ file: String) -> UInt { var info = stat(); return stat(exports + "/" + file, &info) == 0 ? UInt(info.st_ino) : 0 }
        let before = (inode("users.json"), inode("groups.json"))
        #expect(try daemon.stop(SIGTERM) == 0)
        try daemon.start()
        // Files are replaced by rename: the same inodes mean they were not rewritten.
        #expect((inode("users.json"), inode("groups.json")) == before)
        #expect(try Mirror.fromExports(exports) == (try sim.expectedMirror()))
    }

    @Test("a torn tail (the last commit cut short) is truncated: the mirror is the previous run", arguments: [1, 7, 40])
    func truncatedTail(cut: Int) throws {
        let sim = try Simulator(users: 20, groups: 3, memberships: 30)
        let daemon = DaemonHarness()
        let first = try twoRuns(daemon, sim)
        // The run's batch cut short (and the run-end batch after it gone).
        try modify(try lastSegment(daemon)) { bytes in bytes.removeSubrange((try lastRunBatchEnd(bytes) - cut)...) }

        try daemon.start()
        try Harness.waitUntil("exports to show the recovered state") {
            (try? Mirror.fromExports(daemon.exportDirectory("contoso"))) == first
        }
        #expect(daemon.log.contains("repaired") || daemon.log.contains("truncat"))
        #expect(try daemon.status()["contoso"]?["users"] as? Int == first.users.count)
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }

    @Test("a torn run-end record loses only when the run ended: the run's changes stay", arguments: [1, 20])
    func tornRunEnd(cut: Int) throws {
        let sim = try Simulator(users: 20, groups: 3, memberships: 30)
        let daemon = DaemonHarness()
        _ = try twoRuns(daemon, sim)
        let second = try sim.expectedMirror()
        try modify(try lastSegment(daemon)) { bytes in
            let runEnd = try lastRunBatchEnd(bytes)
            #expect(bytes.count - runEnd > 20, "the run-end batch is longer than the cut")
            bytes.removeLast(cut)
        }
        try daemon.start()
        try Harness.waitUntil("exports to show the second run") {
            (try? Mirror.fromExports(daemon.exportDirectory("contoso"))) == second
        }
        #expect(daemon.log.contains("repaired") || daemon.log.contains("truncat"))
        #expect(try daemon.status()["contoso"]?["users"] as? Int == second.users.count)
    }

    @Test("a bit flip in the last, uncommitted-looking batch is truncated like a torn tail")
    func bitFlippedTail() throws {
        let sim = try Simulator(users: 20, groups: 3, memberships: 30)
        let daemon = DaemonHarness()
        let first = try twoRuns(daemon, sim)
        // The run's batch last (the run-end batch after it gone), with a flipped bit in its commit frame.
        try modify(try lastSegment(daemon)) { bytes in
            let runEnd = try lastRunBatchEnd(bytes)
            bytes.removeSubrange(runEnd...)
            bytes[runEnd - 12] ^= 0x10
        }

        try daemon.start()
        try Harness.waitUntil("exports to show the recovered state") {
            (try? Mirror.fromExports(daemon.exportDirectory("contoso"))) == first
        }
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }

    @Test("damage before the last commit is a clear error for that profile; other profiles keep running")
    func corruptionBeforeLastCommit() throws {
        let sim = try Simulator(users: 20, groups: 3, memberships: 30)
        let other = try Simulator(users: 4, groups: 1, memberships: 2, seed: 5)
        let daemon = DaemonHarness()
        _ = try twoRuns(daemon, sim)
        try daemon.writeProfile("other", simulator: other)
        // Flip a bit early in the journal: inside the first committed run.
        let segments = try FileManager.default.contentsOfDirectory(atPath: daemon.journalDirectory("contoso"))
            .filter { $0.hasSuffix(".seg") }.sorted()
        try modify(daemon.journalDirectory("contoso") + "/" + segments.first!) { $0[200] ^= 0x01 }

        try daemon.start()
        let status = try daemon.status()
        #expect(status["contoso"]?["state"] as? String == "failed")
        let error = status["contoso"]?["error"] as? String ?? ""
        #expect(error.contains("journal"))
        #expect(error.contains(".seg"))
        let run = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(run.status != 0)
        try daemon.runNow("other")
        #expect(try daemon.status()["other"]?["users"] as? Int == 4)
    }
}
