import ArgumentParser
import EntraControl
import Foundation

/// entra-syncctl: the command-line client of entra-syncd.
struct Ctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entra-syncctl",
        abstract: "Control and inspect entra-syncd.",
        discussion: "Finds the daemon's socket through --socket, else $ENTRA_SYNC_SOCKET, else /run/entra-sync/control.sock.",
        version: ManagerProtocol.version,
        subcommands: [Status.self, RunNow.self, Reload.self, Resync.self, Check.self, History.self, Users.self, Groups.self, Members.self, Show.self, Ids.self, Scim.self, Ldap.self])

    /// Options of every subcommand, accepted before the subcommand's name as well as after it
    /// (`entra-syncctl --socket PATH status`): the subcommands' `@OptionGroup` of the same type
    /// receives what this one parsed.
    @OptionGroup var global: SocketOptions
}

struct SocketOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: "Control socket of entra-syncd.")
    var socket: String?

    var path: String {
        socket ?? ProcessInfo.processInfo.environment["ENTRA_SYNC_SOCKET"] ?? "/run/entra-sync/control.sock"
    }

    /// The daemon's client; a failed connection ends the command with its message.
    func connect(timeout: Double = 30) -> ManagerClient {
        attempt { () throws(ManagerError) in try ManagerClient(path: path, timeout: timeout) }
    }
}

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("entra-syncctl: \(message)\n".utf8))
    Foundation.exit(code)
}

/// Runs a call; an error becomes a one-line message and exit code 1.
func attempt<R>(_ body: () throws(ManagerError) -> R) -> R {
    do {
        return try body()
    } catch {
        fail(describe(error))
    }
}

