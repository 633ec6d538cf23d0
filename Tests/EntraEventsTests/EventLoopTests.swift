import Dispatch
import Foundation
import EntraLock
import Synchronization
import Testing
@testable import EntraEvents

/// The event loop against real descriptors: a socket pair, timerfds, threads.
@Suite("event loop")
struct EventLoopTests {
    /// Counts handler runs and lets a test wait for the next ones.
    final class Hits: Sendable {
        let count = Atomic<Int>(0)
        let signal = DispatchSemaphore(value: 0)
        func hit() {
            count.add(1, ordering: .relaxed)
            signal.signal()
        }
        func wait(_ seconds: Double = 5) -> Bool { signal.wait(timeout: .now() + seconds) == .success }
    }

    func socketPair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func readSourceFiresOnItsQueueWhileDataWaitsAndStopsWhenSuspendedOrCancelled() throws {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let queue = DispatchQueue(label: "test.read")
        let key = DispatchSpecificKey<Bool>()
        queue.setSpecific(key: key, value: true)
        let hits = Hits()
        let onQueue = Atomic<Bool>(true)
        let source = EventLoop.shared.readSource(fileDescriptor: a, queue: queue)
        // Reads one byte per event: the next byte makes it fire again (level-triggered).
        source.setEventHandler {
            if DispatchQueue.getSpecific(key: key) != true { onQueue.store(false, ordering: .relaxed) }
            var byte: UInt8 = 0
            _ = read(a, &byte, 1)
            hits.hit()
        }
        source.activate()
        #expect(!hits.wait(0.1), "fired with nothing to read")
        #expect(write(b, "xy", 2) == 2)
        #expect(hits.wait() && hits.wait())
        let allOnQueue = onQueue.load(ordering: .relaxed)
        #expect(allOnQueue)

        queue.sync { source.suspend() }
        #expect(write(b, "z", 1) == 1)
        #expect(!hits.wait(0.2), "fired while suspended")
        source.resume()
        #expect(hits.wait())

        source.cancel()
        #expect(write(b, "w", 1) == 1)
        #expect(!hits.wait(0.2), "fired after cancel")
        let count = hits.count.load(ordering: .relaxed)
        #expect(count == 3)
    }

    @Test func writeSourceWatchesTheSameSocketAsAReadSource() throws {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let queue = DispatchQueue(label: "test.write")
        let reads = Hits(), writes = Hits()
        let reader = EventLoop.shared.readSource(fileDescriptor: a, queue: queue)
        reader.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: 16)
            _ = read(a, &buffer, 16)
            reads.hit()
        }
        reader.activate()
        let writer = EventLoop.shared.writeSource(fileDescriptor: a, queue: queue)
        writer.setEventHandler {
            writes.hit()
            writer.suspend()  // as a connection does once its output is sent
        }
        writer.activate()
        #expect(writes.wait())
        #expect(write(b, "ping", 4) == 4)
        #expect(reads.wait())
        writer.resume()
        #expect(writes.wait())
        reader.cancel()
        writer.cancel()
    }

    @Test func timerFiresOnceAtItsDeadlineAndARescheduleReplacesIt() throws {
        let queue = DispatchQueue(label: "test.timer")
        let hits = Hits()
        let timer = EventLoop.shared.timer(queue: queue)
        timer.setEventHandler { hits.hit() }
        timer.activate()
        #expect(!hits.wait(0.1), "fired before it was scheduled")
        let start = DispatchTime.now()
        timer.schedule(deadline: .now() + .milliseconds(50), repeating: .never, leeway: .milliseconds(1))
        #expect(hits.wait())
        #expect(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds >= 50_000_000)
        #expect(!hits.wait(0.2), "a one-shot timer fired twice")

        timer.schedule(deadline: .now() + .seconds(3600), repeating: .never, leeway: .milliseconds(1))
        timer.schedule(deadline: .now() + .milliseconds(10), repeating: .never, leeway: .milliseconds(1))
        #expect(hits.wait())
        timer.schedule(deadline: .now() + .milliseconds(10), repeating: .never, leeway: .milliseconds(1))
        timer.cancel()
        #expect(!hits.wait(0.2), "fired after cancel")
        let count = hits.count.load(ordering: .relaxed)
        #expect(count == 2)
    }

    @Test func aCancelledTimerIgnoresScheduleEvenWhenItsDescriptorNumberIsReused() throws {
        let queue = DispatchQueue(label: "test.reuse")
        let old = EventLoop.shared.timer(queue: queue)
        old.activate()
        old.cancel()
        let hits = Hits()
        let new = EventLoop.shared.timer(queue: queue)  // most likely on the descriptor `old` closed
        new.setEventHandler { hits.hit() }
        new.activate()
        old.schedule(deadline: .now(), repeating: .never, leeway: .milliseconds(1))
        #expect(!hits.wait(0.2), "scheduling a cancelled timer armed another one")
        new.cancel()
    }

    @Test func repeatingTimer() throws {
        let hits = Hits()
        let timer = EventLoop.shared.timer(queue: DispatchQueue(label: "test.repeat"))
        timer.setEventHandler { hits.hit() }
        timer.activate()
        timer.schedule(deadline: .now(), repeating: 0.02, leeway: .milliseconds(1))
        for _ in 0..<3 { #expect(hits.wait()) }
        timer.cancel()
    }

    @Test func workPoolRunsJobsAtOnceUpToItsThreads() throws {
        let pool = WorkPool(name: "test.pool", threads: 2)
        // Two jobs that each wait for the other finish only if they run at the same time.
        let first = DispatchSemaphore(value: 0), second = DispatchSemaphore(value: 0)
        let done = Hits()
        pool.async { first.signal(); _ = second.wait(timeout: .now() + 5); done.hit() }
        pool.async { second.signal(); _ = first.wait(timeout: .now() + 5); done.hit() }
        #expect(done.wait(2) && done.wait(2))
        // Many more jobs than threads all run, in the order given when there is one thread.
        let serial = WorkPool(name: "test.serial", threads: 1)
        let order = Locked<[Int]>([])
        for i in 0..<200 { serial.async { order.withLock { $0.append(i) }; if i == 199 { done.hit() } } }
        #expect(done.wait())
        #expect(order.withLock { $0 } == Array(0..<200))
    }
}
