import EntraHTTP
import EntraMirror
import Foundation

/// A consumer that provisions the committed mirror into another system: a SCIM application
/// (`ScimPusher`) or an LDAP directory (`LdapPusher`).
///
/// Every implementation follows the same contract: it reads what the target should hold from the
/// committed mirror (never Graph), plans the minimum from what the target acknowledged, journals
/// each acknowledged operation (through `ProfileRunner.commit`) before sending the next, so a crash
/// resumes without duplicates; refused objects become `PushFailure`s retried after
/// `Backoff.refusedObject` without blocking the others; a target failure ends the push (retried
/// with `Backoff.run`); deletions beyond `deletionLimit` are held back until approved.
public protocol PushTarget {
    associatedtype Desired
    var name: String { get }
    /// Pushes `desired`; returns what was done (the summary is journaled too).
    /// - Parameters:
    ///   - deletionLimit: the most deprovisions/deletions allowed without approval (nil: no limit).
    ///   - retryAll: also send objects whose failure backoff has not expired.
    func push(desired: Desired, deletionLimit: Int?, retryAll: Bool) -> PushSummary
}

extension PushFailure {
    /// A refusal of `id`, tried again after `Backoff.refusedObject` (1 min doubling to 1 h, jittered).
    static func refused(_ id: String, isGroup: Bool, name: String, operation: String, status: Int, detail: String,
                        previous: PushFailure?) -> PushFailure {
        let attempts = (previous?.attempts ?? 0) + 1
        let now = Date().timeIntervalSince1970
        return PushFailure(objectId: id, isGroup: isGroup, name: name, operation: operation, status: status, detail: String(detail.prefix(500)),
                           attempts: attempts, at: now, nextAttempt: now + Backoff.refusedObject.delay(afterFailures: attempts))
    }

    /// An object that cannot be sent at all (e.g. no userName), shown to operators, never retried by itself.
    static func unsendable(_ id: String, why: String) -> PushFailure {
        PushFailure(objectId: id, isGroup: false, name: id, operation: "map", status: 0, detail: why, attempts: 1,
                    at: Date().timeIntervalSince1970, nextAttempt: .infinity)
    }
}

extension PushSummary {
    /// Ends a push that reached the target: partial when deletions were held back, objects failed or
    /// operations are left.
    mutating func finish(blocked: String?, failures: Int, left: Int) {
        finished = Date().timeIntervalSince1970
        failed = failures
        guard result != .failed, blocked != nil || failures > 0 || left > 0 else { return }
        result = .partial
        error = blocked ?? (failures == 0 ? "\(left) operations still pending" : "\(failures) objects failed")
    }
}
