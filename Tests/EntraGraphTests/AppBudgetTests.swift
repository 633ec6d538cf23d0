import EntraLock
import Testing
@testable import EntraGraph

/// Graph's per-app limit shared by one app's profiles (`AppBudget`), with the time passed in.
@Suite("app budget")
struct AppBudgetTests {
    /// A budget that has seen `ru` RU answered per second for the last few seconds before `now`.
    func budget(spentPerSecond ru: Double, until now: Double) -> AppBudget {
        var budget = AppBudget()
        for second in 0..<5 {
            let at = now - 5 + Double(second)
            #expect(budget.reserve(cost: ru, now: at) == 0)
            budget.answered(cost: ru, estimated: ru, now: at)
        }
        return budget
    }

    /// That budget after two tenants' 429s at `now`: the app's limit, `retryAfter` seconds of pause.
    func appLimited(spentPerSecond ru: Double, at now: Double, retryAfter: Double) -> AppBudget {
        var budget = budget(spentPerSecond: ru, until: now)
        #expect(budget.throttled(tenant: "a", retryAfter: retryAfter, now: now) == .tenant)
        #expect(budget.throttled(tenant: "b", retryAfter: retryAfter, now: now) == .app(until: now + retryAfter, rate: ru / 2, slowed: true))
        return budget
    }

    @Test("429s from one tenant are that tenant's: the app goes on unpaced")
    func oneTenantDoesNotSlowTheApp() {
        var budget = budget(spentPerSecond: 100, until: 100)
        for t in 0..<20 {
            #expect(budget.throttled(tenant: "a", retryAfter: 5, now: 100 + Double(t)) == .tenant)
        }
        #expect(!budget.paced)
        #expect(budget.reserve(cost: 1, now: 120) == 0)
    }

    @Test("429s from two tenants far apart in time are each tenant's own")
    func tenantsFarApartAreNotTheApp() {
        var budget = budget(spentPerSecond: 100, until: 100)
        #expect(budget.throttled(tenant: "a", retryAfter: 2, now: 100) == .tenant)
        #expect(budget.throttled(tenant: "b", retryAfter: 2, now: 110.5) == .tenant)
        #expect(!budget.paced)
    }

    @Test("429s from two tenants within the window: every request of the app waits the Retry-After, then goes at half the recent rate")
    func twoTenantsPauseAndPaceTheApp() {
        var budget = budget(spentPerSecond: 32, until: 100)
        #expect(budget.throttled(tenant: "a", retryAfter: 3, now: 100) == .tenant)
        #expect(budget.throttled(tenant: "b", retryAfter: 3, now: 100) == .app(until: 103, rate: 16, slowed: true))
        #expect(budget.paced && budget.rate == 16)
        // Requests sent before the pause come back 429 too: the same round, no second decrease.
        #expect(budget.throttled(tenant: "c", retryAfter: 3, now: 101.5) == .app(until: 104.5, rate: 16, slowed: false))
        // Every request of the app, from any tenant, waits for the end of the pause; then one
        // second's worth goes at once and the rest is spaced by its cost over the rate.
        #expect(budget.reserve(cost: 1, now: 102) == 2.5)
        var waits: [Double] = []
        for _ in 0..<30 { waits.append(budget.reserve(cost: 1, now: 104.5)) }
        #expect(waits.filter { $0 == 0 }.count == 16, "\(waits)")
        #expect(waits.last == 14 * 0.0625, "\(waits)")
        #expect(zip(waits.dropFirst(16), waits.dropFirst(17)).allSatisfy { $1 - $0 == 0.0625 }, "\(waits)")
    }

    @Test("a later round of 429s halves the pace again, never below the floor")
    func laterRoundsHalveAgain() {
        var budget = appLimited(spentPerSecond: 8, at: 100, retryAfter: 1)
        for step in 1...6 {
            let now = 101 + Double(step) * 0.5
            budget.answered(cost: 1, estimated: 1, now: now)
            guard case .app(_, _, let slowed) = budget.throttled(tenant: "c", retryAfter: 0.4, now: now) else {
                Issue.record("not the app's limit at step \(step)")
                return
            }
            #expect(slowed, "step \(step)")
        }
        #expect(budget.rate == budget.settings.floorRate)
    }

    @Test("without signals the pace grows by a quarter per second and is unpaced again above Graph's documented rate")
    func paceRecovers() {
        var budget = appLimited(spentPerSecond: 1000, at: 100, retryAfter: 2)
        _ = budget.reserve(cost: 1, now: 101)  // during the pause: no growth
        #expect(budget.rate == 500)
        _ = budget.reserve(cost: 1, now: 105)  // three quiet seconds after the pause ended at 102
        #expect(abs(budget.rate - 500 * 1.25 * 1.25 * 1.25) < 1e-9)
        #expect(budget.paced)
        _ = budget.reserve(cost: 1, now: 120)
        #expect(!budget.paced && budget.rate == budget.documentedRate)
        #expect(budget.reserve(cost: 1, now: 120) == 0)
    }

    @Test("what a request really cost (x-ms-resource-unit) moves the next paced request")
    func answeredCostCorrectsTheEstimate() {
        var budget = appLimited(spentPerSecond: 32, at: 100, retryAfter: 1)
        // At the end of the pause a second's worth goes at once, at 1 RU each.
        for _ in 0..<17 { #expect(budget.reserve(cost: 1, now: 101) == 0) }
        #expect(budget.reserve(cost: 1, now: 101) == 0.0625)
        // It cost 5 RU, not 1: the next waits 4/16 s more.
        budget.answered(cost: 5, estimated: 1, now: 101)
        #expect(budget.reserve(cost: 1, now: 101) == 0.375)
    }

    @Test("profiles of one app share one throttle, whatever the ClientId's case; another app has its own")
    func throttlesAreSharedByClientId() {
        let throttles = AppThrottles()
        let a = throttles.throttle(clientId: "11111111-2222-3333-4444-555555555555")
        #expect(throttles.throttle(clientId: "11111111-2222-3333-4444-555555555555".uppercased()) === a)
        #expect(throttles.throttle(clientId: "99999999-2222-3333-4444-555555555555") !== a)
    }

    @Test("the shared throttle reads its injected clock: two tenants of the app slow both their clients")
    func throttleUsesItsClock() {
        let now = Locked(50.0)
        let throttle = AppThrottle(clientId: "app", clock: { now.withLock { $0 } })
        for _ in 0..<10 {
            #expect(throttle.reserve() == 0)
            throttle.answered(cost: 2)
        }
        #expect(throttle.throttled(tenant: "T1", retryAfter: 4) == .tenant)
        #expect(throttle.pace == nil)
        guard case .app(let until, _, true) = throttle.throttled(tenant: "t2", retryAfter: 4) else {
            Issue.record("two tenants did not make the app's limit")
            return
        }
        #expect(until == 54)
        #expect(throttle.pace == 10)  // 20 RU answered within a second, halved
        now.withLock { $0 = 53 }
        #expect(throttle.reserve() == 1)
    }
}