func describe(_ error: ManagerError) -> String {
    switch error {
    case .noSuchProfile(let profile):
        return "no such profile: \(profile)"
    case .profileNotRunnable(let profile, let reason):
        return "profile \(profile) cannot run: \(reason.isEmpty ? "unknown reason" : reason)"
    case .permissionDenied(let group):
        return "permission denied: changing things (run-now, reload, resync) needs root or membership of group \(group.isEmpty ? "entra-sync-admin" : group)"
    case .shuttingDown:
        return "entra-syncd is stopping; try again once it has started again"
    case .invalidFilter(let message):
        return "invalid filter: \(message)"
    case .notFound(let key):
        return "not found: \(key)"
    case .invalidParameter("profile"):
        return "more than one profile is configured: name one, or use --all"
    case .invalidParameter(let parameter):
        return "invalid parameter \(parameter)"
    case .other(let name, let parameters):
        return "\(name): \(parameters)"
    case .transport(let text):
        return text
    }
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
        let client = socket.connect()
        let reply = attempt { () throws(ManagerError) in try client.status(profile: profile) }
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
            if let error = p.error { print("  problem:  \(error.replacingOccurrences(of: "\n", with: "\n            "))") }
            if let expires = p.credentialExpires { print("  credential expires: \(expires)") }
            for warning in p.warnings ?? [] { print("  warning:  \(warning)") }
            for t in p.ldapTargets ?? [] {
                var line = "  ldap \(t.name): \(t.state), \(t.users) users, \(t.groups) groups"
                if t.failed > 0 { line += ", \(t.failed) refused" }
                if let last = t.lastPush { line += "; last push \(last.finished) \(last.result)" }
                if let repaired = t.lastReconcile { line += "; drift repair \(repaired)" }
                print(line)
                if let error = t.lastPush?.error, t.state == "unavailable" { print("    error: \(error)") }
            }
            if let linux = p.linux {
                print("  linux:    \(linux.users) users, \(linux.groups) groups served (userdb)")
                for refusal in linux.refused { print("  not served: \(refusal)") }
            }
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
    @Option(name: .customLong("allow-deletions"), help: "Approve up to N removals for this run (see MaxDeletions=).") var allowDeletions: Int?

    func validate() throws {
        if all && profile != nil { throw ValidationError("give a profile or --all, not both") }
    }

    func run() throws {
        let client = socket.connect(timeout: wait ? 86_400 : 30)
        let request = RunNowRequest(profile: profile, all: all ? true : nil, full: full ? true : nil, wait: wait ? true : nil,
                                    allowDeletions: allowDeletions)
        let reply = attempt { () throws(ManagerError) in try client.runNow(request) }
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
            if run.result == "blocked" { print("  (not committed: approve with --allow-deletions \(run.removed))") }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-read the profiles, as SIGHUP does.")

    @OptionGroup var socket: SocketOptions

    func run() throws {
        let client = socket.connect()
        let reply = attempt { () throws(ManagerError) in try client.reload() }
        print("added: \(reply.added.joined(separator: ", ")); removed: \(reply.removed.joined(separator: ", ")); changed: \(reply.changed.joined(separator: ", "))")
        for error in reply.errors { print("error: \(error)") }
        if !reply.errors.isEmpty { throw ExitCode(1) }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The last runs of a profile, newest first.")

    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Option(name: .shortAndLong, help: "How many runs.") var n = 10
    @Flag(name: .long) var json = false

    func run() throws {
        let client = socket.connect()
        let reply = attempt { () throws(ManagerError) in try client.history(profile: profile, limit: n) }
        if json { return printJSON(reply) }
        for run in reply.runs {
            var line = "\(run.started)  \(run.result.padding(toLength: 9, withPad: " ", startingAt: 0)) \(formatDuration(run.durationMsec).padding(toLength: 9, withPad: " ", startingAt: 0))"
            line += " +\(run.added) ~\(run.updated) -\(run.removed)\(run.full ? " full" : "")"
            if let error = run.error { line += "  \(error)" }
            print(line)
        }
    }
}

/// Prints objects from a query as JSON, CSV or a table.
func printObjects(_ objects: [[String: Any]], columns: [String], json: Bool, csv: Bool) {
    if json {
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
        return
    }
    func text(_ value: Any?) -> String {
        switch value {
        case let s as String: return s
        case let b as Bool: return b ? "true" : "false"
        case let a as [Any]: return a.map { text($0) }.joined(separator: ";")
        case let n as NSNumber: return n.stringValue
        default: return ""
        }
    }
    if csv {
        func field(_ s: String) -> String { s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        print(columns.joined(separator: ","))
        for object in objects { print(columns.map { field(text(object[$0])) }.joined(separator: ",")) }
        return
    }
    let rows = objects.map { o in columns.map { text(o[$0]) } }
    let widths = columns.indices.map { i in min(40, max(columns[i].count, rows.map { $0[i].count }.max() ?? 0)) }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in c.count > widths[i] ? String(c.prefix(widths[i] - 1)) + "…" : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    print(line(columns))
    for row in rows { print(line(row)) }
}

func query(_ socket: SocketOptions, _ query: ManagerClient.Query, _ request: QueryRequest) -> [String: Any] {
    let bytes = rawQuery(socket, query, request)
    return (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
}

/// Prints the reply's one array member (`{"users":[...]}`) as is: the daemon already wrote it as JSON.
func printRawArray(_ reply: [UInt8]) {
    guard let start = reply.firstIndex(of: UInt8(ascii: "[")), let end = reply.lastIndex(of: UInt8(ascii: "]")), start < end else {
        fail("invalid answer from the daemon")
    }
    FileHandle.standardOutput.write(Data(reply[start...end]))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

func rawQuery(_ socket: SocketOptions, _ query: ManagerClient.Query, _ request: QueryRequest) -> [UInt8] {
    let client = socket.connect()
    return attempt { () throws(ManagerError) in try client.query(query, request) }
}

let userColumns = ["id", "userPrincipalName", "displayName", "mail", "accountEnabled"]
let groupColumns = ["id", "displayName", "mail", "securityEnabled", "members"]

struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the profile's users (in scope), optionally filtered.")
    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Option(name: .long, help: "A filter expression, e.g. \"accountEnabled eq true and endswith(mail,'@contoso.com')\".") var filter: String?
    @Flag(name: .long) var json = false
    @Flag(name: .long) var csv = false

    func run() throws {
        if json { return printRawArray(rawQuery(socket, .users, QueryRequest(profile: profile, filter: filter))) }
        let reply = query(socket, .users, QueryRequest(profile: profile, filter: filter))
        printObjects(reply["users"] as? [[String: Any]] ?? [], columns: userColumns, json: json, csv: csv)
    }
}

struct Groups: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the profile's groups (in scope), optionally filtered.")
    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Option(name: .long, help: "A filter expression, e.g. \"securityEnabled eq true\".") var filter: String?
    @Flag(name: .long) var json = false
    @Flag(name: .long) var csv = false

    func run() throws {
        if json { return printRawArray(rawQuery(socket, .groups, QueryRequest(profile: profile, filter: filter))) }
        let reply = query(socket, .groups, QueryRequest(profile: profile, filter: filter))
        var groups = reply["groups"] as? [[String: Any]] ?? []
        if !json { groups = groups.map { var g = $0; g["members"] = (g["members"] as? [Any])?.count ?? 0; return g } }
        printObjects(groups, columns: groupColumns, json: json, csv: csv)
    }
}

struct Members: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Members of a group (id or display name); --transitive follows nested groups.")
    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Argument var group: String
    @Flag(name: .long) var transitive = false
    @Flag(name: .long) var json = false

    func run() throws {
        let request = QueryRequest(profile: profile, group: group, transitive: transitive)
        if json {
            // The daemon's answer is already JSON: printed as it is, not parsed and written again
            // (for a group with a hundred thousand members that took most of the time).
            FileHandle.standardOutput.write(Data(rawQuery(socket, .members, request)))
            FileHandle.standardOutput.write(Data("\n".utf8))
            return
        }
        let reply = query(socket, .members, request)
        let users = reply["users"] as? [[String: Any]] ?? []
        let groups = reply["groups"] as? [[String: Any]] ?? []
        let others = reply["others"] as? [String] ?? []
        for user in users { print("user   \(user["id"] as? String ?? "")  \(user["userPrincipalName"] as? String ?? "")  \(user["displayName"] as? String ?? "")") }
        for group in groups { print("group  \(group["id"] as? String ?? "")  \(group["displayName"] as? String ?? "")") }
        for other in others { print("other  \(other)") }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a user or group by id, userPrincipalName, mail or display name.")
    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Argument var key: String

    func run() throws {
        let reply = query(socket, .show, QueryRequest(profile: profile, key: key))
        let data = (try? JSONSerialization.data(withJSONObject: reply, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    }
}

struct Ids: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every POSIX id the profile assigned ([Linux]) as 'OBJECT-ID ID' lines.",
        discussion: "The output is an IdPinsFile= for another host: with it, that host gives the same users and groups the same uids and gids.")
    @OptionGroup var socket: SocketOptions
    @Argument var profile: String

    func run() throws {
        let client = socket.connect()
        let reply = attempt { () throws(ManagerError) in try client.posixIds(profile: profile) }
        var text = "# POSIX ids of profile \(profile) (entra-syncctl ids): OBJECT-ID ID, for IdPinsFile= in [Linux]\n"
        for pin in reply.ids { text += "\(pin.object) \(pin.id)\n" }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

Ctl.main()
