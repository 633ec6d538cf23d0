import EntraHTTP
import EntraMirror
import Foundation
import Logging

/// A consumer that provisions the committed mirror into another system: a SCIM application
/// (`ScimPusher`) or an LDAP directory (`LdapPusher`).
///
/// Every implementation follows the same contract: it reads what the target should hold from the
/// committed mirror (never Graph), plans the minimum from what the target acknowledged, journals
/// each acknowledged operation (through `ProfileRunner.commit`) before sending the next, so a crash
/// resumes without duplicates; refused objects become `PushFailure`s retried after
/// `Backoff.refusedObject` without blocking the others; a target failure ends the push (retried
/// with `Backoff.run`); deletions beyond `deletionLimit` are held back until approved.
protocol PushTarget {
    associatedtype Desired
    var name: String { get }
    /// Pushes `desired`; returns what was done (the summary is journaled too).
    /// - Parameters:
    ///   - deletionLimit: the most deprovisions/deletions allowed without approval (nil: no limit).
    ///   - retryAll: also send objects whose failure backoff has not expired.
    func push(desired: Desired, deletionLimit: Int?, retryAll: Bool) -> PushSummary
}

/// In-memory bookkeeping of one kind of push target in a runner (not journaled).
struct PushRuntime: Sendable {
    /// The target being pushed, if any.
    var pushing: String?
    /// Pushes in a row that could not reach each target (backoff).
    var unavailableInARow: [String: Int] = [:]
    /// Deletions approved for the next push of each target.
    var allowedDeletions: [String: Int] = [:]
    var nextAttempt: Double?
    /// Pushes by target and result since the daemon started (Prometheus counters).
    var pushesByResult: [String: [String: Int]] = [:]
    var operations: [String: Int] = [:]

    /// Records a finished push of `target`.
    mutating func finished(_ target: String, _ summary: PushSummary) {
        pushing = nil
        unavailableInARow[target] = summary.result == .failed ? (unavailableInARow[target] ?? 0) + 1 : 0
        pushesByResult[target, default: [:]][summary.result.rawValue, default: 0] += 1
        operations[target, default: 0] += summary.operations
    }

    /// When the targets should be pushed again: an unreachable one after `Backoff.run` (30 s doubling,
    /// at most the sync interval, jittered), refused objects when their own backoff ends; nil: not before the next run.
    func nextPush(_ targets: [(name: String, lastPush: PushSummary?, failures: [PushFailure])], interval: Double, now: Double) -> Double? {
        var next: Double?
        for target in targets {
            guard let last = target.lastPush else { continue }
            var due: Double?
            switch last.result {
            case .failed:
                due = now + Backoff.run(interval: interval).delay(afterFailures: max(1, unavailableInARow[target.name] ?? 1))
            case .partial:
                due = target.failures.map(\.nextAttempt).filter(\.isFinite).min().map { max($0, now + 5) }
            case .succeeded:
                break
            }
            if let due { next = min(next ?? due, due) }
        }
        return next
    }
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

/// A push target's state (SCIM or LDAP) in domain terms; the control service maps it to the wire.
public struct PushTargetSnapshot: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case neverPushed = "never-pushed", inSync = "in-sync", pending
        /// Some objects were refused and wait for their retry.
        case failing
        /// The last push could not reach the target.
        case unavailable
        case pushing

        static func of(pushing: Bool, lastPush: PushSummary?, failures: Int, pending: Int) -> Phase {
            if pushing { return .pushing }
            guard let lastPush else { return .neverPushed }
            if lastPush.result == .failed { return .unavailable }
            if failures > 0 { return .failing }
            return pending == 0 ? .inSync : .pending
        }
    }
    public var name: String
    /// The SCIM endpoint or the LDAP URI.
    public var endpoint: String
    public var phase: Phase
    /// Users and groups the target holds for this profile.
    public var users: Int
    public var groups: Int
    /// Operations the next push would send.
    public var pending: Int
    public var failures: [ScimFailure]
    public var lastPush: ScimPushSummary?
    public var lastSuccess: Double?
    public var nextAttempt: Double?
    /// Pushes since the daemon started (lets a client wait for the next one).
    public var pushes = 0
    /// With `plan`: one line per operation the next push would send.
    public var plan: [String]?
}

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
    func log(_ summary: PushSummary, kind: PushKind, target: String, logger: Logger) {
        let counts = "+\(summary.created) ~\(summary.updated) -\(summary.deprovisioned), members +\(summary.memberAdds) -\(summary.memberRemoves)"
        let fields: Logger.Metadata = ["\(kind.field)_OPERATIONS": "\(summary.operations)", "\(kind.field)_RESULT": "\(summary.result.rawValue)",
                                       "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"]
        switch summary.result {
        case .succeeded where summary.operations == 0:
            logger.debug("\(kind.target) \(target) is in sync")
        case .succeeded:
            logger.info("\(kind.done) \(kind.target) \(target): \(counts) in \(summary.durationMsec) ms, \(summary.requests) requests",
                        metadata: fields.merging(["MESSAGE_ID": "\(kind.pushedMessage)"]) { $1 })
        case .partial:
            logger.warning("\(kind.done) \(kind.target) \(target) in part: \(counts); \(summary.error ?? "")",
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
