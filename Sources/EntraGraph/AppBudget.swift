import Foundation

/// Graph's per-app limit as one app's profiles see it together: when their requests may go, and
/// when a 429 means the app rather than one tenant. Pure: time is passed in (seconds, monotonic).
///
/// Graph throttles an app twice: per app and tenant (3,500 / 5,000 / 8,000 RU per 10 s by the
/// tenant's size) and per app across every tenant (150,000 RU per 20 s). The profiles that share a
/// `ClientId` share one `AppBudget` (through `AppThrottle`):
/// - a 429 from one tenant is that tenant's bucket: only that tenant's client waits its `Retry-After`
///   (`GraphClient`), the app's other profiles go on;
/// - 429s from `tenantsForAppLimit` different tenants within `signalWindow` are the per-app bucket:
///   every profile of the app waits out the `Retry-After`, then the app's requests are paced together
///   (additive-increase/multiplicative-decrease on RU per second):
///
/// | event | RU per second the app's profiles send |
/// |---|---|
/// | start, and long after the last signal | unpaced: Graph's documented 7,500 (150,000 per 20 s, in bursts) |
/// | per-app limit seen | half of what the app spent per second lately (at least `floorRate`); once per `Retry-After` |
/// | each `increaseEvery` seconds without a signal | × `increaseFactor`; unpaced again above the documented rate |
///
/// Paced requests are spaced by their cost over the rate (a GCRA), with bursts of at most
/// `pacedBurst` seconds of the rate; unpaced ones only by the documented bucket.
public struct AppBudget: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Graph's per-app bucket across tenants: `capacity` RU refilled in `window` seconds.
        public var capacity = 150_000.0
        public var window = 20.0
        /// How many different tenants' 429s within `signalWindow` seconds mean the app's limit.
        public var tenantsForAppLimit = 2
        public var signalWindow = 10.0
        /// The slowest pace, RU per second.
        public var floorRate = 1.0
        /// Seconds of the paced rate that may go at once.
        public var pacedBurst = 1.0
        public var increaseEvery = 1.0
        public var increaseFactor = 1.25
        public init() {}
    }

    public enum Verdict: Sendable, Equatable {
        /// One tenant's bucket: its own client waits, the app goes on.
        case tenant
        /// The app's bucket: every profile of the app waits until `until`, then goes at `rate` RU/s.
        /// `slowed`: this 429 lowered the rate (the first of its round).
        case app(until: Double, rate: Double, slowed: Bool)
    }

    public let settings: Settings
    /// RU per second while paced.
    public private(set) var rate: Double
    public private(set) var paced = false
    /// No request of the app goes before this.
    public private(set) var pausedUntil = 0.0
    /// The GCRA's theoretical arrival time: when the app's requests so far would have gone at `rate`.
    private var arrival = 0.0
    /// When the pace last changed (the increase steps count from it).
    private var changed = 0.0
    /// 429s answered before this belong to the round that already lowered the rate.
    private var roundEnds = 0.0
    /// The last 429 of each tenant, within `signalWindow`.
    private var throttledTenants: [String: Double] = [:]
    /// RU the app's answered requests cost, within `signalWindow`.
    private var spent: [(at: Double, cost: Double)] = []

    public init(settings: Settings = .init()) {
        self.settings = settings
        self.rate = settings.capacity / settings.window
    }

    /// The unpaced rate: Graph's documented per-app bucket.
    public var documentedRate: Double { settings.capacity / settings.window }

    /// Reserves `cost` RU for a request about to be sent; returns the seconds to wait before sending it.
    public mutating func reserve(cost: Double, now: Double) -> Double {
        speedUp(now)
        let tolerance = paced ? settings.pacedBurst : settings.window
        let sendAt = max(now, pausedUntil, arrival - tolerance)
        arrival = max(arrival, sendAt) + cost / rate
        return sendAt - now
    }

    /// A request was answered (not throttled) and cost `cost` RU (`x-ms-resource-unit`), against the
    /// `estimated` it reserved.
    public mutating func answered(cost: Double, estimated: Double, now: Double) {
        arrival += (cost - estimated) / rate
        spent.append((now, cost))
        prune(now)
    }

    /// A request of `tenant` was answered 429 with `retryAfter` seconds.
    public mutating func throttled(tenant: String, retryAfter: Double, now: Double) -> Verdict {
        throttledTenants[tenant] = now
        prune(now)
        guard throttledTenants.count >= settings.tenantsForAppLimit else { return .tenant }
        pausedUntil = max(pausedUntil, now + retryAfter)
        arrival = max(arrival, pausedUntil)
        var slowed = false
        if now >= roundEnds {
            rate = max(settings.floorRate, min(rate, recentRate(now)) / 2)
            paced = true
            slowed = true
            // Requests already sent come back 429 too: one decrease per round.
            roundEnds = pausedUntil
        }
        changed = max(changed, pausedUntil)
        return .app(until: pausedUntil, rate: rate, slowed: slowed)
    }

    /// RU per second the app spent within `signalWindow`, over at least a second.
    private func recentRate(_ now: Double) -> Double {
        guard let first = spent.first?.at else { return settings.floorRate }
        let total = spent.reduce(0) { $0 + $1.cost }
        return total / max(1, min(settings.signalWindow, now - first))
    }

    private mutating func speedUp(_ now: Double) {
        guard paced, now >= changed + settings.increaseEvery else { return }
        let steps = ((now - changed) / settings.increaseEvery).rounded(.down)
        changed += steps * settings.increaseEvery
        rate *= pow(settings.increaseFactor, steps)
        if rate >= documentedRate {
            rate = documentedRate
            paced = false
        }
    }

    private mutating func prune(_ now: Double) {
        let horizon = now - settings.signalWindow
        throttledTenants = throttledTenants.filter { $0.value >= horizon }
        if let keep = spent.firstIndex(where: { $0.at >= horizon }) { spent.removeFirst(keep) } else { spent = [] }
    }
}
