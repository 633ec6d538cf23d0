import Dispatch
import EntraConfig
import EntraGraph
import EntraMirror
import EntraPush
import Foundation
import Logging
import EntraLock

/// The daemon's engine: its profiles and their runners. It knows no socket and no wire format;
/// the control service (`EntraService`) and the executable sit on top of it.
public final class SyncManager: Sendable {
    public struct Options: Sendable {
        public var configDirectory: String
        public var stateDirectory: String
        public var compaction: ProfileRunner.CompactionPolicy
        /// Runs at once across every profile (`--max-concurrent-runs`); more wait their turn.
        public var maxConcurrentRuns: Int
        public init(configDirectory: String, stateDirectory: String, compaction: ProfileRunner.CompactionPolicy = .init(),
                    maxConcurrentRuns: Int = SyncManager.defaultMaxConcurrentRuns) {
            self.configDirectory = configDirectory
            self.stateDirectory = stateDirectory
            self.compaction = compaction
            self.maxConcurrentRuns = maxConcurrentRuns
        }
    }

    /// Twice the cores, at least 4: runs mostly wait for Graph, not for a CPU.
    public static var defaultMaxConcurrentRuns: Int {
        RunGate.defaultLimit(cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// What the engine knows of a profile name.
    public enum Lookup: Sendable, Equatable {
        case loaded
        /// Its file is invalid and it never loaded.
        case broken(reason: String)
        case unknown
    }

    /// A profile's committed mirror with the configuration that scopes it: what queries read.
    public struct Committed: Sendable {
        public var mirror: MirrorState
        public var profile: Profile
        public init(mirror: MirrorState, profile: Profile) {
            self.mirror = mirror
            self.profile = profile
        }
        /// The mirror as the profile's outputs show it (scope, soft-delete grace).
        public var view: ScopedView { ScopedView(state: mirror, scope: profile.scope, softDeleteGrace: profile.softDeleteGrace) }
    }

    private struct Profiles: Sendable {
        var runners: [String: ProfileRunner] = [:]
        /// Profiles whose file is invalid and that never loaded: name → error.
        var broken: [String: String] = [:]
        var stopping = false
    }

    private let options: Options
    private let logger: Logger
    private let profiles = Locked(Profiles())
    /// Every profile's runs take one of these (`Options.maxConcurrentRuns`).
    public let runSlots: RunSlots
    /// Graph's per-app budget, one per `ClientId`, shared by the profiles of that app.
    public let appThrottles = AppThrottles()
    /// One reload at a time; held while journals replay, which the profiles lock never is.
    private let reloading = Locked(())
    /// Called after every finished run (the executable updates systemd's STATUS= line).
    private let onRunFinished: @Sendable (SyncManager) -> Void
    /// The scheduler queue: timers fire here; the watchdog is fed from here too.
    public let schedulerQueue = DispatchQueue(label: "entra-sync.scheduler")

    public init(options: Options, logger: Logger, onRunFinished: @escaping @Sendable (SyncManager) -> Void = { _ in }) {
        self.options = options
        self.runSlots = RunSlots(limit: options.maxConcurrentRuns)
        self.logger = logger
        self.onRunFinished = onRunFinished
    }

    // MARK: Lifecycle

    /// Loads every profile and opens its journal. Profiles that fail to load are reported, the others run.
    public func start() {
        _ = reload()
    }

    /// Re-reads the configuration directory: adds new profiles, removes deleted ones, updates changed
    /// ones. A profile whose file became invalid keeps its old configuration and shows config-error.
    ///
    /// New profiles replay their journals outside the profiles lock, so `status` and queries of
    /// the other profiles answer while a large journal loads.
    @discardableResult
    public func reload() -> ReloadOutcome {
        reloading.withLock { _ in reloadLocked() }
    }

    private func reloadLocked() -> ReloadOutcome {
        let set = ProfileLoader.loadDirectory(options.configDirectory)
        for warning in set.warnings { logger.warning("\(warning)") }
        var outcome = ReloadOutcome()
        var toStop: [ProfileRunner] = []
        var toOpen: [Profile] = []
        let loaded = Dictionary(uniqueKeysWithValues: set.profiles.map { ($0.name, $0) })
        let proceed = profiles.withLock { p -> Bool in
            guard !p.stopping else { return false }
            for (name, error) in set.errors.sorted(by: { $0.key < $1.key }) {
                for problem in error.problems {
                    logger.error("\(problem)", metadata: ["MESSAGE_ID": "\(MessageID.configError)", "profile": "\(name)"])
                    outcome.errors.append("\(problem)")
                }
                if let runner = p.runners[name] {
                    runner.markConfigError("\(error) (still running with the previous configuration)")
                } else {
                    p.broken[name] = "\(error)"
                }
            }
            for (name, profile) in loaded.sorted(by: { $0.key < $1.key }) {
                p.broken[name] = nil
                if let runner = p.runners[name] {
                    if runner.profile != profile {
                        runner.update(profile: profile)
                        outcome.changed.append(name)
                    } else {
                        runner.markConfigError(nil)
                    }
                } else {
                    toOpen.append(profile)
                }
            }
            for (name, runner) in p.runners where loaded[name] == nil && set.errors[name] == nil {
                p.runners[name] = nil
                toStop.append(runner)
                outcome.removed.append(name)
            }
            for name in p.broken.keys where set.errors[name] == nil { p.broken[name] = nil }
            return true
        }
        guard proceed else { return outcome }
        for runner in toStop {
            logger.info("profile removed from the configuration; its state stays in \(options.stateDirectory)/\(runner.name)",
                        metadata: ["profile": "\(runner.name)"])
            _ = runner.stop(deadline: .now() + 30)
        }
        // Every new profile's journal is opened (replayed, no lock held) before any of them starts
        // running: first runs take descriptors that later journals would need.
        var opened: [ProfileRunner] = []
        for profile in toOpen {
            let runner = ProfileRunner(profile: profile, stateRoot: options.stateDirectory, schedulerQueue: schedulerQueue,
                                       logger: logger, compaction: options.compaction, slots: runSlots,
                                       appThrottles: appThrottles) { [weak self] _, _ in
                if let self { self.onRunFinished(self) }
            }
            runner.refreshExportsIfStale()
            opened.append(runner)
        }
        let added = profiles.withLock { p -> Bool in
            guard !p.stopping else { return false }
            for runner in opened { p.runners[runner.name] = runner }
            return true
        }
        // First runs due at once spread over a short window instead of all starting together.
        let window = RunScheduler.startWindow(profiles: opened.count)
        for runner in opened {
            guard added else {
                _ = runner.stop(deadline: .now() + 5)
                continue
            }
            outcome.added.append(runner.name)
            runner.start(spread: RunScheduler.startOffset(profile: runner.name, window: window))
        }
        outcome.added.sort()
        outcome.removed.sort()
        outcome.changed.sort()
        return outcome
    }

    /// Stops every runner (cancelling in-flight runs; nothing partial is committed).
    public func stop(deadline: DispatchTime) {
        let runners = profiles.withLock { p -> [ProfileRunner] in
            p.stopping = true
            return Array(p.runners.values)
        }
        // Every runner is cancelled first (queued runs leave the queue before a slot can admit
        // them), then one wait: a thread blocked per runner would starve the queues that finish them.
        let stopped = DispatchGroup()
        for runner in runners { runner.beginStop(stopped) }
        _ = stopped.wait(timeout: deadline)
    }

    /// The one-line summary for systemd's STATUS=.
    public func statusLine() -> String {
        let all = status(profile: nil)
        let failed = all.filter { $0.state == .failed || $0.state == .configError }.map(\.name)
        let users = all.reduce(0) { $0 + $1.users }
        let groups = all.reduce(0) { $0 + $1.groups }
        var line = "\(all.count) profile\(all.count == 1 ? "" : "s"), \(users) users, \(groups) groups"
        if !failed.isEmpty { line += "; failing: \(failed.joined(separator: ", "))" }
        return line
    }

    // MARK: Queries

    public func runner(named name: String) -> ProfileRunner? {
        profiles.withLock { $0.runners[name] }
    }

    public func lookup(_ name: String) -> Lookup {
        profiles.withLock { p in
            if p.runners[name] != nil { return .loaded }
            if let reason = p.broken[name] { return .broken(reason: reason) }
            return .unknown
        }
    }

    /// The loaded profiles' names, sorted.
    public var profileNames: [String] { profiles.withLock { $0.runners.keys.sorted() } }

    /// True once `stop` began: no new runs start.
    public var isStopping: Bool { profiles.withLock { $0.stopping } }

    public func status(profile: String?) -> [ProfileSnapshot] {
        let (runners, broken) = profiles.withLock { ($0.runners, $0.broken) }
        var result = runners.values.map { $0.status() }
        // Profiles are read one after another: a run that ended meanwhile, its slot taken by another,
        // would show both syncing, more than the limit allows. Those no longer holding a slot are
        // read again.
        let holding = runSlots.running
        for i in result.indices where result[i].state == .syncing && !holding.contains(result[i].name) {
            if let runner = runners[result[i].name] { result[i] = runner.status() }
        }
        for (name, error) in broken {
            result.append(ProfileSnapshot(name: name, state: .configError, error: error))
        }
        if let profile { result = result.filter { $0.name == profile } }
        return result.sorted { $0.name < $1.name }
    }

    /// The committed mirror of a loaded profile.
    public func committed(profile name: String) -> Committed? {
        runner(named: name).map { Committed(mirror: $0.mirror, profile: $0.profile) }
    }

    // MARK: Requests

    /// Starts a run of a loaded profile, or joins the one in progress (`ProfileRunner.trigger`).
    public func trigger(profile name: String, full: Bool, allowDeletions: Int,
                        waiter: (@Sendable (RunSummary) -> Void)?) -> Result<Bool, NotRunnable> {
        guard let runner = runner(named: name) else { return .failure(NotRunnable(.broken, reason: "no such profile")) }
        return runner.trigger(full: full, allowDeletions: allowDeletions, waiter: waiter)
    }

    /// The SCIM targets of a loaded profile; nil when it is not loaded.
    public func scimStatus(profile name: String, target: String?, plan: Bool) -> [ScimTargetSnapshot]? {
        runner(named: name)?.scimStatus(target: target, plan: plan)
    }

    /// Pushes to a loaded profile's SCIM targets now; `done` gets their state afterwards. False when it is not loaded.
    public func pushScim(profile name: String, target: String?, retry: Bool, allowDeletions: Int,
                         done: @escaping @Sendable ([ScimTargetSnapshot]) -> Void) -> Bool {
        guard let runner = runner(named: name) else { return false }
        runner.requestScimPush(target: target, retry: retry, allowDeletions: allowDeletions, done: done)
        return true
    }

    /// The LDAP targets of a loaded profile, `pending` counted from the mirror now (the plan's lines
    /// only with `plan`); nil when it is not loaded.
    public func ldapStatus(profile name: String, target: String?, plan: Bool) -> [PushTargetSnapshot]? {
        runner(named: name)?.ldapStatus(target: target, plan: true).map { status in
            var status = status
            if !plan { status.plan = nil }
            return status
        }
    }

    /// Provisions a loaded profile's LDAP targets now; `done` gets their state afterwards. False when it is not loaded.
    public func pushLdap(profile name: String, target: String?, retry: Bool, allowDeletions: Int,
                         done: @escaping @Sendable ([PushTargetSnapshot]) -> Void) -> Bool {
        guard let runner = runner(named: name) else { return false }
        runner.requestLdapPush(target: target, retry: retry, allowDeletions: allowDeletions, done: done)
        return true
    }

    /// Discards a loaded profile's state and starts a full sync (`ProfileRunner.discardStateAndResync`).
    public func discardStateAndResync(profile name: String, waiter: (@Sendable (RunSummary) -> Void)?,
                                      done: @escaping @Sendable (Result<ProfileRunner.Discarded, NotRunnable>) -> Void) {
        guard let runner = runner(named: name) else { return done(.failure(NotRunnable(.broken, reason: "no such profile"))) }
        runner.discardStateAndResync(done: done, waiter: waiter)
    }
}
