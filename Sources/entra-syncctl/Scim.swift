import ArgumentParser
import EntraControl
import Foundation

struct Scim: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SCIM targets of a profile: in sync or pending, failed objects, last push.",
        discussion: "--plan prints the operations the next push would send (nothing is sent). --retry pushes now, including failed objects whose backoff has not ended, and waits. --allow-deletions N approves N deprovisions/deletions held back by MaxDeletions=. --retry and --allow-deletions need root or the admin group.")

    @OptionGroup var socket: SocketOptions
    @Argument var profile: String
    @Argument var target: String?
    @Flag(name: .long, help: "Print the operations the next push would send.") var plan = false
    @Flag(name: .long, help: "Push now, retrying failed objects, and wait.") var retry = false
    @Option(name: .long, help: "Approve this many deprovisions/deletions for the next push.") var allowDeletions: Int?
    @Flag(name: .long) var json = false

    func run() throws {
        let push = retry || allowDeletions != nil
        let request = ScimRequest(profile: profile, target: target, plan: plan ? true : nil, retry: retry ? true : nil, allowDeletions: allowDeletions)
        let client = socket.connect()
        var reply = attempt { () throws(ManagerError) in try push ? client.scimPush(request) : client.scim(request) }
        if push && plan {
            let planRequest = ScimRequest(profile: profile, target: target, plan: true)
            reply = attempt { () throws(ManagerError) in try client.scim(planRequest) }
        }
        if json { return printJSON(reply) }
        if reply.targets.isEmpty { print("profile \(profile) has no [SCIM] target") }
        for t in reply.targets { print(describe(t)) }
        if push && reply.targets.contains(where: { $0.state == "unavailable" || $0.state == "failing" }) { throw ExitCode(1) }
    }

    func describe(_ t: ScimTargetStatus) -> String {
        var lines = ["\(t.name)  \(t.endpoint)  \(t.state)",
                     "  users \(t.users), groups \(t.groups); pending \(t.pending); failed \(t.failed)"]
        if let p = t.lastPush {
            var line = "  last push: \(p.result) at \(p.finished), took \(formatDuration(p.durationMsec)): +\(p.created) ~\(p.updated) -\(p.deprovisioned), members +\(p.memberAdds) -\(p.memberRemoves), \(p.requests) requests"
            if let error = p.error { line += "\n    \(error)" }
            lines.append(line)
        }
        lines.append("  last success: \(t.lastSuccess ?? "never")")
        if let next = t.nextAttempt { lines.append("  next attempt: \(next)") }
        if !t.failures.isEmpty {
            lines.append("  failed objects:")
            for f in t.failures {
                let status = f.status == 0 ? "not sent" : "HTTP \(f.status)"
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
