import EntraHTTP
@testable import EntraMirror
@testable import EntraSync
import Testing
import TestSupport

/// The schedule of a profile's runs, event by event: no timers, no sleeping, time is a number.
@Suite("run scheduler")
struct RunSchedulerTests {
    static let hour = 3600.0
    static let t0 = 1_800_000_000.0

    static func summary(_ result: RunSummary.Result, finished: Double) -> RunSummary {
        RunSummary(runId: "r", result: result, full: false, started: finished - 5, finished: finished)
    }

    static func armed(_ actions: [RunScheduler.Action]) -> Double? {
        for case .armTimer(let at) in actions { return at }
        return nil
    }

    @Test("first run: at once without history, spread over at most 2 s; otherwise one interval after the last success")
    func firstRun() {
        var rng = SeededGenerator(seed: 1)
        for _ in 0..<100 {
            var fresh = RunScheduler(settings: .init(interval: Self.hour, randomizedDelay: 60))
            let at = Self.armed(fresh.start(now: Self.t0, lastRun: nil, using: &rng))!
            #expect(at >= Self.t0 && at <= Self.t0 + RunScheduler.startSpread)

            var recent = RunScheduler(settings: .init(interval: Self.hour, randomizedDelay: 60))
            let last = Self.summary(.succeeded, finished: Self.t0 - 600)
            let next = Self.armed(recent.start(now: Self.t0, lastRun: last, using: &rng))!
            #expect(next >= Self.t0 + 3000 && next <= Self.t0 + 3060, "one interval after the last run, plus up to RandomizedDelay")
            #expect(recent.nextRun == next)

            var failed = RunScheduler(settings: .init(interval: Self.hour, randomizedDelay: 0))
            #expect(Self.armed(failed.start(now: Self.t0, lastRun: Self.summary(.failed, finished: Self.t0 - 10), using: &rng)) == Self.t0)
        }
    }

    @Test("the timer starts a run; one interval after a success, Backoff after failures, never later than the interval")
    func intervalAndBackoff() {
        var rng = SeededGenerator(seed: 2)
        var scheduler = RunScheduler(settings: .init(interval: 600, randomizedDelay: 0))
        #expect(scheduler.timerFired() == [.startRun(full: false)])
        #expect(scheduler.running)
        #expect(Self.armed(scheduler.runFinished(.succeeded, now: Self.t0, using: &rng)) == Self.t0 + 600)
        var previousCeiling = 0.0
        for failures in 1...8 {
            _ = scheduler.timerFired()
            let at = Self.armed(scheduler.runFinished(failures.isMultiple(of: 3) ? .blocked : .failed, now: Self.t0, using: &rng))!
            let ceiling = Backoff.run(interval: 600).ceiling(afterFailures: failures)
            #expect(at - Self.t0 >= ceiling / 2 && at - Self.t0 <= ceiling, "failure \(failures): \(at - Self.t0)")
            #expect(ceiling >= previousCeiling && ceiling <= 600)
            previousCeiling = ceiling
        }
        #expect(scheduler.consecutiveFailures == 8)
        _ = scheduler.timerFired()
        #expect(Self.armed(scheduler.runFinished(.succeeded, now: Self.t0, using: &rng)) == Self.t0 + 600)
        #expect(scheduler.consecutiveFailures == 0)
    }

    @Test("RandomizedDelay jitters every scheduled run within its bound, and does jitter")
    func jitter() {
        var rng = SeededGenerator(seed: 3)
        var scheduler = RunScheduler(settings: .init(interval: 600, randomizedDelay: 30))
        var seen = Set<Int>()
        for _ in 0..<200 {
            _ = scheduler.timerFired()
            let wait = Self.armed(scheduler.runFinished(.succeeded, now: Self.t0, using: &rng))! - Self.t0
            #expect(wait >= 600 && wait <= 630)
            seen.insert(Int(wait))
        }
        #expect(seen.count > 10)
    }

    @Test("run-now joins a run in progress, and the timer firing during a run starts nothing")
    func runNowJoins() {
        var rng = SeededGenerator(seed: 4)
        var scheduler = RunScheduler(settings: .init(interval: 600, randomizedDelay: 0))
        let (first, actions) = scheduler.runRequested(full: true)
        #expect(first == .started && actions == [.startRun(full: true)])
        #expect(scheduler.runRequested(full: false) == (.joined, []))
        #expect(scheduler.timerFired().isEmpty)
        #expect(scheduler.nextRun == nil)
        #expect(Self.armed(scheduler.runFinished(.succeeded, now: Self.t0, using: &rng)) == Self.t0 + 600)
        #expect(scheduler.runRequested(full: false).0 == .started)
    }

    @Test("reload: a new interval reschedules an idle profile at once; a running one takes it when its run ends")
    func reload() {
        var rng = SeededGenerator(seed: 5)
        let last = Self.summary(.succeeded, finished: Self.t0)
        var scheduler = RunScheduler(settings: .init(interval: Self.hour, randomizedDelay: 0))
        #expect(Self.armed(scheduler.start(now: Self.t0, lastRun: last, using: &rng)) == Self.t0 + Self.hour)
        #expect(scheduler.reload(.init(interval: Self.hour, randomizedDelay: 0), now: Self.t0 + 5, lastRun: last, using: &rng).isEmpty)
        #expect(Self.armed(scheduler.reload(.init(interval: 600, randomizedDelay: 0), now: Self.t0 + 5, lastRun: last, using: &rng)) == Self.t0 + 600)

        _ = scheduler.timerFired()
        #expect(scheduler.reload(.init(interval: 120, randomizedDelay: 0), now: Self.t0 + 700, lastRun: last, using: &rng).isEmpty,
                "a running profile is not rescheduled")
        #expect(Self.armed(scheduler.runFinished(.succeeded, now: Self.t0 + 710, using: &rng)) == Self.t0 + 830)
    }

    @Test("stop during a run: the timer is disarmed, nothing is scheduled after the run, run-now is refused")
    func stopDuringARun() {
        var rng = SeededGenerator(seed: 6)
        var scheduler = RunScheduler(settings: .init(interval: 600, randomizedDelay: 0))
        _ = scheduler.timerFired()
        #expect(scheduler.stop() == [.disarmTimer])
        #expect(scheduler.runFinished(.cancelled, now: Self.t0, using: &rng).isEmpty)
        #expect(scheduler.runFinished(.succeeded, now: Self.t0, using: &rng).isEmpty)
        #expect(scheduler.runRequested(full: false) == (.refused, []))
        #expect(scheduler.timerFired().isEmpty)
        #expect(scheduler.start(now: Self.t0, lastRun: nil, using: &rng).isEmpty)
        #expect(scheduler.nextRun == nil)
    }
}
