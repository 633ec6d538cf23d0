import EntraControl
import Foundation
import Testing

/// The command lines admins type: options before or after the subcommand, --version, and a profile
/// with several mistakes reported at once by `check` and by the daemon.
@Suite("command line end to end")
struct CommandLineEndToEndTests {
    func ctl(_ arguments: [String]) throws -> Harness.Output {
        // No ENTRA_SYNC_SOCKET: the socket must come from the command line.
        try Harness.run(Harness.binary("entra-syncctl"), arguments, environment: ["ENTRA_SYNC_SOCKET": "/nonexistent/control.sock"])
    }

    @Test("--socket works before and after the subcommand")
    func socketBeforeOrAfterSubcommand() throws {
        let sim = try Simulator(users: 4, groups: 1, memberships: 2)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        for arguments in [["--socket", daemon.socket, "status", "contoso"], ["status", "--socket", daemon.socket, "contoso"],
                          ["status", "contoso", "--socket", daemon.socket], ["--socket=\(daemon.socket)", "status"]] {
            let output = try ctl(arguments)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            #expect(output.stdout.contains("4 users"), "\(arguments): \(output.stdout)")
        }
        let run = try ctl(["--socket", daemon.socket, "run-now", "contoso", "--wait"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let users = try ctl(["--socket", daemon.socket, "users", "contoso", "--json"])
        #expect(users.status == 0 && users.stdout.hasPrefix("["), "\(users.stdout)\(users.stderr)")
        // Without --socket the environment's (absent) socket is used, and the error says so.
        let missing = try ctl(["status"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/control.sock"), "\(missing.stderr)")
    }

    @Test("--version prints the version", arguments: ["entra-syncd", "entra-syncctl"])
    func version(binary: String) throws {
        let output = try Harness.run(Harness.binary(binary), ["--version"])
        #expect(output.status == 0)
        #expect(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ManagerProtocol.version)
    }

    static let threeMistakes = """
        [Tenant]
        TenantId=contoso.onmicrosoft.com
        ClientId=not-a-guid
        ClientSecret=x
        [Sync]
        Interval=soon
        Userz=yes
        """

    @Test("check reports every mistake of a profile, each with file:line")
    func checkReportsAllMistakes() throws {
        let daemon = DaemonHarness()
        try daemon.write("contoso.conf", Self.threeMistakes)
        let output = try Harness.run(Harness.binary("entra-syncctl"), ["check", "contoso", "--config-dir", daemon.configDirectory])
        #expect(output.status != 0)
        let file = daemon.configDirectory + "/contoso.conf"
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(output.stdout)")
        #expect(lines.first == "config   FAILED \(file):3: ClientId: 'not-a-guid' is not a GUID; use the Application (client) ID")
        #expect(lines.dropFirst().first?.hasPrefix("                \(file):6: Interval: ") == true, "\(output.stdout)")
        #expect(lines.last?.hasPrefix("                \(file):7: Userz: unknown key in [Sync]") == true, "\(output.stdout)")
    }

    @Test("the daemon logs every mistake and status shows them all")
    func daemonReportsAllMistakes() throws {
        let sim = try Simulator(users: 3, groups: 1, memberships: 1)
        let daemon = DaemonHarness()
        try daemon.writeProfile("good", simulator: sim)
        try daemon.write("broken.conf", Self.threeMistakes)
        try daemon.start()
        let file = daemon.configDirectory + "/broken.conf"
        for line in [3, 6, 7] { #expect(daemon.log.contains("\(file):\(line): "), "line \(line) not logged:\n\(daemon.log.suffix(2000))") }
        let status = try daemon.ctl(["status", "broken"])
        for line in [3, 6, 7] { #expect(status.stdout.contains("\(file):\(line): "), "\(status.stdout)") }
        #expect(try daemon.status()["good"]?["users"] as? Int == 3)
    }
}
