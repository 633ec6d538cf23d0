import Dispatch
import Foundation
import EntraLock

/// A timer of the `EventLoop`; its handler runs on its queue. Scheduling again replaces the
/// previous deadline.
///
/// Every timer of the process shares the loop's one timerfd (the loop arms it for the earliest
/// deadline), so a timer costs no descriptor: a thousand idle profiles, each with its run and push
/// timers, hold none, and making a timer cannot fail when descriptors run out.
public final class EventTimer: Sendable {
    struct State {
        var handler: (@Sendable () -> Void)?
        /// Uptime nanoseconds (`DispatchTime`) of the next firing, if scheduled.
        var deadline: UInt64?
        var interval: UInt64?
        /// Counts schedules: an expiry of a deadline replaced since is dropped.
        var generation: UInt64 = 0
        var activated = false
        var cancelled = false
    }

    private let loop: EventLoop
    private let queue: DispatchQueue
    let id: UInt64
    private let state = Locked(State())

    init(loop: EventLoop, queue: DispatchQueue) {
        self.loop = loop
        self.queue = queue
        self.id = loop.newTimerID()
    }

    public func setEventHandler(_ handler: @escaping @Sendable () -> Void) { state.withLock { $0.handler = handler } }

    /// Starts the timer (a deadline scheduled before counts from now on).
    public func activate() {
        let armed = state.withLock { s -> (UInt64, UInt64)? in
            guard !s.activated, !s.cancelled else { return nil }
            s.activated = true
            return s.deadline.map { ($0, s.generation) }
        }
        if let (deadline, generation) = armed { loop.setTimer(self, deadline: deadline, generation: generation) }
    }

    /// Stops the timer for good.
    public func cancel() {
        state.withLock { s in
            s.cancelled = true
            s.handler = nil
        }
        loop.setTimer(self, deadline: nil, generation: 0)
    }

    /// Fires at `deadline`, then every `repeating` seconds if given. `leeway` is accepted for
    /// `DispatchSourceTimer`'s sake; the kernel's timer slack applies.
    public func schedule(deadline: DispatchTime, repeating interval: Double? = nil, leeway: DispatchTimeInterval = .nanoseconds(0)) {
        let armed = state.withLock { s -> (UInt64, UInt64)? in
            guard !s.cancelled else { return nil }
            s.generation += 1
            s.deadline = deadline.uptimeNanoseconds
            s.interval = interval.flatMap { $0 > 0 ? UInt64($0 * 1e9) : nil }
            return s.activated ? (deadline.uptimeNanoseconds, s.generation) : nil
        }
        if let (deadline, generation) = armed { loop.setTimer(self, deadline: deadline, generation: generation) }
    }

    /// The same with `DispatchSourceTimer`'s way of saying the interval (`.never`: once).
    public func schedule(deadline: DispatchTime, repeating interval: DispatchTimeInterval, leeway: DispatchTimeInterval) {
        let seconds: Double? = switch interval {
        case .seconds(let n): Double(n)
        case .milliseconds(let n): Double(n) / 1e3
        case .microseconds(let n): Double(n) / 1e6
        case .nanoseconds(let n): Double(n) / 1e9
        default: nil
        }
        schedule(deadline: deadline, repeating: seconds, leeway: leeway)
    }

    /// The loop found the deadline of `generation` passed (on the loop's thread).
    func expired(generation: UInt64) {
        let fire = state.withLock { s -> (handler: (@Sendable () -> Void)?, next: (UInt64, UInt64)?)? in
            guard !s.cancelled, s.activated, s.generation == generation else { return nil }
            if let interval = s.interval {
                s.deadline = DispatchTime.now().uptimeNanoseconds + interval
                return (s.handler, (s.deadline!, s.generation))
            }
            s.deadline = nil
            return (s.handler, nil)
        }
        guard let fire else { return }
        if let (deadline, generation) = fire.next { loop.setTimer(self, deadline: deadline, generation: generation) }
        if let handler = fire.handler { queue.async(execute: handler) }
    }
}
