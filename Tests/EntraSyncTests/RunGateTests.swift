import EntraMirror
@testable import EntraSync
import Testing
import TestSupport

/// The daemon-wide limit on runs and the spread of first runs: events in, decisions out, no clock.
@Suite("run gate")
struct RunGateTests {
    @Test("at most the limit run at once; the others wait in the order they asked and start as runs end")
    func limitAndOrder() {
        var gate = RunGate(limit: 3)
        for name in ["a", "b", "c"] { #expect(gate.request(name) == .admitted) }
        #expect(gate.request("d") == .queued(position: 1))
        #expect(gate.request("e") == .queued(position: 2))
        #expect(gate.request("d") == .queued(position: 1), "asking again keeps the place")
        #expect(gate.running == ["a", "b", "c"])
        #expect(gate.finished("b") == ["d"])
        #expect(gate.request("f") == .queued(position: 2), "a newcomer goes behind those waiting")
        #expect(gate.finished("a") == ["e"])
        #expect(gate.finished("c") == ["f"])
        #expect(gate.finished("d") == [])
        #expect(gate.running == ["e", "f"])
        #expect(gate.request("a") == .admitted, "a slot is free and nobody waits")
    }

    @Test("a profile that leaves while it waits gives up its place and admits nobody")
    func withdrawWhileWaiting() {
        var gate = RunGate(limit: 1)
        #expect(gate.request("a") == .admitted)
        #expect(gate.request("b") == .queued(position: 1))
        #expect(gate.request("c") == .queued(position: 2))
        #expect(gate.finished("b") == [])
        #expect(gate.waiting == ["c"])
        #expect(gate.finished("a") == ["c"])
        #expect(gate.setLimit(0) == [] && gate.limit == 1, "the limit is at least 1")
    }

    @Test("many profiles asking at random: never more than the limit, each admitted in turn, none starved")
    func randomLoad() {
        var rng = SeededGenerator(seed: 7)
        for limit in [1, 2, 4, 7] {
            var gate = RunGate(limit: limit)
            var asked: [String] = []  // waiting, in order
            var admittedOrder: [String] = []
            var running: Set<String> = []
            var done = 0
            while done < 500 {
                if Bool.random(using: &rng) || running.isEmpty {
                    let name = "p\(Int.random(in: 0..<40, using: &rng))"
                    guard !running.contains(name), !asked.contains(name) else { continue }
                    switch gate.request(name) {
                    case .admitted:
                        #expect(asked.isEmpty)
                        running.insert(name)
                    case .queued(let position):
                        asked.append(name)
                        #expect(position == asked.count)
                    }
                } else {
                    let name = running.randomElement(using: &rng)!
                    running.remove(name)
                    let next = gate.finished(name)
                    done += 1
                    #expect(next == Array(asked.prefix(next.count)), "first asked, first admitted")
                    asked.removeFirst(next.count)
                    admittedOrder += next
                    running.formUnion(next)
                }
                #expect(running.count <= limit)
                #expect(gate.running == running)
                #expect(asked.isEmpty || running.count == limit, "nobody waits while a slot is free")
            }
        }
    }

    @Test("the default limit: twice the cores, at least 4")
    func defaultLimit() {
        #expect(RunGate.defaultLimit(cores: 1) == 4)
        #expect(RunGate.defaultLimit(cores: 2) == 4)
        #expect(RunGate.defaultLimit(cores: 16) == 32)
    }

    @Test("first runs of many profiles spread over the window, evenly, each profile at the same place every start")
    func startSpread() {
        #expect(RunScheduler.startWindow(profiles: 1) == 0)
        #expect(RunScheduler.startWindow(profiles: 100) == 3)
        #expect(RunScheduler.startWindow(profiles: 3000) == RunScheduler.maxStartWindow)
        let window = RunScheduler.startWindow(profiles: 1000)
        let offsets = (0..<1000).map { RunScheduler.startOffset(profile: "tenant-\($0)", window: window) }
        #expect(offsets.allSatisfy { $0 >= 0 && $0 < window })
        var buckets = [Int](repeating: 0, count: 10)
        for offset in offsets { buckets[Int(offset / window * 10)] += 1 }
        #expect(buckets.allSatisfy { $0 >= 60 && $0 <= 140 }, "uneven: \(buckets)")
        #expect(RunScheduler.startOffset(profile: "tenant-1", window: window) == offsets[1])
        #expect(RunScheduler.startOffset(profile: "tenant-1", window: 0) == 0)

        var rng = SeededGenerator(seed: 3)
        var scheduler = RunScheduler(settings: .init(interval: 3600, randomizedDelay: 0))
        let t0 = 1_800_000_000.0
        #expect(scheduler.start(now: t0, lastRun: nil, spread: offsets[5], using: &rng) == [.armTimer(at: t0 + offsets[5])])
        // A run not due at once keeps its time: the spread is for runs due now.
        var recent = RunScheduler(settings: .init(interval: 3600, randomizedDelay: 0))
        let last = RunSummary(runId: "r", result: .succeeded, full: false, started: t0 - 605, finished: t0 - 600)
        #expect(recent.start(now: t0, lastRun: last, spread: 20, using: &rng) == [.armTimer(at: t0 + 3000)])
    }
}
