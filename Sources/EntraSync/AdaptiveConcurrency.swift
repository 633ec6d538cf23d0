/// How many Graph requests a parallel full sync keeps in flight: a pure state machine fed with
/// each request's outcome (like TCP's congestion window: a slow start, then AIMD).
///
/// | event | limit |
/// |---|---|
/// | start | `min(4, maximum)`, in slow start |
/// | in slow start: a request answered below 80 % of the RU bucket | +1 (doubles a round trip), up to `maximum` |
/// | after it: `limit` requests in a row answered below 80 % | +1, up to `maximum` |
/// | a response at 80–90 % (`x-ms-throttle-limit-percentage`) | unchanged; slow start ends |
/// | a response at 90 % or more | −1, at least 1; slow start ends |
/// | a 429 | halved, at least 1; slow start ends |
///
/// The slow start matters at Graph's time per page: at 500 ms a request, growing by one a window
/// took about 500 answers from 4 to 32, most of an L tenant's parallel read. The bucket warns at
/// 80 %, so the first warning comes with a fifth of it (1,600 RU of 8,000) still there.
///
/// Waiting out `Retry-After` is the Graph client's: after a 429 every request of the client
/// waits until then (`GraphClient.get`).
struct AdaptiveConcurrency: Sendable, Equatable {
    let maximum: Int
    private(set) var limit: Int
    private var calm = 0
    private(set) var slowStart = true

    init(maximum: Int) {
        self.maximum = max(1, maximum)
        limit = min(4, self.maximum)
    }

    /// A request answered; `percentage`: its `x-ms-throttle-limit-percentage`, if any.
    mutating func answered(percentage: Double?) {
        switch percentage ?? 0 {
        case ..<0.8:
            calm += 1
            if slowStart || calm >= limit {
                limit = min(maximum, limit + 1)
                calm = 0
            }
        case ..<0.9:
            calm = 0
            slowStart = false
        default:
            limit = max(1, limit - 1)
            calm = 0
            slowStart = false
        }
    }

    /// Graph answered 429 (once per 429, however many requests saw it).
    mutating func throttled() {
        limit = max(1, limit / 2)
        calm = 0
        slowStart = false
    }
}
