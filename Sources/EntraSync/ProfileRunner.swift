import Dispatch
import EntraConfig
import EntraDirectory
import EntraEvents
import EntraGraph
import EntraHTTP
import EntraJournal
import EntraMirror
import EntraPush
import Foundation
import Logging
import EntraLock

/// Ties one profile's pipeline together: its `RunScheduler` (when), each `SyncRun` (fetch, plan,
/// guard), its `ProfileStore` (the one writer: journal and mirror) and the consumers that read
/// what the store committed (exports, OnChange, metrics, Linux identities, push targets).
///
/// Runs execute on `runQueue` (libcurl calls block); the timer lives on the shared scheduler queue
/// and only triggers runs. Push targets run on their own queues, so a slow or dead target never
/// delays a sync. What status needs besides the mirror (lifecycle, scheduler, waiters) is behind
/// `shared`; the mirror is the store's.
public final class ProfileRunner: Sendable {
    /// Where the runner is in its life. `ProfileState` (what status shows) is derived from it, the
    /// configuration's validity and the last run's result.
    enum Lifecycle: Sendable, Equatable {
        /// The journal cannot be opened: the profile never runs (the reason says why).
        case broken(String)
        case idle
        /// A run is due but waits for one of the daemon's run slots (`RunSlots`).
        case queued(RunningRun)
        case syncing(RunningRun)
        case stopping
    }

    struct Shared: Sendable {
        var profile: Profile
        var lifecycle = Lifecycle.idle
        var waiters: [@Sendable (RunSummary) -> Void] = []
        /// When runs happen (timer, run-now, backoff): a pure state machine.
        var scheduler: RunScheduler
        /// Set when a reload found the profile's file invalid: it keeps running on its old config.
        var configError: String?
        var cancel = CancellationFlag()
        /// Removals approved for the next run (`run-now --allow-deletions N`).
        var allowedDeletions = 0
        /// Runs by result since the daemon started (Prometheus counters).
        var runsByResult: [String: Int] = [:]
        /// Why the last full sync could not be read in parallel (`Parallel=`) and fell back to the
        /// delta chain; nil after one that was.
        var parallelFallback: String?
        var scim = PushRuntime()
        var ldap = PushRuntime()
        /// What the profile serves to Linux (`[Linux]`), rebuilt after each commit.
        var linux: LinuxDirectory?

        init(profile: Profile) {
            self.profile = profile
            self.scheduler = RunScheduler(settings: .init(profile))
        }
    }

    public let name: String
    let directory: String
    let runQueue: DispatchQueue
    /// Where SCIM pushes run: they read the committed mirror and journal their acknowledgements.
    let scimQueue: DispatchQueue
    /// Where LDAP pushes run (their own queue: a slow directory delays neither runs nor SCIM).
    let ldapQueue: DispatchQueue
    /// Where the OnChange program runs: a slow or hanging program delays neither the run's waiters
    /// nor the next run (its change sets stay journaled as pending until it accepts them).
    let hookQueue: DispatchQueue
    /// One writer of the metrics file at a time (runs and pushes both update it).
    let metricsLock = Locked(())
    /// The journal and the mirror: the one writer of the profile's state.
    let store: ProfileStore
    /// The export files (a consumer of committed runs).
    let exports: ExportConsumer
    private let timer: TimerSource
    let logger: Logger
    let shared: Locked<Shared>
    /// The Graph client, kept across runs (and reloads that leave its connection settings alone).
    let graph: Locked<GraphSlot>
    private let onRunFinished: @Sendable (ProfileRunner, RunSummary) -> Void
    /// Fires SCIM push retries (on the scheduler queue; the push itself runs on `scimQueue`).
    let scimTimer: TimerSource
    /// Fires LDAP push retries (on the scheduler queue; the push itself runs on `ldapQueue`).
    let ldapTimer: TimerSource
    /// Cancelled when the runner stops: aborts SCIM pushes.
    let stopFlag = CancellationFlag()
    /// The daemon's run slots: every run takes one (`--max-concurrent-runs`).
    private let slots: RunSlots
    /// Each app's shared Graph budget (`AppThrottle`, by `ClientId`): held by `SyncManager`.
    private let appThrottles: AppThrottles

