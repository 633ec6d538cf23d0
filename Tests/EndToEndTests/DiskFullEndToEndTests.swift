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
    @Test("a full disk fails the run with a clear error; the committed state stays readable; the next run after space returns succeeds",
          .enabled(if: canMountPrivateTmpfs, "needs root and unshare -m to mount a small tmpfs privately"))
    func diskFull() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = DaemonHarness()
        // The daemon runs in its own mount namespace with the state dir on a 2 MiB tmpfs; the test
        // reaches those files through /proc/PID/root.
        daemon.launcher = ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                           "mkdir -p \"$0\" && mount -t tmpfs -o size=2m,mode=0750 tmpfs \"$0\" && exec \"$@\"", daemon.stateDirectory]
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let root = "/proc/\(daemon.pid)/root"
        let exports = root + daemon.exportDirectory("contoso")
        let committed = try Mirror.fromExports(exports)
        #expect(committed == (try sim.expectedMirror()))
        #expect(!FileManager.default.fileExists(atPath: daemon.stateDirectory + "/contoso"), "the tmpfs is not private")

        // Fill the tmpfs.
        let filler = root + daemon.stateDirectory + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        var written = 0
        while written < 8 << 20, chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == chunk.count { written += chunk.count }
        #expect(errno == ENOSPC)
        close(fd)

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

        // The journal written around the failure replays: copy it out and start a daemon on it.
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
        // A directory where the temp file goes: the export fails (EISDIR), even for root.
        #expect(mkdir(exports + "/groups.json.tmp", 0o755) == 0)
        try sim.admin("POST", "/_sim/churn", ["seed": 8, "changes": 6])
        try daemon.runNow("contoso")
        let status = try daemon.status()["contoso"]!
        let error = status["error"] as? String ?? ""
        #expect(error.contains("export failed") && error.contains("groups.json.tmp"), "error: \(error)")
        #expect(try Mirror.fromExports(exports) != (try sim.expectedMirror()))

        // The obstacle goes; the next run has nothing to change but must still write the exports.
        #expect(rmdir(exports + "/groups.json.tmp") == 0)
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(exports) == (try sim.expectedMirror()))
        #expect(try daemon.status()["contoso"]?["error"] == nil)
    }
}
