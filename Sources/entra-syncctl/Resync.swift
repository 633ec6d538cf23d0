import ArgumentParser
import EntraControl

struct Resync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Discard a profile's state (its journal is kept aside) and sync everything again from Entra.",
        discussion: """
            For a profile whose journal is damaged. The old journal is renamed to a dated \
            journal.discarded-… in the profile's state directory, for inspection; the full sync that follows \
            rebuilds the mirror and the exports, and SCIM targets are matched again by adoption, so \
            nothing is created twice there. `run-now --full` resyncs without discarding anything.
            """)

    @OptionGroup var socket: SocketOptions
    @Argument(help: "The profile to start over.") var profile: String
    @Flag(name: .customLong("discard-state"), help: "Confirms that the profile's state is to be discarded.") var discardState = false
    @Flag(name: .long, help: "Wait for the full sync to end, print its result, exit non-zero if it failed.") var wait = false

    func validate() throws {
        guard discardState else {
            throw ValidationError("resync discards the profile's state: confirm with --discard-state (run-now \(profile) --full resyncs and keeps it)")
        }
    }

    func run() throws {
        let client = socket.connect(timeout: wait ? 86_400 : 30)
        let request = ResyncRequest(profile: profile, discardState: true, wait: wait ? true : nil)
        let reply = attempt { () throws(ManagerError) in try client.resync(request) }
        print("\(reply.profile): state discarded\(reply.keptJournal.map { "; the old journal is kept as \($0)" } ?? ""); full sync started")
        guard let run = reply.run else { return }
        print("\(reply.profile): \(describe(run: run))")
        if let error = run.error { print("  error: \(error)") }
        if let hint = run.hint { print("  hint:  \(hint)") }
        if run.result != "succeeded" { throw ExitCode(1) }
    }
}
