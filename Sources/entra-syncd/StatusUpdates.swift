import Dispatch
import EntraEvents
import EntraSync
import EntraSystemd
import Synchronization

/// Sends systemd's `STATUS=` line after runs end, at most once per `delay`. Each line reads every
/// profile's status: a thousand runs ending together (or a stop cancelling a thousand queued ones)
/// would otherwise read them a million times.
final class StatusUpdates: Sendable {
    private struct State {
        var pending = false
        var manager: SyncManager?
    }

    private let state = Mutex(State())
    private let timer = EventLoop.shared.timer(queue: DispatchQueue(label: "entra-sync.status"))
    private let delay: Double

    init(delay: Double = 0.5) {
        self.delay = delay
        timer.setEventHandler { [weak self] in self?.send() }
        timer.activate()
    }

    /// A run of `manager` ended: the line is sent within `delay`, once for all runs ending meanwhile.
    func runFinished(_ manager: SyncManager) {
        let arm = state.withLock { s -> Bool in
            s.manager = manager
            defer { s.pending = true }
            return !s.pending
        }
        if arm { timer.schedule(deadline: .now() + delay) }
    }

    private func send() {
        guard let manager = state.withLock({ s -> SyncManager? in
            s.pending = false
            return s.manager
        }) else { return }
        SystemdNotifier.status(manager.statusLine())
    }
}
