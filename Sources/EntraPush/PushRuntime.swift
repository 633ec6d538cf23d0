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
