import Foundation

/// How often a request is retried after 429, 503, 504 or a transport error, and how long it waits.
///
/// `Retry-After` (seconds, fractions allowed) wins when present, capped at `maxRetryAfter`.
/// Without it the wait follows `Backoff` (`Backoff.request` by default: 0.5–1 s, 1–2 s, 2–4 s, …,
/// at most 60 s).
public struct RetryPolicy: Sendable {
    /// Total attempts per request, the first included.
    public var maxAttempts: Int
    public var backoff: Backoff
    /// Upper bound for a server-given Retry-After, so a bogus header cannot park a run for hours.
    public var maxRetryAfter: Double

    public init(maxAttempts: Int = 6, baseDelay: Double = Backoff.request.base, maxDelay: Double = Backoff.request.cap,
                maxRetryAfter: Double = 300) {
        self.maxAttempts = maxAttempts
        self.backoff = Backoff(base: baseDelay, cap: maxDelay)
        self.maxRetryAfter = maxRetryAfter
    }

    /// Seconds to wait before the next attempt after `attempt` failed.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, retryAfter: String?, using rng: inout R) -> Double {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds.isFinite {
            return min(seconds, maxRetryAfter)
        }
        return backoff.delay(afterFailures: attempt, using: &rng)
    }
}
