import Dispatch
import EntraMirror
import Foundation
import Synchronization

/// Work started on its own thread now and waited for later: a run plans its users on one while
/// the groups round downloads. A thread, not a dispatch queue: the waiter is itself a queue's
/// worker and blocks.
final class BackgroundWork<Value: Sendable>: Sendable {
    private let result = Mutex<Value?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(name: String, _ work: @escaping @Sendable () -> Value) {
        let thread = Thread { [self] in
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Blocks until the work is done; call it once.
    func wait() -> Value {
        done.wait()
        return result.withLock { $0.take()! }
    }
}
