/// The daemon-wide half of scheduling: at most `limit` runs at once, across every profile.
///
/// A pure state machine like `RunScheduler`: a profile whose scheduler says `startRun` asks the
/// gate; it is admitted at once while fewer than `limit` runs go, otherwise it waits in a FIFO
/// queue (first asked, first admitted: fair, nobody starves). Each finished run admits the next
/// waiting one. `SyncManager` holds the one gate of the daemon; `ProfileRunner` carries out what
/// it says (`RunGate.Shared`).
///
/// The limit bounds what many profiles need at once: descriptors (a connection, a journal segment,
/// export files each), threads, memory for pages, and the Graph requests of one app registration.
struct RunGate: Sendable, Equatable {
    /// `--max-concurrent-runs`: at least 1.
    private(set) var limit: Int
    /// Profiles whose run goes now.
    private(set) var running: Set<String> = []
    /// Profiles waiting, in the order they asked.
    private(set) var waiting: [String] = []

    /// The default limit: twice the cores, at least 4. Runs mostly wait for Graph, not for a CPU.
    static func defaultLimit(cores: Int) -> Int { max(4, 2 * cores) }

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    enum Admission: Sendable, Equatable {
        case admitted
        case queued(position: Int)
    }

    /// A profile wants to start a run. A profile asks once per run (its own scheduler sees to it).
    mutating func request(_ profile: String) -> Admission {
        if running.contains(profile) { return .admitted }
        if let index = waiting.firstIndex(of: profile) { return .queued(position: index + 1) }
        if running.count < limit && waiting.isEmpty {
            running.insert(profile)
            return .admitted
        }
        waiting.append(profile)
        return .queued(position: waiting.count)
    }

    /// A profile's run ended (or it left the daemon, or stopped while waiting): the profiles that
    /// start now, in order.
    mutating func finished(_ profile: String) -> [String] {
        running.remove(profile)
        waiting.removeAll { $0 == profile }
        return admit()
    }

    /// A new limit (the default is only known at start; tests). Raising it admits waiting profiles.
    mutating func setLimit(_ limit: Int) -> [String] {
        self.limit = max(1, limit)
        return admit()
    }

    private mutating func admit() -> [String] {
        var admitted: [String] = []
        while running.count < limit, !waiting.isEmpty {
            let next = waiting.removeFirst()
            running.insert(next)
            admitted.append(next)
        }
        return admitted
    }
}
