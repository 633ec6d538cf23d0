@testable import EntraSync
import Testing

/// The requests a parallel full sync keeps in flight, event by event.
@Suite("adaptive concurrency")
struct AdaptiveConcurrencyTests {
    @Test("starts at 4 in slow start (one more per calm answer), up to the maximum")
    func slowStart() {
        var c = AdaptiveConcurrency(maximum: 6)
        #expect(c.limit == 4 && c.slowStart)
        c.answered(percentage: nil)
        #expect(c.limit == 5)
        c.answered(percentage: 0.5)
        #expect(c.limit == 6)
        for _ in 0..<100 { c.answered(percentage: nil) }
        #expect(c.limit == 6)
        #expect(AdaptiveConcurrency(maximum: 2).limit == 2)
    }

    @Test("after slow start, grows by one per window of calm answers")
    func grows() {
        var c = AdaptiveConcurrency(maximum: 16)
        c.answered(percentage: 0.85)
        #expect(c.limit == 4 && !c.slowStart, "a warm answer ends the slow start")
        for _ in 0..<3 { c.answered(percentage: nil) }
        #expect(c.limit == 4, "a window is `limit` answers")
        c.answered(percentage: 0.5)
        #expect(c.limit == 5)
    }

    @Test("holds at 80–90 % of the RU bucket, shrinks above, halves on a 429, never below 1")
    func backsOff() {
        var c = AdaptiveConcurrency(maximum: 16)
        c.answered(percentage: 0.85)
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

    @Test("a 429 in slow start halves the limit and ends the slow start")
    func throttledInSlowStart() {
        var c = AdaptiveConcurrency(maximum: 32)
        for _ in 0..<10 { c.answered(percentage: nil) }
        #expect(c.limit == 14)
        c.throttled()
        #expect(c.limit == 7 && !c.slowStart)
        for _ in 0..<6 { c.answered(percentage: nil) }
        #expect(c.limit == 7)
        c.answered(percentage: nil)
        #expect(c.limit == 8)
    }
}
