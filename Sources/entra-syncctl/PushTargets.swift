import ArgumentParser
import EntraControl
import Foundation

/// The arguments of `scim` and `ldap`.
struct PushTargetOptions: ParsableArguments {
    @Argument var profile: String
    @Argument var target: String?
    @Flag(name: .long, help: "Print the operations the next push would send.") var plan = false
    @Flag(name: .long, help: "Push now, retrying failed objects, and wait.") var retry = false
    @Option(name: .long, help: "Approve this many deprovisions/deletions for the next push.") var allowDeletions: Int?
    @Flag(name: .long) var json = false
}

/// What `scim` and `ldap` share: the same options, calls and output, for one kind of push target.
protocol PushTargetCommand: ParsableCommand {
    var socket: SocketOptions { get }
    var options: PushTargetOptions { get }
    /// "SCIM", "LDAP".
    static var section: String { get }
    /// How a refused object's status reads: "HTTP 409", "LDAP result 68".
    static func refusal(_ status: Int) -> String
    static func status(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply
    static func push(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply
}

extension PushTargetCommand {
    static func discussion(_ objects: String) -> String {
        "--plan prints the operations the next push would send (nothing is sent). --retry pushes now, including failed \(objects) whose backoff has not ended, and waits. --allow-deletions N approves N deprovisions/deletions held back by MaxDeletions=. --retry and --allow-deletions need root or the admin group."
    }

    func run() throws {
        let (profile, target, plan, retry, allowDeletions, json) = (options.profile, options.target, options.plan, options.retry,
                                                                    options.allowDeletions, options.json)
        let push = retry || allowDeletions != nil
        let request = PushTargetRequest(profile: profile, target: target, plan: plan ? true : nil, retry: retry ? true : nil, allowDeletions: allowDeletions)
        let client = socket.connect()
        var reply = attempt { () throws(ManagerError) in try push ? Self.push(client, request) : Self.status(client, request) }
        if push && plan {
            let planRequest = PushTargetRequest(profile: profile, target: target, plan: true)
            reply = attempt { () throws(ManagerError) in try Self.status(client, planRequest) }
        }
        if json { return printJSON(reply) }
        if reply.targets.isEmpty { print("profile \(profile) has no [\(Self.section)] target") }
        for t in reply.targets { print(describe(t)) }
        if push && reply.targets.contains(where: { $0.state == "unavailable" || $0.state == "failing" }) { throw ExitCode(1) }
    }

    func describe(_ t: ScimTargetStatus) -> String {
        var lines = ["\(t.name)  \(t.endpoint)  \(t.state)",
                     "  users \(t.users), groups \(t.groups); pending \(t.pending < 0 ? "?" : String(t.pending)); failed \(t.failed)"]
        if let p = t.lastPush {
            var line = "  last push: \(p.result) at \(p.finished), took \(formatDuration(p.durationMsec)): +\(p.created) ~\(p.updated) -\(p.deprovisioned), members +\(p.memberAdds) -\(p.memberRemoves), \(p.requests) requests"
            if let error = p.error { line += "\n    \(error)" }
            lines.append(line)
        }
        lines.append("  last success: \(t.lastSuccess ?? "never")")
        if Self.section == "LDAP" { lines.append("  last drift repair: \(t.lastReconcile ?? "never")") }
        if let next = t.nextAttempt { lines.append("  next attempt: \(next)") }
        if !t.failures.isEmpty {
            lines.append("  failed objects:")
            for f in t.failures {
                let status = f.status == 0 ? "not sent" : Self.refusal(f.status)
                lines.append("    \(f.kind) \(f.name) (\(f.objectId)): \(f.operation): \(status): \(f.detail) [attempt \(f.attempts)\(f.nextAttempt.map { ", next \($0)" } ?? "")]")
            }
        }
        if let plan = t.plan {
            lines.append(plan.isEmpty ? "  plan: nothing to send" : "  plan (\(plan.count)):")
            lines += plan.map { "    " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}

struct Scim: PushTargetCommand {
    static let configuration = CommandConfiguration(
        abstract: "SCIM targets of a profile: in sync or pending, failed objects, last push.",
        discussion: discussion("objects"))

    @OptionGroup var socket: SocketOptions
    @OptionGroup var options: PushTargetOptions

    static let section = "SCIM"
    static func refusal(_ status: Int) -> String { "HTTP \(status)" }
    static func status(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply { try client.scim(request) }
    static func push(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply { try client.scimPush(request) }
}

struct Ldap: PushTargetCommand {
    static let configuration = CommandConfiguration(
        abstract: "LDAP targets of a profile: in sync or pending, refused entries, last push.",
        discussion: discussion("entries"))

    @OptionGroup var socket: SocketOptions
    @OptionGroup var options: PushTargetOptions

    static let section = "LDAP"
    static func refusal(_ status: Int) -> String { "LDAP result \(status)" }
    static func status(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply { try client.ldap(request) }
    static func push(_ client: ManagerClient, _ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply { try client.ldapPush(request) }
}
