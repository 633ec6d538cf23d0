/// The one backoff schedule of entra-sync: every retry (a Graph request, a failed sync run, an
/// unreachable SCIM target, an object a target refused) waits by it, with its own base and cap.
///
/// After the *n*-th failure in a row (1-based) the wait is `min(cap, base × 2^(n-1))` times a
/// random factor between 0.5 and 1 ("equal jitter"): never zero, never above the cap, and
/// profiles or targets that failed together do not retry together.
///
/// | use | base | cap | 1st | 2nd | 3rd | 4th | later |
/// |---|---|---|---|---|---|---|---|
/// | Graph or SCIM request (429, 5xx, transport) | 1 s | 60 s | 0.5–1 s | 1–2 s | 2–4 s | 4–8 s | up to 30–60 s |
/// | failed sync run, unreachable push target | 30 s | `Interval=` | 15–30 s | 30–60 s | 1–2 min | 2–4 min | up to the interval |
/// | object refused by a push target | 60 s | 1 h | 30–60 s | 1–2 min | 2–4 min | 4–8 min | up to 30–60 min |
public struct Backoff: Sendable, Equatable {
    /// The ceiling of the first wait, in seconds.
    public var base: Double
    /// No wait is longer, in seconds.
    public var cap: Double

    public init(base: Double, cap: Double) {
        self.base = base
        self.cap = max(0, cap)
    }

    /// A Graph or SCIM request after 429, 5xx or a transport error (without `Retry-After`).
    public static let request = Backoff(base: 1, cap: 60)
    /// An object a push target refused.
    public static let refusedObject = Backoff(base: 60, cap: 3600)
    /// A failed sync run, or a push target that could not be reached: never later than the next regular run.
    public static func run(interval: Double) -> Backoff { Backoff(base: 30, cap: interval) }

    /// The longest wait after `failures` failures in a row (before jitter).
    public func ceiling(afterFailures failures: Int) -> Double {
        let exponent = min(max(failures - 1, 0), 40)
        return min(cap, base * Double(UInt64(1) << UInt64(exponent)))
    }

    /// The wait after `failures` failures in a row, jittered with `rng`.
    public func delay<R: RandomNumberGenerator>(afterFailures failures: Int, using rng: inout R) -> Double {
        ceiling(afterFailures: failures) * Double.random(in: 0.5...1.0, using: &rng)
    }

    /// The wait after `failures` failures in a row, jittered by the system's generator.
    public func delay(afterFailures failures: Int) -> Double {
        var rng = SystemRandomNumberGenerator()
        return delay(afterFailures: failures, using: &rng)
    }
}
