@testable import EntraSync
import Testing

/// The requests a parallel full sync keeps in flight, event by event.
@Suite("adaptive concurrency")
struct AdaptiveConcurrencyTests {
    @Test("starts at 4, grows by one per window of calm answers, up to the maximum")
    func grows() {
        var c = AdaptiveConcurrency(maximum: 6)
        #expect(c.limit == 4)
        for _ in 0..<3 { c.answered(percentage: nil) }
        #expect(c.limit == 4, "a window is `limit` answers")
        c.answered(percentage: 0.5)
        #expect(c.limit == 5)
        for _ in 0..<100 { c.answered(percentage: nil) }
        #expect(c.limit == 6)
        #expect(AdaptiveConcurrency(maximum: 2).limit == 2)
    }

    @Test("holds at 80–90 % of the RU bucket, shrinks above, halves on a 429, never below 1")
    func backsOff() {
        var c = AdaptiveConcurrency(maximum: 16)
        for _ in 0..<3 { c.answered(percentage: nil) }
        c.answered(percentage: 0.85)
        for _ in 0..<3 { c.answered(percentage: nil) }
        #expect(c.limit == 4, "a warm answer restarts the window")
        c.answered(percentage: 0.95)
        #expect(c.limit == 3)
        c.throttled()
        #expect(c.limit == 1)
        c.throttled()
        c.answered(percentage: 1.2)
        #expect(c.limit == 1)
        c.answered(percentage: nil)
        #expect(c.limit == 2, "and grows again once calm")
    }
}