    struct GraphSlot: ~Copyable {
        var graph: GraphClient?
        var graphProfile: Profile?
        /// What the clients replaced by a reload had counted: metrics stay monotonic for the process's life.
        var retiredCounters = GraphRequestCounters()
    }

    public typealias CompactionPolicy = ProfileStore.CompactionPolicy

    /// Opens the profile's journal and replays it. A journal that cannot be read leaves the runner
    /// in a failed state that says why; it never runs on a partial mirror.
    public init(profile: Profile, stateRoot: String, schedulerQueue: DispatchQueue, logger: Logger,
                compaction: CompactionPolicy = .init(), slots: RunSlots = RunSlots(limit: .max), appThrottles: AppThrottles = AppThrottles(),
                onRunFinished: @escaping @Sendable (ProfileRunner, RunSummary) -> Void) {
        self.name = profile.name
        self.directory = stateRoot + "/" + profile.name
        var logger = logger
        logger[metadataKey: "profile"] = "\(profile.name)"
        self.logger = logger
        self.runQueue = DispatchQueue(label: "entra-sync.run.\(profile.name)")
        self.scimQueue = DispatchQueue(label: "entra-sync.scim.\(profile.name)")
        self.ldapQueue = DispatchQueue(label: "entra-sync.ldap.\(profile.name)")
        self.hookQueue = DispatchQueue(label: "entra-sync.hook.\(profile.name)")
        self.timer = TimerSource(EventLoop.shared.timer(queue: schedulerQueue))
        self.scimTimer = TimerSource(EventLoop.shared.timer(queue: schedulerQueue))
        self.ldapTimer = TimerSource(EventLoop.shared.timer(queue: schedulerQueue))
        self.onRunFinished = onRunFinished
        self.slots = slots
        self.appThrottles = appThrottles
        self.store = ProfileStore(directory: directory, profile: profile.name, logger: logger, compaction: compaction)
        self.exports = ExportConsumer(directory: directory + "/export")
        var shared = Shared(profile: profile)
        if let failure = store.openFailure { shared.lifecycle = .broken(failure) }
        self.shared = Locked(shared)
        self.graph = Locked(GraphSlot())
        timer.source.setEventHandler { [weak self] in self?.timerFired() }
        timer.source.activate()
        scimTimer.source.setEventHandler { [weak self] in self?.scimTimerFired() }
        scimTimer.source.activate()
        ldapTimer.source.setEventHandler { [weak self] in self?.ldapTimerFired() }
        ldapTimer.source.activate()
    }

    // MARK: Reading

    public var profile: Profile { shared.withLock { $0.profile } }

    /// A copy of the mirror as of the last committed run (cheap: copy-on-write).
    public var mirror: MirrorState { store.mirror }

    // MARK: Scheduling

    /// Arms the timer for the first run (see `RunScheduler.start`); resumes an interrupted SCIM push.
    /// - Parameter spread: a first run due at once starts this much later (`RunScheduler.startOffset`).
    public func start(spread: Double = 0) {
        let lastRun = mirror.history.last
        let (profile, actions) = shared.withLock { s -> (Profile, [RunScheduler.Action]) in
            if case .broken = s.lifecycle { return (s.profile, []) }
            var rng = SystemRandomNumberGenerator()
            return (s.profile, s.scheduler.start(now: Date().timeIntervalSince1970, lastRun: lastRun, spread: spread, using: &rng))
        }
        arm(actions)
        if scimPushInterrupted(profile: profile) { scheduleScimPush(in: 1) }
        if ldapPushInterrupted(profile: profile) { scheduleLdapPush(in: 1) }
        if profile.linux != nil { runQueue.async { self.assignPosixIDs() } }
        // Change sets a stop or a crash left undelivered go out now, not only after the next run.
        if let program = profile.onChange, !mirror.pendingChanges.isEmpty { deliverChanges(program: program, profile: profile) }
    }

