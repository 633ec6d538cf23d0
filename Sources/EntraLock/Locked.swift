#if canImport(Glibc)
import Glibc
#endif

/// A value that threads share, reached only inside `withLock`.
///
/// This is the project's one lock. It stands where `Synchronization.Mutex` would, with the same
/// `withLock` shape, for one reason: on Linux a contended `Mutex` is handed over through a
/// priority-inheritance futex (`FUTEX_LOCK_PI`) whose owner the kernel sets, so ThreadSanitizer never
/// sees the acquire and reports every contended `Mutex` as a data race. A `pthread_mutex_t` is
/// intercepted by TSan, so the sanitizer pass (`scripts/sanitizer-test.sh thread`) sees real races
/// only. The body must not block on I/O or call back into code that takes the same lock.
public final class Locked<Value: ~Copyable>: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline var value: Value

    public init(_ value: consuming Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock, and returns what it returns.
    @inlinable
    public func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
