import Foundation
import Testing

/// Whether this process may mount a tmpfs in a private mount namespace (root with CAP_SYS_ADMIN).
private let canMountPrivateTmpfs: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    let probe = try? Harness.run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c",
                                                      "mount -t tmpfs -o size=64k tmpfs /mnt && touch /mnt/x"])
    return probe?.status == 0
}()

/// The state directory on a small tmpfs that fills up.
@Suite("disk full end to end")
struct DiskFullEndToEndTests {
    /// Runs the daemon in its own mount namespace with the state dir on a 2 MiB tmpfs; the test
    /// reaches those files through /proc/PID/root.
    func startOnTmpfs(_ daemon: DaemonHarness) throws -> String {
        daemon.launcher = ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                           "mkdir -p \"$0\" && mount -t tmpfs -o size=2m,mode=0750 tmpfs \"$0\" && exec \"$@\"", daemon.stateDirectory]
        try daemon.start()
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDirectory + "/contoso"), "the tmpfs is not private")
        return "/proc/\(daemon.pid)/root"
    }

    /// Fills the tmpfs, then frees `leave` bytes; returns the filler's path.
    func fill(_ root: String, _ daemon: DaemonHarness, leave: Int = 0) throws -> String {
        let filler = root + daemon.stateDirectory + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw HarnessError("cannot create \(filler)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        var written = 0
        while written < 8 << 20, chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == chunk.count { written += chunk.count }
        #expect(errno == ENOSPC)
        #expect(ftruncate(fd, off_t(max(0, written - leave))) == 0)
        return filler
    }

    /// The journal written around the failures replays: copy it out and start a daemon on it.
    func expectReplays(_ root: String, _ daemon: DaemonHarness, _ sim: Simulator, _ expected: Mirror) throws {
        let copy = DaemonHarness()
        try copy.writeProfile("contoso", simulator: sim)
        try FileManager.default.copyItem(atPath: root + daemon.stateDirectory, toPath: copy.stateDirectory)
        #expect(try daemon.stop(SIGTERM) == 0)
        try copy.start()
        let replayed = try copy.status()["contoso"]!
        #expect(replayed["state"] as? String == "idle", "\(replayed)")
        #expect(replayed["users"] as? Int == expected.users.count)
        #expect(replayed["memberships"] as? Int == expected.membershipCount)
    }

    @Test("a full disk fails the run with a clear error; the committed state stays readable; the next run after space returns succeeds",
          .enabled(if: canMountPrivateTmpfs, "needs root and unshare -m to mount a small tmpfs privately"))
    func diskFull() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        let root = try startOnTmpfs(daemon)
        let exports = root + daemon.exportDirectory("contoso")
        let committed = try Mirror.fromExports(exports)
        #expect(committed == (try sim.expectedMirror()))
        let filler = try fill(root, daemon)

        try sim.admin("POST", "/_sim/churn", ["seed": 21, "changes": 60])
        let failed = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(failed.status != 0)
        let status = try daemon.status()["contoso"]!
        #expect(status["state"] as? String == "failed")
        let error = ((status["lastRun"] as? [String: Any])?["error"] as? String ?? "")
        #expect(error.contains("no space left"), "error: \(error)")
        #expect(error.contains("/journal/"), "error: \(error)")
        #expect(daemon.log.contains("no space left"))

        // The committed state is still what queries and exports show.
        #expect(try Mirror.fromExports(exports) == committed)
        #expect(status["users"] as? Int == committed.users.count)
        let users = try daemon.ctl(["users", "contoso", "--json"])
        #expect(users.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(users.stdout.utf8)) as? [Any])?.count == committed.users.count)

        // Space returns: the next run commits.
        #expect(unlink(filler) == 0)
        try daemon.runNow("contoso")
        let expected = try sim.expectedMirror()
        #expect(expected != committed)
        #expect(try Mirror.fromExports(exports) == expected)
        try expectReplays(root, daemon, sim, expected)
    }

    @Test("space for the commit but not for exports and compaction: the run commits, says the export failed, and the next run repairs both",
          .enabled(if: canMountPrivateTmpfs, "needs root and unshare -m to mount a small tmpfs privately"))
    func fullAfterCommit() throws {
        let sim = try Simulator(users: 60, groups: 4, memberships: 80)
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--compact-min-bytes", "1", "--compact-factor", "0"]  // compaction after every run
        try daemon.writeProfile("contoso", simulator: sim)
        let root = try startOnTmpfs(daemon)
        let exports = root + daemon.exportDirectory("contoso")
        let before = try Mirror.fromExports(exports)

        // 12 KiB left: enough for a one-change commit, not for users.json (~25 KiB) or a snapshot.
        let filler = try fill(root, daemon, leave: 12 << 10)
        let user = before.users.keys.sorted().first!
        try sim.admin("PATCH", "/_sim/users/\(user)", ["displayName": "Renamed While The Disk Was Full"])
        let run = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(run.status == 0, "the commit should fit: \(run.stdout)\(run.stderr)")
        let expected = try sim.expectedMirror()
        let status = try daemon.status()["contoso"]!
        let error = status["error"] as? String ?? ""
        #expect(error.contains("export failed") && error.contains("No space left"), "error: \(error)")
        #expect(daemon.log.contains("journal compaction failed"))
        let users = try JSONSerialization.jsonObject(with: Data(try daemon.ctl(["users", "contoso", "--json"]).stdout.utf8)) as? [[String: Any]]
        #expect(users?.first { $0["id"] as? String == user }?["displayName"] as? String == "Renamed While The Disk Was Full")
        #expect(try Mirror.fromExports(exports) == before, "the exports are whole and still the previous run")

        // Space returns: a run without changes rewrites the exports and compacts.
        #expect(unlink(filler) == 0)
        let logBefore = daemon.log.utf8.count
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(exports) == expected)
        #expect(try daemon.status()["contoso"]?["error"] == nil)
        #expect(String(daemon.log.utf8.dropFirst(logBefore))?.contains("journal compacted") == true)
        try expectReplays(root, daemon, sim, expected)
    }
}

@Suite("export failure end to end")
struct ExportFailureEndToEndTests {
    @Test("an export that failed is written by the next run, even one without changes")
    func failedExportIsRetried() throws {
        let sim = try Simulator(users: 12, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let exports = daemon.exportDirectory("contoso")
        // A directory where the next link goes: publishing fails (EEXIST), even for root.
        let obstacle = daemon.stateDirectory + "/contoso/.export.swap"
        #expect(mkdir(obstacle, 0o755) == 0)
        try sim.admin("POST", "/_sim/churn", ["seed": 8, "changes": 6])
        try daemon.runNow("contoso")
        let status = try daemon.status()["contoso"]!
        let error = status["error"] as? String ?? ""
        #expect(error.contains("export failed") && error.contains(".export.swap"), "error: \(error)")
        let sets = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/contoso/.export-sets")
        #expect(sets.count == 1, "the failed set is removed: \(sets)")
        #expect(try Mirror.fromExports(exports) != (try sim.expectedMirror()))

        // The obstacle goes; the next run has nothing to change but must still write the exports.
        #expect(rmdir(obstacle) == 0)
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(exports) == (try sim.expectedMirror()))
        #expect(try daemon.status()["contoso"]?["error"] == nil)
    }
}
