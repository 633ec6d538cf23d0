import Foundation
import Testing

private let nobodyCanRunDaemon = Harness.nobodyCanRun("entra-syncd")

@Suite("clean start end to end")
struct CleanStartEndToEndTests {
    /// As the unit runs it: an unprivileged user without capabilities (so no CAP_SYS_NICE) and
    /// RLIMIT_NICE 0. libdispatch logs to stderr here (LIBDISPATCH_LOG=stderr), where it would
    /// otherwise go to syslog: "Failed to set thread priority ... errno=13" when anything starts
    /// its manager thread (dispatch sources, concurrent queues), which asks for nice -4.
    @Test("unprivileged: start, sync, hook, queries, reload and stop log only info lines, nothing from libdispatch",
          .enabled(if: nobodyCanRunDaemon, "needs root, setpriv, and a checkout that uid 65534 can read"))
    func unprivilegedRunIsQuiet() throws {
        let sim = try Simulator(users: 30, groups: 3, memberships: 40)
        let daemon = DaemonHarness()
        // At nice 0, as a service on a host starts: libdispatch moves its workers to nice 0, which an
        // unprivileged process started higher (under `nice`) may not do. Root may lower it first.
        errno = 0
        let niceness = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        daemon.launcher = ["/usr/bin/nice", "-n", "\(-niceness)",
                           "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
        daemon.environment = ["LIBDISPATCH_LOG": "stderr"]
        let hook = daemon.directory + "/hook.sh"
        try "#!/bin/sh\ncat >\(daemon.directory)/hook.out\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nOnChange=\(hook)\n")
        try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: true)
        for path in [daemon.directory, daemon.configDirectory, daemon.stateDirectory, hook]
            + (try FileManager.default.contentsOfDirectory(atPath: daemon.configDirectory)).map({ daemon.configDirectory + "/" + $0 }) {
            #expect(chown(path, 65534, 65534) == 0, "\(path)")
        }

        try daemon.start()
        #expect(try daemon.status()["contoso"]?["users"] as? Int == 30)
        try Harness.waitUntil("the OnChange program") { FileManager.default.fileExists(atPath: daemon.directory + "/hook.out") }
        #expect(try daemon.ctl(["users", "contoso", "--json"]).status == 0)
        #expect(try daemon.ctl(["run-now", "contoso", "--wait"]).status == 0)
        daemon.kill(SIGHUP)
        try Harness.waitUntil("the reload") { daemon.log.contains("reloaded:") }
        #expect(try daemon.stop(SIGTERM) == 0)

        let log = daemon.log
        #expect(!log.contains("Failed to set thread priority"), "\(log)")
        let unexpected = log.split(separator: "\n").filter { line in
            !(line.split(separator: " ").dropFirst().first.map { ["info", "debug"].contains($0) } ?? false)
        }
        #expect(unexpected.isEmpty, "\(unexpected)")
        #expect(log.contains("received signal 15, stopping"))
    }
}
