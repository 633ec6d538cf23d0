import Foundation
import Testing

private let nobodyCanRunClient = Harness.nobodyCanRun("entra-syncctl")

@Suite("control access end to end")
struct AccessEndToEndTests {
    @Test("readers may query; only root or the admin group may run-now, reload and resync (SO_PEERCRED)",
          .enabled(if: nobodyCanRunClient, "needs root, setpriv, and a checkout that uid 65534 can read"))
    func mutatingNeedsAdmin() throws {
        let sim = try Simulator(users: 3, groups: 1, memberships: 1)
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--admin-group", "entra-sync-test-admins-\(getpid())"]
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        chmod(daemon.directory, 0o755)
        chmod(daemon.socket, 0o666)  // let uid 65534 connect: the socket mode is what grants reading
        func asNobody(_ arguments: [String]) throws -> Harness.Output {
            try Harness.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Harness.binary("entra-syncctl")] + arguments,
                            environment: ["ENTRA_SYNC_SOCKET": daemon.socket])
        }
        #expect(try asNobody(["status", "contoso"]).status == 0)
        #expect(try asNobody(["users", "contoso", "--json"]).status == 0)
        let run = try asNobody(["run-now", "contoso"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("permission denied"))
        #expect(run.stderr.contains("entra-sync-test-admins"))
        #expect(try asNobody(["reload"]).status != 0)
        let resync = try asNobody(["resync", "contoso", "--discard-state"])
        #expect(resync.status != 0 && resync.stderr.contains("permission denied"))
        #expect(try !FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/contoso").contains { $0.hasPrefix("journal.discarded-") })
        #expect(try daemon.ctl(["run-now", "contoso", "--wait"]).status == 0)
        #expect(daemon.log.contains("refused io.entrasync.Manager.RunNow from uid 65534"))
    }
}