    /// Carries out the scheduler's timer actions (`startRun` is handled under the lock by `begin`).
    private func arm(_ actions: [RunScheduler.Action]) {
        for action in actions {
            switch action {
            case .armTimer(let at):
                let seconds = max(0, at - Date().timeIntervalSince1970)
                timer.source.schedule(deadline: .now() + seconds)
            case .disarmTimer:
                timer.source.schedule(deadline: .now() + .seconds(10 * 365 * 86400))  // not before the daemon stops
            case .startRun:
                break
            }
        }
    }

    /// Carries out a `startRun` action, under the lock: the run gets its id and a fresh cancel flag,
    /// and waits for a run slot (`launch`).
    private static func begin(_ actions: [RunScheduler.Action], _ s: inout Shared) -> (RunningRun, CancellationFlag)? {
        for case .startRun(let full) in actions {
            let run = RunningRun(runId: makeRunId(), full: full, started: Date().timeIntervalSince1970)
            s.lifecycle = .queued(run)
            s.cancel = CancellationFlag()
            return (run, s.cancel)
        }
        return nil
    }

    /// Starts a begun run on `runQueue` once it has one of the daemon's run slots; until then
    /// status shows it `queued`. Its time starts when it does.
    private func launch(_ run: RunningRun, cancel: CancellationFlag) {
        slots.enter(name) { [self] in
            let started = shared.withLock { s -> RunningRun in
                var started = run
                started.started = Date().timeIntervalSince1970
                if case .queued = s.lifecycle { s.lifecycle = .syncing(started) }
                return started
            }
            runQueue.async { self.performRun(started, cancel: cancel) }
        }
    }

    private func timerFired() {
        let begun = shared.withLock { s in Self.begin(s.scheduler.timerFired(), &s) }
        if let (run, cancel) = begun { launch(run, cancel: cancel) }
    }

    /// Replaces the profile's configuration (reload). A run in progress finishes with the old one.
    public func update(profile: Profile) {
        let lastRun = mirror.history.last
        let (actions, scimChanged, ldapChanged) = shared.withLock { s -> ([RunScheduler.Action], Bool, Bool) in
            let scimChanged = s.profile.scimTargets != profile.scimTargets
            let ldapChanged = s.profile.ldapTargets != profile.ldapTargets
            s.profile = profile
            s.configError = nil
            s.ldap.committed(nil)  // the scope or a mapping may have changed: the next LDAP plans are whole
            if case .broken = s.lifecycle { return ([], scimChanged, ldapChanged) }
            var rng = SystemRandomNumberGenerator()
            let actions = s.scheduler.reload(.init(profile), now: Date().timeIntervalSince1970, lastRun: lastRun, using: &rng)
            return (actions, scimChanged, ldapChanged)
        }
        arm(actions)
        // A new or changed target (endpoint, token, mapping) is pushed to now, not at the next run.
        if scimChanged && !profile.scimTargets.isEmpty { scheduleScimPush(in: 1) }
        if ldapChanged && !profile.ldapTargets.isEmpty { scheduleLdapPush(in: 1) }
        // [Linux] added, changed or removed: ids for what is new, and the served directory again.
        if profile.linux != nil || linuxDirectory != nil { runQueue.async { self.assignPosixIDs() } }
    }

    public func markConfigError(_ message: String?) {
        shared.withLock { $0.configError = message }
    }

