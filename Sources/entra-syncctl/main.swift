import ArgumentParser
import EntraControl
import Foundation

/// entra-syncctl: the command-line client of entra-syncd.
struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entra-syncctl",
        abstract: "Control and inspect entra-syncd.",
        discussion: "Finds the daemon's socket through --socket, else $ENTRA_SYNC_SOCKET, else /run/entra-sync/control.sock.",
        subcommands: [Status.self, RunNow.self, Reload.self])
}

struct SocketOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: "Control socket of entra-syncd.")
    var socket: String?

    var path: String {
        socket ?? ProcessInfo.processInfo.environment["ENTRA_SYNC_SOCKET"] ?? "/run/entra-sync/control.sock"
    }

    func connect(timeout: Double = 30) throws -> VarlinkClient {
        do {
            return try VarlinkClient(path: path, timeout: timeout)
        } catch {
            fail("\(error)")
        }
    }
}

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("entra-syncctl: \(message)\n".utf8))
    Foundation.exit(code)
}

/// Calls a method; a remote error becomes a one-line message and exit code 1.
func call<R: Decodable>(_ client: VarlinkClient, _ method: String, _ parameters: some Encodable, as type: R.Type,
                        timeout: Double? = nil) -> R {
    do {
        return try client.call(method, parameters: parameters, as: type, timeout: timeout)
    } catch let error as VarlinkClientError {
        fail(describe(error))
    } catch {
        fail("\(error)")
    }
}

func describe(_ error: VarlinkClientError) -> String {
    if case .remote(let name, let parameters) = error {
        let details = (try? JSONDecoder().decode(ProfileErrorParameters.self, from: Data(parameters)))
        switch name {
        case ManagerProtocol.ErrorName.noSuchProfile:
            return "no such profile: \(details?.profile ?? "?")"
        case ManagerProtocol.ErrorName.profileNotRunnable:
            return "profile \(details?.profile ?? "?") cannot run: \(details?.reason ?? "unknown reason")"
        case "org.varlink.service.InvalidParameter":
            let parameter = (try? JSONSerialization.jsonObject(with: Data(parameters)) as? [String: Any])?["parameter"] as? String
            if parameter == "profile" { return "more than one profile is configured: name one, or use --all" }
            return "invalid parameter \(parameter ?? "")"
        default:
            return "\(name): \(String(decoding: parameters, as: UTF8.self))"
        }
    }
    return "\(error)"
}

func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

func formatDuration(_ msec: Int?) -> String {
    guard let msec else { return "?" }
    if msec < 1000 { return "\(msec) ms" }
    let seconds = Double(msec) / 1000
    if seconds < 120 { return String(format: "%.1f s", seconds) }
    return String(format: "%.1f min", seconds / 60)
}

func describe(run: RunInfo) -> String {
    var text = "\(run.result)"
    if run.result == "running" {
        text += " since \(run.started)\(run.full ? " (full)" : "")"
        return text
    }
    text += " at \(run.finished ?? run.started), took \(formatDuration(run.durationMsec))\(run.full ? ", full" : "")"
    if run.result == "succeeded" { text += ": +\(run.added) ~\(run.updated) -\(run.removed)" }
    return text
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each profile's state, counts, last and next run.")

    @OptionGroup var socket: SocketOptions
    @Argument(help: "Only this profile.") var profile: String?
    @Flag(name: .long, help: "Print JSON: {\"profiles\":[{name,state,users,groups,memberships,lastRun,nextRun}]}.") var json = false

    func run() throws {
        let client = try socket.connect()
        let reply = call(client, ManagerProtocol.Method.status, StatusRequest(profile: profile), as: StatusReply.self)
        if json {
            printJSON(reply)
            return
        }
        if reply.profiles.isEmpty {
            print("no profiles configured (add /etc/entra-sync/NAME.conf and run: systemctl reload entra-sync)")
        }
        for (index, p) in reply.profiles.enumerated() {
            if index > 0 { print("") }
            print("\(p.name): \(p.state)")
            print("  objects:  \(p.users) users, \(p.groups) groups, \(p.memberships) memberships")
            if let run = p.lastRun {
                print("  last run: \(describe(run: run))")
                if let error = run.error { print("  error:    \(error)") }
                if let hint = run.hint { print("  hint:     \(hint)") }
            } else {
                print("  last run: never")
            }
            if let success = p.lastSuccess, p.lastRun?.result != "succeeded" { print("  last success: \(success)") }
            if let next = p.nextRun { print("  next run: \(next)") }
            if let error = p.error { print("  problem:  \(error)") }
        }
    }
}

struct RunNow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-now",
        abstract: "Start a sync now (a run already in progress is joined, not doubled).")

    @OptionGroup var socket: SocketOptions
    @Argument(help: "The profile to run.") var profile: String?
    @Flag(name: .long, help: "Run every profile.") var all = false
    @Flag(name: .long, help: "Full resync: read everything and remove what Graph no longer returns.") var full = false
    @Flag(name: .long, help: "Wait for the run to end, print its result, exit non-zero if it failed.") var wait = false

    func validate() throws {
        if all && profile != nil { throw ValidationError("give a profile or --all, not both") }
    }

    func run() throws {
        let client = try socket.connect(timeout: wait ? 86_400 : 30)
        let request = RunNowRequest(profile: profile, all: all ? true : nil, full: full ? true : nil, wait: wait ? true : nil)
        let reply = call(client, ManagerProtocol.Method.runNow, request, as: RunNowReply.self, timeout: wait ? 86_400 : nil)
        var failed = false
        for result in reply.runs {
            guard wait, let run = result.run else {
                print("\(result.profile): \(result.started ? "run started" : "joined the run in progress")")
                continue
            }
            print("\(result.profile): \(describe(run: run))")
            if let error = run.error { print("  error: \(error)") }
            if let hint = run.hint { print("  hint:  \(hint)") }
            if run.result != "succeeded" { failed = true }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-read the profiles, as SIGHUP does.")

    @OptionGroup var socket: SocketOptions

    func run() throws {
        let client = try socket.connect()
        let reply = call(client, ManagerProtocol.Method.reload, ReloadRequest(), as: ReloadReply.self)
        print("added: \(reply.added.joined(separator: ", ")); removed: \(reply.removed.joined(separator: ", ")); changed: \(reply.changed.joined(separator: ", "))")
        for error in reply.errors { print("error: \(error)") }
        if !reply.errors.isEmpty { throw ExitCode(1) }
    }
}

Ctl.main()
