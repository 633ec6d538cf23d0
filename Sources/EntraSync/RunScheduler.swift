import EntraConfig
import EntraHTTP
import EntraMirror

/// When a profile runs: a pure state machine. Events go in with the time they happen; actions come
/// out, and `ProfileRunner` carries them out (start a run on its queue, arm or disarm its timer).
/// Nothing here reads a clock or sleeps, so every schedule is unit-tested with plain numbers.
///
/// - The first run after start is due one `Interval=` after the last successful run (at once when
///   there was none, or it is overdue), plus up to `RandomizedDelay=` (at most 2 s when due at once).
///   A run due at once also waits its profile's `startOffset`: the first runs of many profiles that
///   start together spread over `startWindow` (at most 30 s), each profile at the same place every start.
/// - After a successful run the next is one interval later; after a failed or blocked one it
///   follows `Backoff.run(interval:)`, so a broken tenant is retried soon but never more often than
///   the backoff allows and never later than the regular interval. Either way up to
///   `RandomizedDelay=` is added.
/// - A run requested while one is in progress joins it. A cancelled run schedules nothing: the
///   daemon is stopping.
struct RunScheduler: Sendable, Equatable {
    struct Settings: Sendable, Equatable {
        /// `Interval=`, seconds.
        var interval: Double
        /// `RandomizedDelay=`, seconds.
        var randomizedDelay: Double
    }

    enum Action: Sendable, Equatable {
        /// Start a run now (on the profile's queue).
        case startRun(full: Bool)
        /// Fire `timerFired` at this time (seconds since 1970), replacing any earlier arming.
        case armTimer(at: Double)
        case disarmTimer
    }

    /// What `runRequested` did.
    enum Request: Sendable, Equatable {
        case started
        /// A run was in progress: the caller waits for that one.
        case joined
        case refused
    }

    private(set) var settings: Settings
    private(set) var running = false
    private(set) var stopped = false
    /// When the timer is armed for, if it is.
    private(set) var nextRun: Double?
    private(set) var consecutiveFailures = 0

    /// A schedule immediately due runs within this much jitter at most (a start of many profiles spreads out).
    static let startSpread = 2.0

    init(settings: Settings) {
        self.settings = settings
    }

    /// The daemon started (or the interval changed while idle): arm the timer for the next due run.
    /// - Parameter spread: how much later a run due at once starts (`startOffset`); 0 for one profile.
    mutating func start<R: RandomNumberGenerator>(now: Double, lastRun: RunSummary?, spread: Double = 0,
                                                  using rng: inout R) -> [Action] {
        guard !stopped, !running else { return [] }
        var due = 0.0
        if let lastRun, lastRun.result == .succeeded {
            due = max(0, lastRun.finished + settings.interval - now)
        }
        let jitter = due == 0 ? min(settings.randomizedDelay, Self.startSpread) : settings.randomizedDelay
        let offset = due == 0 ? max(0, spread) : 0
        return arm(now + due + offset + Self.jitter(jitter, &rng))
    }

    /// Over how long the first runs of `profiles` profiles that start together are spread:
    /// `perProfile` each, at most `maxStartWindow` (1,000 profiles: 30 s; 10: 0.3 s).
    static func startWindow(profiles: Int) -> Double {
        profiles > 1 ? min(maxStartWindow, Double(profiles) * perProfileStart) : 0
    }

    /// The first runs of many profiles spread over at most this long after a start or reload.
    static let maxStartWindow = 30.0
    static let perProfileStart = 0.03

    /// Where in `window` a profile's first run goes: a hash of its name (FNV-1a, mixed), so a profile
    /// keeps its place from one start to the next and profiles spread evenly.
    static func startOffset(profile: String, window: Double) -> Double {
        guard window > 0 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in profile.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        // FNV's high bits barely differ between names like tenant-1 and tenant-2: mix them (splitmix64's finalizer).
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return window * Double(hash >> 11) / Double(1 << 53)
    }

    /// The timer fired: run, unless one is already in progress (it will schedule the next).
    mutating func timerFired() -> [Action] {
        nextRun = nil
        guard !stopped, !running else { return [] }
        running = true
        return [.startRun(full: false)]
    }

    /// `run-now`: start a run, or join the one in progress.
    mutating func runRequested(full: Bool) -> (Request, [Action]) {
        if stopped { return (.refused, []) }
        if running { return (.joined, []) }
        running = true
        return (.started, [.startRun(full: full)])
    }

    /// A run ended: arm the timer for the next one.
    mutating func runFinished<R: RandomNumberGenerator>(_ result: RunSummary.Result, now: Double, using rng: inout R) -> [Action] {
        running = false
        consecutiveFailures = result == .succeeded ? 0 : consecutiveFailures + 1
        guard !stopped, result != .cancelled else { return [] }
        let wait = consecutiveFailures == 0
            ? settings.interval
            : Backoff.run(interval: settings.interval).delay(afterFailures: consecutiveFailures, using: &rng)
        return arm(now + wait + Self.jitter(settings.randomizedDelay, &rng))
    }

    /// New settings (reload). A changed interval reschedules an idle profile at once; a running
    /// one picks it up when its run finishes.
    mutating func reload<R: RandomNumberGenerator>(_ settings: Settings, now: Double, lastRun: RunSummary?, using rng: inout R) -> [Action] {
        let intervalChanged = settings.interval != self.settings.interval
        self.settings = settings
        guard intervalChanged else { return [] }
        return start(now: now, lastRun: lastRun, using: &rng)
    }

    /// The daemon is stopping: no more runs.
    mutating func stop() -> [Action] {
        stopped = true
        nextRun = nil
        return [.disarmTimer]
    }

    private mutating func arm(_ at: Double) -> [Action] {
        nextRun = at
        return [.armTimer(at: at)]
    }

    private static func jitter<R: RandomNumberGenerator>(_ upTo: Double, _ rng: inout R) -> Double {
        upTo > 0 ? Double.random(in: 0...upTo, using: &rng) : 0
    }
}


extension RunScheduler.Settings {
    init(_ profile: Profile) {
        self.init(interval: profile.interval, randomizedDelay: profile.randomizedDelay)
    }
}
