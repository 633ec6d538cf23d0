import Dispatch
import EntraMirror
import Foundation
import Glibc
import EntraLock

/// Work started on its own thread now and waited for later: a run plans its users on one while
/// the groups round downloads. A thread, not a dispatch queue: the waiter is itself a queue's
/// worker and blocks.
///
/// When no thread can be created (the process or the system is out of threads or memory), the
/// work runs at once on the caller's thread: the run takes longer, and it neither fails nor hangs.
final class BackgroundWork<Value: Sendable>: Sendable {
    private let result = Locked<Value?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(name: String, _ work: @escaping @Sendable () -> Value) {
        let run: @Sendable () -> Void = { [self] in
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        if !DetachedThread.start(name: name, run) { run() }
    }

    /// Blocks until the work is done; call it once.
    func wait() -> Value {
        done.wait()
        return result.withLock { $0.take()! }
    }
}

/// A detached pthread, whose creation can fail (Foundation's `Thread.start()` ignores that).
private enum DetachedThread {
    /// What a new thread runs, passed through pthread_create's context pointer.
    private final class Start: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Runs `body` on a new detached thread; false when none can be created.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
        let start = Unmanaged.passRetained(Start(name: name, body: body))
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            let start = Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
            Thread.current.name = start.name
            start.body()
            return nil
        }, start.toOpaque())
        guard created == 0 else {
            start.release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
