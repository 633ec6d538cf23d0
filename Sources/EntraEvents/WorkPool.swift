import Foundation
import EntraLock

/// A fixed set of threads taking work from one queue, in order: concurrent work without
/// libdispatch's concurrent queues.
///
/// A worker of a concurrent (non-overcommit) dispatch queue registers with libdispatch's workqueue
/// monitor, a timer on its manager thread, and starting that thread asks for nice -4, which the
/// unprivileged service may not have (see `EventLoop`). Serial dispatch queues do not register.
public final class WorkPool: Sendable {
    private struct Jobs: ~Copyable {
        var pending: [@Sendable () -> Void] = []
        var next = 0
    }

    private let jobs = Locked(Jobs())
    private let available = DispatchSemaphore(value: 0)

    /// Starts `threads` threads named `name`; they live as long as the process.
    public init(name: String, threads: Int) {
        for _ in 0..<max(1, threads) {
            let thread = Thread { [self] in work() }
            thread.name = name
            thread.start()
        }
    }

    /// Runs `job` on one of the threads, after the jobs submitted before it have started.
    public func async(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.pending.append(job) }
        available.signal()
    }

    private func work() {
        while true {
            available.wait()
            let job = jobs.withLock { j -> (@Sendable () -> Void) in
                let job = j.pending[j.next]
                j.next += 1
                if j.next > 64 && j.next * 2 > j.pending.count {  // drop what was taken, now and then
                    j.pending.removeFirst(j.next)
                    j.next = 0
                }
                return job
            }
            job()
        }
    }
}
