import Foundation

/// A token bucket (pure: time is passed in): `rate` tokens a second, at most `burst` saved up.
///
/// Each operation takes a token; when none is left the operation is still granted, with the time
/// to wait before it goes, so callers that wait as told send at most `rate` a second on average and
/// `burst` at once after an idle spell. With `rate` 100 and `burst` 10:
///
/// | at (s) | operations asked | waits |
/// |---|---|---|
/// | 0 | 12 | 10 at once, then 0.01 s, 0.02 s |
/// | 1 (idle since) | 1 | none (the bucket refilled to 10) |
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    /// Tokens left at `last` (negative: operations already granted ahead of time).
    private var tokens: Double
    private var last: Double?

    public init(rate: Double, burst: Double) {
        precondition(rate > 0 && burst >= 1)
        self.rate = rate
        self.burst = burst
        tokens = burst
    }

    /// Takes a token at `now` (seconds, any monotonic origin); returns how long to wait before sending.
    public mutating func take(now: Double) -> Double {
        if let last { tokens = min(burst, tokens + max(0, now - last) * rate) }
        last = now
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}

/// `MaxRequestsPerSecond=` for one push: before each operation, waits as the bucket says
/// (a tenth of a second's worth of burst, at least one operation).
final class RequestPacer {
    private var bucket: TokenBucket
    private let now: () -> Double
    private let sleep: (Double) -> Void
    /// Seconds waited so far (for tests and the log).
    private(set) var waited: Double = 0

    init(rate: Double, now: @escaping () -> Double = { ProcessInfo.processInfo.systemUptime },
         sleep: @escaping (Double) -> Void = { usleep(useconds_t(min($0, 10) * 1_000_000)) }) {
        bucket = TokenBucket(rate: rate, burst: max(1, (rate / 10).rounded(.down)))
        self.now = now
        self.sleep = sleep
    }

    func beforeOperation() {
        let wait = bucket.take(now: now())
        guard wait > 0 else { return }
        sleep(wait)
        waited += wait
    }
}
