import EntraLock

/// The daemon's run slots: its one `RunGate` under a lock, with what each waiting profile does
/// when it is admitted. `SyncManager` makes it; every `ProfileRunner` enters before a run and
/// leaves after it.
public final class RunSlots: Sendable {
    private struct State: ~Copyable {
        var gate: RunGate
        var starts: [String: @Sendable () -> Void] = [:]
    }

    private let state: Locked<State>

    /// - Parameter limit: runs at once across the daemon (`--max-concurrent-runs`).
    public init(limit: Int) {
        state = Locked(State(gate: RunGate(limit: limit)))
    }

    public var limit: Int { state.withLock { $0.gate.limit } }

    /// The profiles whose runs hold a slot now.
    public var running: Set<String> { state.withLock { $0.gate.running } }

    /// Runs going and runs waiting for a slot.
    public var counts: (running: Int, waiting: Int) { state.withLock { ($0.gate.running.count, $0.gate.waiting.count) } }

    /// Calls `start` now when a slot is free (true), or later, when one frees and it is this
    /// profile's turn (false: queued).
    @discardableResult
    func enter(_ profile: String, start: @escaping @Sendable () -> Void) -> Bool {
        let admitted = state.withLock { s -> Bool in
            guard case .queued = s.gate.request(profile) else { return true }
            s.starts[profile] = start
            return false
        }
        if admitted { start() }
        return admitted
    }

    /// The run of `profile` ended: the next waiting profiles start.
    func leave(_ profile: String) {
        let next = state.withLock { s in s.gate.finished(profile).compactMap { s.starts.removeValue(forKey: $0) } }
        for start in next { start() }
    }

    /// `profile` stops while it waits: it gives up its place. Returns what it would have started
    /// (the caller runs it so that its waiters hear the run was cancelled), or nil when it was not waiting.
    func withdraw(_ profile: String) -> (@Sendable () -> Void)? {
        let (own, next) = state.withLock { s -> ((@Sendable () -> Void)?, [@Sendable () -> Void]) in
            guard s.gate.waiting.contains(profile) else { return (nil, []) }
            let own = s.starts.removeValue(forKey: profile)
            return (own, s.gate.finished(profile).compactMap { s.starts.removeValue(forKey: $0) })
        }
        for start in next { start() }
        return own
    }
}
