import CEpoll
import Dispatch
import Foundation
import EntraLock

/// A descriptor watched by the `EventLoop`; its handler runs on its queue, never twice at once,
/// and again after it returned as long as the descriptor stays ready (as a `DispatchSource` does).
///
/// `activate`, `suspend`, `resume` and `cancel` may be called from any thread; a handler already
/// handed to the queue when the source is suspended or cancelled does not run.
public final class EventSource: Sendable {
    struct State {
        var handler: (@Sendable () -> Void)?
        var id: UInt64 = 0
        var activated = false
        var suspended = false
        var cancelled = false
    }

    private let loop: EventLoop
    let fd: Int32
    private let ownsDescriptor: Bool
    private let events: UInt32
    private let queue: DispatchQueue
    /// Reads what made a timer or signal descriptor ready; false when nothing was there (stale).
    private let drain: (@Sendable (Int32) -> Bool)?
    private let state = Locked(State())

    init(loop: EventLoop, fd: Int32, ownsDescriptor: Bool, events: UInt32, queue: DispatchQueue,
         drain: (@Sendable (Int32) -> Bool)?) {
        self.loop = loop
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
        self.events = events
        self.queue = queue
        self.drain = drain
    }

    /// False when the source could not get its descriptor (out of descriptors): it never fires.
    public var isValid: Bool { fd >= 0 }

    public func setEventHandler(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.handler = handler }
    }

    /// Starts watching.
    public func activate() {
        let id = state.withLock { s -> UInt64? in
            guard !s.activated, !s.cancelled else { return nil }
            s.activated = true
            s.id = loop.register(self)
            return s.suspended ? nil : s.id
        }
        if let id { loop.arm(id, fd: fd, events: events, first: true) }
    }

    /// Stops handing events to the handler until `resume`.
    public func suspend() {
        state.withLock { $0.suspended = true }
    }

    public func resume() {
        let id = state.withLock { s -> UInt64? in
            guard s.suspended else { return nil }
            s.suspended = false
            return s.activated && !s.cancelled ? s.id : nil
        }
        if let id { loop.arm(id, fd: fd, events: events, first: false) }
    }

    /// Stops watching for good (and closes the descriptor if the source made it). The caller may
    /// close its own descriptor as soon as this returns.
    public func cancel() {
        state.withLock { s in
            guard !s.cancelled else { return }
            s.cancelled = true
            s.handler = nil
            if s.activated { loop.unregister(s.id, fd: fd) }
            if ownsDescriptor { close(fd) }
        }
    }

    /// Runs `body` with the descriptor unless the source is cancelled (its descriptor may be closed,
    /// and its number reused already).
    func withDescriptor(_ body: (Int32) -> Void) {
        state.withLock { s in
            if !s.cancelled { body(fd) }
        }
    }

    /// The descriptor is ready (on the loop's thread).
    func ready() {
        queue.async { [self] in fire() }
    }

    private func fire() {
        let handler = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.cancelled, !s.suspended else { return nil }
            if let drain, !drain(fd) { return {} }
            return s.handler ?? {}
        }
        guard let handler else { return }
        handler()
        let id = state.withLock { s in s.cancelled || s.suspended ? nil : s.id }
        if let id { loop.arm(id, fd: fd, events: events, first: false) }
    }
}
