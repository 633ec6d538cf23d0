/// How many Graph requests a parallel full sync keeps in flight: a pure state machine fed with
/// each request's outcome (AIMD, like TCP's congestion window).
///
/// | event | limit |
/// |---|---|
/// | start | `min(4, maximum)` |
/// | `limit` requests in a row answered below 80 % of the RU bucket | +1, up to `maximum` |
/// | a response at 80–90 % (`x-ms-throttle-limit-percentage`) | unchanged |
/// | a response at 90 % or more | −1, at least 1 |
/// | a 429 | halved, at least 1 |
///
/// Waiting out `Retry-After` is the Graph client's: after a 429 every request of the client
/// waits until then (`GraphClient.get`).
struct AdaptiveConcurrency: Sendable, Equatable {
    let maximum: Int
    private(set) var limit: Int
    private var calm = 0

    init(maximum: Int) {
        self.maximum = max(1, maximum)
        limit = min(4, self.maximum)
    }

    /// A request answered; `percentage`: its `x-ms-throttle-limit-percentage`, if any.
    mutating func answered(percentage: Double?) {
        switch percentage ?? 0 {
        case ..<0.8:
            calm += 1
            if calm >= limit {
                limit = min(maximum, limit + 1)
                calm = 0
            }
        case ..<0.9:
            calm = 0
        default:
            limit = max(1, limit - 1)
            calm = 0
        }
    }

    /// Graph answered 429 (once per 429, however many requests saw it).
    mutating func throttled() {
        limit = max(1, limit / 2)
        calm = 0
    }
}
