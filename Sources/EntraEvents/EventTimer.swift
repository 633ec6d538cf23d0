import CEpoll
import Dispatch
import Foundation

/// A timer of the `EventLoop` (a timerfd on CLOCK_MONOTONIC, the clock of `DispatchTime`); its
/// handler runs on its queue. Scheduling again replaces the previous deadline; scheduling a
/// cancelled timer does nothing.
public final class EventTimer: Sendable {
    private let source: EventSource

    init(loop: EventLoop, queue: DispatchQueue) {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        precondition(fd >= 0, "timerfd_create: errno \(errno)")
        source = EventSource(loop: loop, fd: fd, ownsDescriptor: true, events: EPOLLIN.rawValue, queue: queue) { fd in
            var expirations: UInt64 = 0
            return read(fd, &expirations, 8) == 8  // nothing to read: a deadline replaced since
        }
    }

    public func setEventHandler(_ handler: @escaping @Sendable () -> Void) { source.setEventHandler(handler) }
    public func activate() { source.activate() }
    public func cancel() { source.cancel() }

    /// Fires at `deadline`, then every `repeating` seconds if given. `leeway` is accepted for
    /// `DispatchSourceTimer`'s sake; the kernel's timer slack applies.
    public func schedule(deadline: DispatchTime, repeating interval: Double? = nil, leeway: DispatchTimeInterval = .nanoseconds(0)) {
        let now = DispatchTime.now().uptimeNanoseconds
        let delay = max(deadline.uptimeNanoseconds > now ? deadline.uptimeNanoseconds - now : 0, 1)  // 0 would disarm it
        var spec = itimerspec()
        spec.it_value = Self.timespec(nanoseconds: delay)
        if let interval, interval > 0 { spec.it_interval = Self.timespec(nanoseconds: UInt64(interval * 1e9)) }
        source.withDescriptor { timerfd_settime($0, 0, &spec, nil) }
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

    private static func timespec(nanoseconds: UInt64) -> Glibc.timespec {
        Glibc.timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}
