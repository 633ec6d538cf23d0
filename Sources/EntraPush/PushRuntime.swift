import EntraHTTP
import EntraMirror

/// In-memory bookkeeping of one kind of push target in a runner (not journaled).
public struct PushRuntime: Sendable {
    public init() {}

    /// The target being pushed, if any.
    public var pushing: String?
    /// Pushes in a row that could not reach each target (backoff).
    public var unavailableInARow: [String: Int] = [:]
    /// Deletions approved for the next push of each target.
    public var allowedDeletions: [String: Int] = [:]
    public var nextAttempt: Double?
    /// Pushes by target and result since the daemon started (Prometheus counters).
    public var pushesByResult: [String: [String: Int]] = [:]
    public var operations: [String: Int] = [:]
    /// The objects the mirror changed since each target's last push began: its next plan looks at
    /// those only (`LdapDesired.planned`). A target missing here gets a whole plan: after the
    /// daemon starts, a reload, a full sync or a push that failed.
    public var changedSince: [String: Set<String>] = [:]

    /// A run committed changes to `objects` (nil: to any object, a full sync).
    public mutating func committed(_ objects: Set<String>?) {
        guard let objects else { return changedSince = [:] }
        for target in changedSince.keys { changedSince[target]!.formUnion(objects) }
    }

    /// What `target`'s push that starts now must plan (nil: every entry); from now on changes count
    /// toward its next push. Called before the push reads the mirror, so no change falls between.
    public mutating func startPush(_ target: String, whole: Bool) -> Set<String>? {
        defer { changedSince[target] = [] }
        return whole ? nil : changedSince[target]
    }

    /// `target`'s push ended leaving `left` to do (nil: unknown, the next plan is whole).
    public mutating func pushEnded(_ target: String, left: Set<String>?) {
        // Absent already: a full sync committed during the push, the next plan is whole anyway.
        guard let left, changedSince[target] != nil else { return changedSince[target] = nil }
        changedSince[target]!.formUnion(left)
    }

    /// Records a finished push of `target`.
    public mutating func finished(_ target: String, _ summary: PushSummary) {
        pushing = nil
        unavailableInARow[target] = summary.result == .failed ? (unavailableInARow[target] ?? 0) + 1 : 0
        pushesByResult[target, default: [:]][summary.result.rawValue, default: 0] += 1
        operations[target, default: 0] += summary.operations
    }

    /// When the targets should be pushed again: an unreachable one after `Backoff.run` (30 s doubling,
    /// at most the sync interval, jittered), refused objects when their own backoff ends; nil: not before the next run.
    public func nextPush(_ targets: [(name: String, lastPush: PushSummary?, failures: [PushFailure])], interval: Double, now: Double) -> Double? {
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
