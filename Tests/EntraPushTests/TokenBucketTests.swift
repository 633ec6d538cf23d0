@testable import EntraPush
import Testing

/// MaxRequestsPerSecond='s token bucket with an injected clock: no sleeping.
@Suite("token bucket")
struct TokenBucketTests {
    @Test("a full bucket lets `burst` go at once, then one every 1/rate; idle time refills it up to `burst`, never beyond")
    func bucket() {
        var bucket = TokenBucket(rate: 100, burst: 10)
        let waits = (0..<12).map { _ in bucket.take(now: 5) }
        #expect(waits.prefix(10).allSatisfy { $0 == 0 })
        #expect(abs(waits[10] - 0.01) < 1e-9 && abs(waits[11] - 0.02) < 1e-9, "\(waits)")
        // A caller that waited as told is paced at the rate.
        #expect(abs(bucket.take(now: 5.02) - 0.01) < 1e-9)
        // A long idle spell refills 10 tokens, not 100.
        let after = (0..<11).map { _ in bucket.take(now: 10) }
        #expect(after.prefix(10).allSatisfy { $0 == 0 } && after[10] > 0, "\(after)")
        // A clock that goes backwards adds nothing.
        var steady = TokenBucket(rate: 2, burst: 1)
        #expect(steady.take(now: 100) == 0)
        #expect(steady.take(now: 99) == 0.5)
    }

    @Test("the pacer sleeps what the bucket says: 1,000 operations at 200 a second take 5 s of (injected) time, less the burst")
    func pacer() {
        var clock = 1_000.0
        var sleeps: [Double] = []
        let pacer = RequestPacer(rate: 200, now: { clock }, sleep: { sleeps.append($0); clock += $0 })
        for _ in 0..<1_000 { pacer.beforeOperation() }
        // 20 go at once (a tenth of a second's worth), the other 980 at 5 ms each.
        #expect(abs(clock - 1_000 - 980.0 / 200) < 1e-6, "\(clock - 1_000)")
        #expect(sleeps.count == 980 && sleeps.allSatisfy { $0 <= 0.005 + 1e-9 })
        #expect(abs(pacer.waited - 4.9) < 1e-6)
        // The operations in any one second of that time: never more than rate + burst.
        var sent: [Double] = []
        clock = 0
        let again = RequestPacer(rate: 200, now: { clock }, sleep: { clock += $0 })
        for _ in 0..<1_000 {
            again.beforeOperation()
            sent.append(clock)
        }
        for start in stride(from: 0.0, to: 4, by: 0.25) {
            #expect(sent.filter { $0 >= start && $0 < start + 1 }.count <= 220)
        }
    }
}