    /// Starts a run, or joins the one in progress.
    /// - Returns: whether a new run was started (false: it joined the run in progress), or why the profile cannot run.
    @discardableResult
    public func trigger(full: Bool, allowDeletions: Int = 0, waiter: (@Sendable (RunSummary) -> Void)?) -> Result<Bool, NotRunnable> {
        let decision = shared.withLock { s -> Result<(Bool, (RunningRun, CancellationFlag)?), NotRunnable> in
            switch s.lifecycle {
            case .broken(let reason): return .failure(NotRunnable(.broken, reason: reason))
            case .stopping: return .failure(NotRunnable(.stopping, reason: "the daemon is stopping"))
            case .syncing, .queued, .idle: break
            }
            let (request, actions) = s.scheduler.runRequested(full: full)
            guard request != .refused else { return .failure(NotRunnable(.stopping, reason: "the daemon is stopping")) }
            s.allowedDeletions = max(s.allowedDeletions, allowDeletions)
            if let waiter { s.waiters.append(waiter) }
            return .success((request == .started, Self.begin(actions, &s)))
        }
        switch decision {
        case .failure(let reason):
            return .failure(reason)
        case .success((let started, let begun)):
            if let (run, cancel) = begun { launch(run, cancel: cancel) }
            return .success(started)
        }
    }

    /// Cancels any run in progress (its in-flight HTTP is aborted, nothing is committed) and
    /// stops scheduling. Returns when the run and push queues are idle and the journal is closed, or the deadline passes.
    public func stop(deadline: DispatchTime) -> Bool {
        let stopped = DispatchGroup()
        beginStop(stopped)
        return stopped.wait(timeout: deadline) == .success
    }

    /// `stop` without waiting: `stopped` is left once the run and push queues are idle and the
    /// journal is closed. `SyncManager` stops every profile this way and waits once, so no thread
    /// blocks per profile.
    public func beginStop(_ stopped: DispatchGroup) {
        shared.withLock {
            if case .broken = $0.lifecycle {} else { $0.lifecycle = .stopping }
            $0.cancel.cancel()
            _ = $0.scheduler.stop()
        }
        stopFlag.cancel()
        timer.source.cancel()
        scimTimer.source.cancel()
        ldapTimer.source.cancel()
        // A run waiting for a slot gives it up and ends at once as cancelled (its waiters hear so).
        slots.withdraw(name)?()
        // The run and any push finish (both were cancelled) before the journal closes.
        let idle = DispatchGroup()
        for queue in [runQueue, scimQueue, ldapQueue, hookQueue] { queue.async(group: idle) {} }
        stopped.enter()
        idle.notify(queue: runQueue) {
            self.store.close()
            stopped.leave()
        }
    }

    // MARK: The run

