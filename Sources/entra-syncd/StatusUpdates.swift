import Dispatch
import EntraEvents
import EntraSync
import EntraSystemd
import Synchronization

/// Sends systemd's `STATUS=` line after runs end, at most once per `delay`. Each line reads every
/// profile's status: a thousand runs ending together (or a stop cancelling a thousand queued ones)
/// would otherwise read them a million times.
final class StatusUpdates: Sendable {
    /// True from the first run ending until its line is sent; only the run that sets it arms the timer.
    private let pending = Atomic<Bool>(false)
    private let timer = EventLoop.shared.timer(queue: DispatchQueue(label: "entra-sync.status"))
    private let delay: Double

    init(delay: Double = 0.5) {
        self.delay = delay
        timer.activate()
    }

    /// A run of `manager` ended: the line is sent within `delay`, once for all runs ending meanwhile.
    func runFinished(_ manager: SyncManager) {
        guard pending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        timer.setEventHandler { [weak self] in
            self?.pending.store(false, ordering: .releasing)
            SystemdNotifier.status(manager.statusLine())
        }
        timer.schedule(deadline: .now() + delay)
    }
}
