import Foundation

/// How often and how long a Graph request is retried after 429, 503, 504 or a transport error.
///
/// `Retry-After` (seconds, fractions allowed) wins when present. Without it, the wait for
/// attempt *n* (1-based) is `min(maxDelay, baseDelay * 2^(n-1))`, jittered to between 50 % and 100 %:
///
/// | attempt | base 1 s, max 60 s |
/// |---|---|
/// | 1 | 0.5–1 s |
/// | 2 | 1–2 s |
/// | 3 | 2–4 s |
/// | 4 | 4–8 s |
/// | 5 | 8–16 s |
/// | 7+ | 30–60 s |
public struct RetryPolicy: Sendable {
    /// Total attempts per request, the first included.
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    /// Upper bound for a server-given Retry-After, so a bogus header cannot park a run for hours.
    public var maxRetryAfter: Double

    public init(maxAttempts: Int = 6, baseDelay: Double = 1, maxDelay: Double = 60, maxRetryAfter: Double = 300) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// Seconds to wait before the next attempt after `attempt` failed.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, retryAfter: String?, using rng: inout R) -> Double {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds.isFinite {
            return min(seconds, maxRetryAfter)
        }
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(maxDelay, baseDelay * Double(1 << exponent))
        return ceiling * Double.random(in: 0.5...1.0, using: &rng)
    }
}