    /// One run, on `runQueue`: `SyncRun` reads and decides, the store commits, the consumers follow.
    private func performRun(_ run: RunningRun, cancel: CancellationFlag) {
        let (runId, started) = (run.runId, run.started)
        var logger = self.logger
        logger[metadataKey: "run_id"] = "\(runId)"
        var before = mirror
        let (profile, allowed) = shared.withLock { s -> (Profile, Int) in
            defer { s.allowedDeletions = 0 }
            return (s.profile, s.allowedDeletions)
        }
        var summary: RunSummary
        var committed: SyncPlan?
        // When the run's batch was on disk: a push that follows logs how long after it it ended.
        var committedAt: Double?
        var largeRun = false
        var phases = PhaseClock()
        let isFull = SyncRun.readsEverything(requested: run.full, profile: profile, before: before)
        shared.withLock { s in if case .syncing = s.lifecycle { s.lifecycle = .syncing(RunningRun(runId: runId, full: isFull, started: started)) } }
        logger.info("run started\(isFull ? " (full)" : "")", metadata: ["MESSAGE_ID": "\(MessageID.runStarted)"])
        if let expires = profile.credentialExpires, let warning = Self.expiryWarning(profile, expires: expires) {
            logger.warning("\(warning)")
        }
        do {
            let sync = SyncRun(runId: runId, full: run.full, started: started, profile: profile, graph: try graphClient(for: profile),
                               cancel: cancel, logger: logger, allowedDeletions: allowed,
                               parallelFallback: { [self] reason in shared.withLock { $0.parallelFallback = reason } })
            var outcome = try sync.execute(before: before, phases: &phases)
            summary = outcome.summary
            largeRun = outcome.large
            // What the LDAP targets' next plans look at (the plan is consumed by the commit; what
            // trails it is the run's record and change set, no object).
            let touched = profile.ldapTargets.isEmpty || isFull || before.isEmpty ? nil : Mutation.touchedObjects(outcome.plan.mutations)
            defer { shared.withLock { $0.ldap.committed(touched) } }
            if before.isEmpty {
                try store.commitFirstSync(&outcome.plan, trailing: outcome.trailing, before: &before) { phases.mark("apply") }
                phases.mark("commit")
                committedAt = Date().timeIntervalSince1970
            } else {
                try store.commitRun(&outcome.plan, trailing: outcome.trailing, before: &before) {
                    phases.mark("commit")
                    committedAt = Date().timeIntervalSince1970
                }
                phases.mark("apply")
            }
            committed = outcome.plan  // applied: only its counts are left
        } catch let blocked as SyncRun.DeletionsBlocked {
            summary = RunSummary(runId: runId, result: .blocked, full: isFull, started: started, finished: Date().timeIntervalSince1970,
                                 added: blocked.added, updated: blocked.updated, removed: blocked.removals,
                                 error: blocked.description, hint: blocked.hint,
                                 users: before.users.count, groups: before.groups.count,
                                 memberships: before.members.values.reduce(0) { $0 + $1.count })
            logger.warning("\(blocked.description) \(blocked.hint)",
                           metadata: ["MESSAGE_ID": "\(MessageID.deletionsBlocked)", "ENTRA_REMOVED": "\(blocked.removals)"])
            try? commit([.recordRun(summary)])
        } catch {
            let graphError = error as? GraphError
            let cancelled = graphError?.kind == .cancelled
            summary = RunSummary(runId: runId, result: cancelled ? .cancelled : .failed, full: isFull, started: started,
                                 finished: Date().timeIntervalSince1970,
                                 error: cancelled ? "cancelled: the daemon is stopping" : "\(error)",
                                 hint: graphError?.hint,
                                 users: before.users.count, groups: before.groups.count,
                                 memberships: before.members.values.reduce(0) { $0 + $1.count })
            if cancelled {
                logger.notice("run cancelled; nothing was committed")
            } else {
                logger.error("run failed: \(error)\(graphError?.hint.map { " — \($0)" } ?? "")",
                             metadata: ["MESSAGE_ID": "\(MessageID.runFailed)",
                                        "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"])
                // The failure goes into the history; the mirror and delta links stay as committed.
                try? commit([.recordRun(summary)])
            }
        }

        if let committed {
            // The pushes read the committed mirror on their own queues: they start now, beside the
            // exports, not after them (a push's POSIX ids are assigned first).
            assignPosixIDs()
            startPushes(profile: profile, full: summary.full, committedAt: committedAt)
            // Failures here never undo the commit.
            if exports.publish(mirror.withoutPushState, runId: runId, changed: !committed.isEmpty, profile: profile, logger: logger) { phases.mark("exports") }
            store.compactIfNeeded(logger: logger)
            phases.mark("compaction")
            if largeRun { Heap.returnFreed() }
            logger.debug("run phases: \(phases)")
            // The run ends when its exports are written: status, metrics, waiters and the journaled
            // history (after a restart) report all of it, not only up to the commit.
            summary.finished = Date().timeIntervalSince1970
            do {
                try commit([.runEnded(runId: runId, at: summary.finished)])
            } catch {
                logger.warning("cannot journal the end of run \(runId): \(error)")
            }
            logger.info(
                "run succeeded: +\(summary.added) ~\(summary.updated) -\(summary.removed) in \(summary.durationMsec) ms",
                metadata: ["MESSAGE_ID": "\(MessageID.runSucceeded)", "ENTRA_ADDED": "\(summary.added)",
                           "ENTRA_UPDATED": "\(summary.updated)", "ENTRA_REMOVED": "\(summary.removed)",
                           "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"])
        }

        // Idle profiles hold no descriptors: the next run (minutes away) connects again.
        graph.withLock { $0.graph?.closeConnections() }
        store.showInHistory(summary)
        let (waiters, actions) = shared.withLock { s -> ([@Sendable (RunSummary) -> Void], [RunScheduler.Action]) in
            if case .syncing = s.lifecycle { s.lifecycle = .idle }
            var rng = SystemRandomNumberGenerator()
            let actions = s.scheduler.runFinished(summary.result, now: Date().timeIntervalSince1970, using: &rng)
            let w = s.waiters
            s.waiters = []
            return (w, actions)
        }
        arm(actions)
        slots.leave(name)
        shared.withLock { $0.runsByResult[summary.result.rawValue, default: 0] += 1 }
        writeMetrics(profile: profile, logger: logger)
        for waiter in waiters { waiter(summary) }
        onRunFinished(self, summary)
        // Each consumer on its own queue: a slow program or target delays neither this run's waiters
        // nor the next run.
        if summary.result == .succeeded, let program = profile.onChange {
            deliverChanges(program: program, profile: profile)
        }
    }

