import Dispatch
import EntraLock

/// The `AppBudget` of one app (`ClientId`), shared by every `GraphClient` of the profiles that use it.
/// `SyncManager` holds them (`AppThrottles`); a client asks before each request and reports what
/// Graph answered.
public final class AppThrottle: Sendable {
    public let clientId: String
    private let budget: Locked<AppBudget>
    private let clock: @Sendable () -> Double

    /// - Parameter clock: seconds on a monotonic clock (tests pass their own).
    public init(clientId: String, settings: AppBudget.Settings = .init(), clock: @escaping @Sendable () -> Double = AppThrottle.uptime) {
        self.clientId = clientId
        self.budget = Locked(AppBudget(settings: settings))
        self.clock = clock
    }

    @Sendable public static func uptime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Seconds the next request of the app (costing about `cost` RU) waits before it is sent.
    public func reserve(cost: Double = 1) -> Double {
        let now = clock()
        return budget.withLock { $0.reserve(cost: cost, now: now) }
    }

    /// A request was answered; `cost` is its `x-ms-resource-unit` when Graph said.
    public func answered(cost: Double?, estimated: Double = 1) {
        let now = clock()
        budget.withLock { $0.answered(cost: cost ?? estimated, estimated: estimated, now: now) }
    }

    /// A request for `tenant` was answered 429 after `retryAfter` seconds: the tenant's or the app's limit.
    public func throttled(tenant: String, retryAfter: Double) -> AppBudget.Verdict {
        let now = clock()
        return budget.withLock { $0.throttled(tenant: tenant.lowercased(), retryAfter: retryAfter, now: now) }
    }

    /// Whether the app's profiles are paced now, and at how many RU per second.
    public var pace: Double? { budget.withLock { $0.paced ? $0.rate : nil } }
}

/// Every app's `AppThrottle`, by `ClientId` (case-insensitive): profiles of one app get the same one.
public final class AppThrottles: Sendable {
    private let throttles = Locked<[String: AppThrottle]>([:])
    private let settings: AppBudget.Settings

    public init(settings: AppBudget.Settings = .init()) {
        self.settings = settings
    }

    public func throttle(clientId: String) -> AppThrottle {
        let key = clientId.lowercased()
        return throttles.withLock { all in
            if let existing = all[key] { return existing }
            let made = AppThrottle(clientId: key, settings: settings)
            all[key] = made
            return made
        }
    }
}
