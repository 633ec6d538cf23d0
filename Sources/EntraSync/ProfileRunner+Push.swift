import EntraMirror
import Logging

/// How a kind of push target names itself in logs.
struct PushKind: Sendable {
    /// "SCIM target", "LDAP target".
    var target: String
    /// What a successful push did: "pushed to", "provisioned".
    var done: String
    /// Prefix of the journald fields: ENTRA_SCIM, ENTRA_LDAP.
    var field: String
    var pushedMessage: String
    var failedMessage: String

    static let scim = PushKind(target: "SCIM target", done: "pushed to", field: "ENTRA_SCIM",
                               pushedMessage: MessageID.scimPushed, failedMessage: MessageID.scimPushFailed)
    static let ldap = PushKind(target: "LDAP target", done: "provisioned", field: "ENTRA_LDAP",
                               pushedMessage: MessageID.ldapPushed, failedMessage: MessageID.ldapPushFailed)
}

extension ProfileRunner {
    /// - Parameter afterCommitMsec: for a push that followed a run, from the run's commit to the push's end.
    func log(_ summary: PushSummary, kind: PushKind, target: String, logger: Logger, afterCommitMsec: Int? = nil) {
        let counts = "+\(summary.created) ~\(summary.updated) -\(summary.deprovisioned), members +\(summary.memberAdds) -\(summary.memberRemoves)"
        var fields: Logger.Metadata = ["\(kind.field)_OPERATIONS": "\(summary.operations)", "\(kind.field)_RESULT": "\(summary.result.rawValue)",
                                       "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"]
        if let afterCommitMsec { fields["ENTRA_AFTER_COMMIT_MSEC"] = "\(afterCommitMsec)" }
        let after = afterCommitMsec.map { ", \($0) ms after the run's commit" } ?? ""
        switch summary.result {
        case .succeeded where summary.operations == 0:
            logger.debug("\(kind.target) \(target) is in sync")
        case .succeeded:
            logger.info("\(kind.done) \(kind.target) \(target): \(counts) in \(summary.durationMsec) ms, \(summary.requests) requests\(after)",
                        metadata: fields.merging(["MESSAGE_ID": "\(kind.pushedMessage)"]) { $1 })
        case .partial:
            logger.warning("\(kind.done) \(kind.target) \(target) in part: \(counts)\(after); \(summary.error ?? "")",
                           metadata: fields.merging(["MESSAGE_ID": "\(kind.pushedMessage)"]) { $1 })
        case .failed where stopFlag.isCancelled:
            logger.notice("push to \(kind.target) \(target) stopped: the daemon is stopping; it resumes at the next start")
        case .failed:
            logger.error("push to \(kind.target) \(target) failed: \(summary.error ?? "unknown error"); done so far: \(counts)",
                         metadata: fields.merging(["MESSAGE_ID": "\(kind.failedMessage)"]) { $1 })
        }
    }

    /// True when a target's push did not finish after the last committed run (a crash or stop cut it
    /// short, or it failed; `lastPushes` has one entry per configured target).
    func pushInterrupted(_ lastPushes: [PushSummary?], lastSync: Double?) -> Bool {
        guard let lastSync else { return false }
        return lastPushes.contains { last in
            guard let last else { return true }
            return last.result != .succeeded || last.started < lastSync
        }
    }
}