    /// The pushes that follow a committed run, each on its target kind's queue.
    private func startPushes(profile: Profile, full: Bool, committedAt: Double?) {
        if !profile.scimTargets.isEmpty { scimQueue.async { [profile] in self.pushScim(profile: profile) } }
        if !profile.ldapTargets.isEmpty { ldapQueue.async { [profile] in self.pushLdap(profile: profile, reconcile: full, committedAt: committedAt) } }
    }

    /// The store's write API, the one way to change the mirror outside a run's commit (consumers
    /// record what they delivered this way): see `ProfileStore.commit`.
    func commit(_ mutations: [Mutation]) throws {
        try store.commit(mutations)
    }

    /// Hands the pending change sets to the OnChange program and journals their delivery when it
    /// accepted them (at least once: a failure or a crash delivers them again).
    /// On `hookQueue`: after each successful run, and at start when some were never accepted.
    private func deliverChanges(program: String, profile: Profile) {
        let hook = ChangeHook(program: program, timeout: profile.onChangeTimeout, profile: name, logger: logger, stop: stopFlag)
        hookQueue.async { self.deliver(hook) }
    }

    private func deliver(_ hook: ChangeHook) {
        guard !stopFlag.isCancelled else { return }  // pending: delivered after the next start
        let pending = mirror.pendingChanges
        guard let runId = hook.deliver(pending) else { return }
        do {
            try commit([.hookDelivered(runId: runId)])
            logger.info("OnChange program accepted \(pending.count) change set\(pending.count == 1 ? "" : "s")")
        } catch {
            logger.error("cannot record the OnChange delivery: \(error); the changes may be delivered again")
        }
    }

    /// Makes sure exports show the committed state (a crash can fall between commit and export) and
    /// removes what a killed export left. Returns when they do, so a daemon that answers on its
    /// socket shows the last committed run; called before the runner starts, so its queue is idle.
    public func refreshExportsIfStale() {
        runQueue.sync { exports.refreshIfStale(mirror, profile: profile, logger: logger) }
    }

    private func graphClient(for profile: Profile) throws -> GraphClient {
        try graph.withLock { w throws -> GraphClient in
            if let client = w.graph, let made = w.graphProfile, GraphClient.sameConnection(made, profile) { return client }
            let client = try GraphClient(profile: profile, appThrottle: appThrottles.throttle(clientId: profile.clientId), logger: logger)
            w.retiredCounters = w.retiredCounters + (w.graph?.counters ?? GraphRequestCounters())
            w.graph = client
            w.graphProfile = profile
            return client
        }
    }

    static func makeRunId() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(format: "%016llx", rng.next() as UInt64)
    }
}

/// A timer shared between the scheduler queue and callers of `schedule`/`stop`.
final class TimerSource: Sendable {
    let source: EventTimer
    init(_ source: EventTimer) { self.source = source }
}
