import CEpoll
import Dispatch
import Foundation
import EntraLock
import Synchronization

/// The daemon's event loop: one thread waits in epoll for sockets, timers and signals and hands
/// each event to the dispatch queue its source names. It stands in for `DispatchSource`.
///
/// Why not `DispatchSource`: on Linux libdispatch serves every dispatch source from its manager
/// thread, a worker of its user-interactive root queue, and starts that worker by lowering its nice
/// value to -4 (`setpriority`). The service runs as an unprivileged user without CAP_SYS_NICE and
/// with RLIMIT_NICE 0, so the kernel refuses (EACCES) and libdispatch logs "Failed to set thread
/// priority for worker thread ... errno=13" on every start. This thread keeps the process's nice
/// value and asks for nothing; handlers still run on the owners' default-QoS queues, which
/// libdispatch starts at nice 0 (raising a nice value never needs a privilege).
public final class EventLoop: Sendable {
    public static let shared = EventLoop()

    private let epoll: Int32
    /// The one timerfd of every `EventTimer`, armed for the earliest deadline (epoll data 0).
    private let timerFD: Int32
    /// Scheduled timers by id: deadline (uptime nanoseconds), the schedule's generation, the timer.
    /// Guarded by `timersLock` (a pthread mutex, which ThreadSanitizer understands).
    nonisolated(unsafe) private var timerTable: [UInt64: (deadline: UInt64, generation: UInt64, timer: EventTimer)] = [:]
    private let timersLock = NSLock()
    private let nextTimerID = Atomic<UInt64>(1)
    /// Registered sources by the id in their epoll data: a stale event for a cancelled source (its
    /// descriptor number may be reused already) finds nothing.
    private let sources = Locked<[UInt64: EventSource]>([:])
    private let nextID = Atomic<UInt64>(1)

    private init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1: errno \(errno)")  // the first thing the daemon does: nothing holds descriptors yet
        timerFD = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        precondition(timerFD >= 0, "timerfd_create: errno \(errno)")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.timersID
        precondition(epoll_ctl(epoll, EPOLL_CTL_ADD, timerFD, &event) == 0, "epoll_ctl: errno \(errno)")
        // The thread takes no signals (it inherits the mask): they are for signalfd or other threads.
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        let thread = Thread { [self] in wait() }
        thread.name = "entra-events"
        thread.start()
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }

    /// A source for `fd` becoming readable (a listening socket: a client to accept).
    public func readSource(fileDescriptor fd: Int32, queue: DispatchQueue) -> EventSource {
        EventSource(loop: self, fd: fd, ownsDescriptor: false, events: EPOLLIN.rawValue, queue: queue, drain: nil)
    }

    /// A source for `fd` becoming writable. It watches a duplicate of `fd` (epoll takes one entry
    /// per descriptor, and the same socket may have a read source too), closed when it is cancelled.
    public func writeSource(fileDescriptor fd: Int32, queue: DispatchQueue) -> EventSource {
        EventSource(loop: self, fd: fcntl(fd, F_DUPFD_CLOEXEC, 0), ownsDescriptor: true, events: EPOLLOUT.rawValue, queue: queue, drain: nil)
    }

    /// A timer, started by `schedule`.
    public func timer(queue: DispatchQueue) -> EventTimer {
        EventTimer(loop: self, queue: queue)
    }

    /// A source for `signal`, which is blocked in the calling thread (and the threads it starts
    /// afterwards) so that it waits to be read here instead of being delivered. Call it before the
    /// process starts threads that could take the signal.
    public func signalSource(_ signal: Int32, queue: DispatchQueue) -> EventSource {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let fd = signalfd(-1, &set, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        return EventSource(loop: self, fd: fd, ownsDescriptor: true, events: EPOLLIN.rawValue, queue: queue) { fd in
            var info = signalfd_siginfo()
            var delivered = false
            while read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size { delivered = true }
            return delivered
        }
    }

    // MARK: Timers (for EventTimer)

    /// The epoll data of the timers' timerfd; sources count from 1.
    private static let timersID: UInt64 = 0

    func newTimerID() -> UInt64 { nextTimerID.add(1, ordering: .relaxed).oldValue }

    /// Sets or (nil) removes a timer's deadline and arms the timerfd for the earliest one.
    func setTimer(_ timer: EventTimer, deadline: UInt64?, generation: UInt64) {
        timersLock.lock()
        defer { timersLock.unlock() }
        timerTable[timer.id] = deadline.map { ($0, generation, timer) }
        armTimerFD(timerTable)
    }

    private func armTimerFD(_ t: [UInt64: (deadline: UInt64, generation: UInt64, timer: EventTimer)]) {
        var spec = itimerspec()  // zero: disarmed
        if let next = t.values.lazy.map(\.deadline).min() {
            let now = DispatchTime.now().uptimeNanoseconds
            let delay = max(next > now ? next - now : 0, 1)  // 0 would disarm it
            spec.it_value = timespec(tv_sec: Int(delay / 1_000_000_000), tv_nsec: Int(delay % 1_000_000_000))
        }
        timerfd_settime(timerFD, 0, &spec, nil)
    }

    /// The timerfd fired: every timer whose deadline passed fires, and the timerfd is armed again.
    private func expireTimers() {
        var expirations: UInt64 = 0
        _ = read(timerFD, &expirations, 8)
        let now = DispatchTime.now().uptimeNanoseconds
        timersLock.lock()
        let expired = timerTable.filter { $0.value.deadline <= now }
        for id in expired.keys { timerTable[id] = nil }
        armTimerFD(timerTable)
        timersLock.unlock()
        let due = expired.values.map { ($0.generation, $0.timer) }
        for (generation, timer) in due { timer.expired(generation: generation) }
    }

    // MARK: Registration (for EventSource)

    func register(_ source: EventSource) -> UInt64 {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        sources.withLock { $0[id] = source }
        return id
    }

    func unregister(_ id: UInt64, fd: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        _ = sources.withLock { $0.removeValue(forKey: id) }
    }

    /// Enables one event for `fd` (one-shot: the source arms it again after its handler ran).
    func arm(_ id: UInt64, fd: Int32, events: UInt32, first: Bool) {
        var event = epoll_event()
        event.events = events | EPOLLONESHOT.rawValue
        event.data.u64 = id
        if epoll_ctl(epoll, first ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event) != 0 && first && errno == EEXIST {
            _ = epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event)
        }
    }

    private func wait() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), -1)
            guard count > 0 else { continue }  // EINTR
            for event in events[0..<Int(count)] {
                let id = event.data.u64
                if id == Self.timersID {
                    expireTimers()
                } else {
                    sources.withLock { $0[id] }?.ready()
                }
            }
        }
    }
}
