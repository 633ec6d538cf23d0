import Dispatch
import EntraConfig
import EntraControl
import EntraGraph
import EntraJournal
import Foundation
import Logging
import Synchronization

/// Runs the syncs of one profile: one at a time, on its own queue, and keeps its mirror.
///
/// Runs execute on `runQueue` (libcurl calls block); the timer lives on the shared scheduler queue
/// and only triggers runs. Everything readers need (status, mirror) is behind one mutex; the
/// journal and the Graph client are touched only from `runQueue`.
public final class ProfileRunner: Sendable {
    public enum Phase: Sendable, Equatable {
        case idle
        case syncing
    }

    struct Shared: Sendable {
        var profile: Profile
        var state = MirrorState()
        var visibleMemberships = 0
        var phase = Phase.idle
        var currentRun: (id: String, full: Bool, started: Double)?
        var waiters: [@Sendable (RunSummary) -> Void] = []
        var nextRun: Double?
        /// Set when the journal cannot be opened: the profile cannot run.
        var openError: String?
        /// Set when a reload found the profile's file invalid: it keeps running on its old config.
        var configError: String?
        var exportError: String?
        var stopping = false
        var cancel = CancellationFlag()
        var consecutiveFailures = 0
        /// What outputs show under the profile's scope, after the last export.
        var scopedCounts: (users: Int, groups: Int, memberships: Int)?
        /// Removals approved for the next run (`run-now --allow-deletions N`).
        var allowedDeletions = 0
        /// Runs by result since the daemon started (Prometheus counters).
        var runsByResult: [String: Int] = [:]
        var scim = ScimRuntime()
    }

    public let name: String
    let directory: String
    let runQueue: DispatchQueue
    private let timer: TimerSource
    let logger: Logger
    let shared: Mutex<Shared>
    /// Confined to `runQueue`.
    let worker: Mutex<Worker>
    private let onRunFinished: @Sendable (ProfileRunner, RunSummary) -> Void
    private let compaction: CompactionPolicy
    /// Fires SCIM push retries (on the scheduler queue; the push itself runs on `runQueue`).
    let scimTimer: TimerSource
    /// Cancelled when the runner stops: aborts SCIM pushes.
    let stopFlag = CancellationFlag()

    struct Worker: ~Copyable {
        var journal: Journal?
        var graph: GraphClient?
        var graphProfile: Profile?
        var exportedSettings: ExportSettings?
    }

    /// When the journal is rewritten as a snapshot.
    public struct CompactionPolicy: Sendable {
        public var factor: Int
        public var minBytes: Int
        public init(factor: Int = 4, minBytes: Int = 1 << 20) {
            self.factor = factor
            self.minBytes = minBytes
        }
    }

    /// Opens the profile's journal and replays it. A journal that cannot be read leaves the runner
    /// in a failed state that says why; it never runs on a partial mirror.
    public init(profile: Profile, stateRoot: String, schedulerQueue: DispatchQueue, logger: Logger,
                compaction: CompactionPolicy = .init(),
                onRunFinished: @escaping @Sendable (ProfileRunner, RunSummary) -> Void) {
        self.name = profile.name
        self.directory = stateRoot + "/" + profile.name
        var logger = logger
        logger[metadataKey: "profile"] = "\(profile.name)"
        self.logger = logger
        self.runQueue = DispatchQueue(label: "entra-sync.run.\(profile.name)")
        self.timer = TimerSource(DispatchSource.makeTimerSource(queue: schedulerQueue))
        self.scimTimer = TimerSource(DispatchSource.makeTimerSource(queue: schedulerQueue))
        self.onRunFinished = onRunFinished
        self.compaction = compaction
        var shared = Shared(profile: profile)
        var worker = Worker()
        do {
            try Self.makeDirectory(directory)
            var replay = MirrorReplay()
            var decodeError: Error?
            let (journal, report) = try Journal.open(directory: directory + "/journal") { record in
                guard decodeError == nil else { return }
                do {
                    try replay.apply(record)
                } catch {
                    decodeError = error
                }
            }
            let state = replay.state
            replay = MirrorReplay()
            if let decodeError {
                journal.close()
                throw ReplayError(message: "journal of profile \(profile.name) holds a record this version cannot read: \(decodeError)")
            }
            if report.truncatedBytes > 0 {
                logger.warning("journal tail repaired: \(report)", metadata: ["MESSAGE_ID": "\(MessageID.journalRepaired)"])
            }
            worker.journal = journal
            shared.state = state
            shared.visibleMemberships = state.visibleMembershipCount
        } catch {
            let message = "cannot open the journal in \(directory)/journal: \(error)"
            logger.error("\(message)", metadata: ["MESSAGE_ID": "\(MessageID.journalCorrupt)"])
            shared.openError = message
        }
        self.shared = Mutex(shared)
        self.worker = Mutex(worker)
        timer.source.setEventHandler { [weak self] in self?.timerFired() }
        timer.source.activate()
        scimTimer.source.setEventHandler { [weak self] in self?.scimTimerFired() }
        scimTimer.source.activate()
    }

    struct ReplayError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    // MARK: Reading

    public var profile: Profile { shared.withLock { $0.profile } }

    /// A copy of the mirror as of the last committed run (cheap: copy-on-write).
    public var mirror: MirrorState { shared.withLock { $0.state } }

    public func status() -> ProfileStatus {
        shared.withLock { statusLocked($0) }
    }

    private func statusLocked(_ s: Shared) -> ProfileStatus {
        do {
            let counts = s.scopedCounts ?? (s.state.users.count, s.state.groups.count, s.visibleMemberships)
            var status = ProfileStatus(name: name, state: "idle", users: counts.users, groups: counts.groups,
                                       memberships: counts.memberships)
            let last = s.state.history.last
            status.lastRun = last.map(Self.runInfo)
            status.lastSuccess = s.state.lastSuccess.map { Timestamp.format($0.finished) }
            status.nextRun = s.nextRun.map(Timestamp.format)
            if let current = s.currentRun {
                status.state = "syncing"
                status.lastRun = RunInfo(runId: current.id, result: "running", full: current.full,
                                         started: Timestamp.format(current.started))
            } else if s.openError != nil {
                status.state = "failed"
            } else if s.configError != nil {
                status.state = "config-error"
            } else if last?.result == .failed {
                status.state = "failed"
            } else if last?.result == .blocked {
                status.state = "blocked"
            }
            status.error = s.openError ?? s.configError ?? s.exportError
            if let expires = s.profile.credentialExpires {
                status.credentialExpires = Timestamp.format(expires)
                if let warning = Self.expiryWarning(s.profile, expires: expires) { status.warnings = [warning] }
            }
            return status
        }
    }

    /// "expires in N days" when the credential expires within 30 days (or has expired).
    static func expiryWarning(_ profile: Profile, expires: Double, now: Double = Date().timeIntervalSince1970) -> String? {
        let days = Int(((expires - now) / 86400).rounded(.down))
        guard days < 30 else { return nil }
        let what = profile.certificate != nil ? "client certificate \(profile.certificate!.certificatePath)" : "client secret"
        let when = days < 0 ? "expired on \(Timestamp.format(expires))" : "expires on \(Timestamp.format(expires)) (in \(days) days)"
        return "The \(what) \(when): create a new one in the app registration and update the profile."
    }

    struct ExportSettings: Equatable {
        var scope: Scope
        var formats: Set<ExportFormat>
    }

    static func runInfo(_ run: RunSummary) -> RunInfo {
        RunInfo(runId: run.runId, result: run.result.rawValue, full: run.full, started: Timestamp.format(run.started),
                finished: Timestamp.format(run.finished), durationMsec: run.durationMsec, added: run.added,
                updated: run.updated, removed: run.removed, error: run.error, hint: run.hint)
    }

    // MARK: Scheduling

    /// Schedules the first run: soon when the profile never synced or is overdue, else one interval after the last run.
    public func start() {
        let (profile, last, broken) = shared.withLock { ($0.profile, $0.state.history.last, $0.openError != nil) }
        guard !broken else { return }
        let now = Date().timeIntervalSince1970
        let due: Double
        if let last, last.result == .succeeded {
            due = max(0, last.finished + profile.interval - now)
        } else {
            due = 0
        }
        schedule(in: due + Double.random(in: 0...min(profile.randomizedDelay, due == 0 ? 2 : profile.randomizedDelay)))
        if scimPushInterrupted(profile: profile) { scheduleScimPush(in: 1) }
    }

    private func schedule(in seconds: Double) {
        let seconds = max(0, seconds)
        shared.withLock { $0.nextRun = Date().timeIntervalSince1970 + seconds }
        timer.source.schedule(deadline: .now() + seconds, repeating: .never, leeway: .milliseconds(100))
    }

    private func timerFired() {
        _ = trigger(full: false, waiter: nil)
    }

    /// Replaces the profile's configuration (reload). A run in progress finishes with the old one.
    public func update(profile: Profile) {
        let (intervalChanged, scimChanged) = shared.withLock { s -> (Bool, Bool) in
            let changed = (s.profile.interval != profile.interval, s.profile.scimTargets != profile.scimTargets)
            s.profile = profile
            s.configError = nil
            return changed
        }
        if intervalChanged { start() }
        // A new or changed target (endpoint, token, mapping) is pushed to now, not at the next run.
        if scimChanged && !profile.scimTargets.isEmpty { scheduleScimPush(in: 1) }
    }

    public func markConfigError(_ message: String?) {
        shared.withLock { $0.configError = message }
    }

    /// Starts a run, or joins the one in progress.
    /// - Returns: whether a new run was started; nil when the profile cannot run (with the reason).
    @discardableResult
    public func trigger(full: Bool, allowDeletions: Int = 0, waiter: (@Sendable (RunSummary) -> Void)?) -> Result<Bool, NotRunnable> {
        let decision = shared.withLock { s -> Result<(Bool, CancellationFlag), NotRunnable> in
            if let error = s.openError { return .failure(NotRunnable(reason: error)) }
            if s.stopping { return .failure(NotRunnable(reason: "the daemon is stopping")) }
            s.allowedDeletions = max(s.allowedDeletions, allowDeletions)
            if let waiter { s.waiters.append(waiter) }
            if s.phase == .syncing { return .success((false, s.cancel)) }
            s.phase = .syncing
            s.cancel = CancellationFlag()
            return .success((true, s.cancel))
        }
        switch decision {
        case .failure(let reason):
            return .failure(reason)
        case .success((false, _)):
            return .success(false)
        case .success((true, let cancel)):
            runQueue.async { self.performRun(full: full, cancel: cancel) }
            return .success(true)
        }
    }

    /// A run that would remove more objects than MaxDeletions= allows.
    struct DeletionsBlocked: Error, CustomStringConvertible {
        var removals: Int
        var limit: DeletionLimit
        var allowed: Int
        var profile: String
        var added: Int
        var updated: Int
        var description: String {
            "run blocked: it would remove \(removals) users and groups, more than MaxDeletions=\(limit) allows (\(allowed)); nothing was committed"
        }
        var hint: String {
            "If these deletions are intended, approve one run: entra-syncctl run-now \(profile) --allow-deletions \(removals)"
        }
    }

    public struct NotRunnable: Error, Sendable {
        public var reason: String
    }

    /// Cancels any run in progress (its in-flight HTTP is aborted, nothing is committed) and
    /// stops scheduling. Returns when the run queue is idle or the deadline passes.
    public func stop(deadline: DispatchTime) -> Bool {
        shared.withLock {
            $0.stopping = true
            $0.cancel.cancel()
            $0.nextRun = nil
        }
        stopFlag.cancel()
        timer.source.cancel()
        scimTimer.source.cancel()
        let done = DispatchSemaphore(value: 0)
        runQueue.async {
            self.worker.withLock { w in w.journal?.close(); w.journal = nil }
            done.signal()
        }
        return done.wait(timeout: deadline) == .success
    }

    // MARK: The run

    private func performRun(full: Bool, cancel: CancellationFlag) {
        let runId = Self.makeRunId()
        let started = Date().timeIntervalSince1970
        var logger = self.logger
        logger[metadataKey: "run_id"] = "\(runId)"
        var (profile, before, allowed) = shared.withLock { s -> (Profile, MirrorState, Int) in
            s.currentRun = (runId, full, started)
            let allowed = s.allowedDeletions
            s.allowedDeletions = 0
            return (s.profile, s.state, allowed)
        }
        let isFull = full || (profile.syncUsers && before.usersDeltaLink == nil) || (profile.syncGroups && before.groupsDeltaLink == nil)
        shared.withLock { $0.currentRun = (runId, isFull, started) }
        logger.info("run started\(isFull ? " (full)" : "")", metadata: ["MESSAGE_ID": "\(MessageID.runStarted)"])
        if let expires = profile.credentialExpires, let warning = Self.expiryWarning(profile, expires: expires) {
            logger.warning("\(warning)")
        }

        var summary: RunSummary
        var committed: SyncPlan?
        var largeRun = false
        var phases = PhaseClock()
        do {
            let graph = try graphClient(for: profile)
            var users = profile.syncUsers ? try graph.userRound(from: full ? nil : before.usersDeltaLink, cancel: cancel) : nil
            phases.mark("users")
            // The users are planned on a second thread while the groups round downloads and decodes.
            let (state, usersRound, grace) = (before, users, profile.softDeleteGrace)
            let usersPlan = BackgroundWork(name: "plan-users") {
                SyncPlan.users(state: state, round: usersRound, softDeleteGrace: grace, now: Date().timeIntervalSince1970)
            }
            var groups: DeltaRound<GroupDelta>?
            do {
                groups = profile.syncGroups ? try graph.groupRound(from: full ? nil : before.groupsDeltaLink, cancel: cancel) : nil
            } catch {
                _ = usersPlan.wait()
                throw error
            }
            phases.mark("groups")
            var plan = usersPlan.wait()
            let usersFull = users?.full ?? false
            users = nil  // planned
            if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
            CrashPoint.hit("plan")
            plan.append(SyncPlan.groups(state: before, round: groups))
            phases.mark("plan")
            let wasFull = usersFull || (groups?.full ?? false)
            // Planned: the decoded rounds (every page's entries and member slices) go now, not
            // after the commit, the apply and the exports.
            groups = nil
            largeRun = wasFull || plan.mutations.count >= Self.largeRun
            if largeRun { Heap.returnFreed() }
            let removals = plan.usersRemoved + plan.groupsRemoved
            if let limit = profile.maxDeletions, removals > limit.limit(total: before.users.count + before.groups.count), removals > allowed {
                throw DeletionsBlocked(removals: removals, limit: limit, allowed: limit.limit(total: before.users.count + before.groups.count),
                                       profile: profile.name, added: plan.added, updated: plan.updated)
            }
            summary = RunSummary(
                runId: runId, result: .succeeded, full: wasFull, started: started, finished: Date().timeIntervalSince1970,
                added: plan.added, updated: plan.updated, removed: plan.removed,
                users: before.users.count + plan.usersAdded - plan.usersRemoved,
                groups: before.groups.count + plan.groupsAdded - plan.groupsRemoved,
                memberships: before.members.values.reduce(0) { $0 + $1.count } + plan.membershipsAdded - plan.membershipsRemoved)
            var hookRecord: Mutation?
            if profile.onChange != nil && !plan.isEmpty {
                hookRecord = .hookPending(runId: runId, lines: ChangeSet.lines(before: before, mutations: plan.mutations, runId: runId))
            }
            if before.isEmpty {
                try commitFirstSync(&plan, hookRecord: hookRecord, summary: summary, before: &before, phases: &phases)
            } else {
                let runRecord = Mutation.recordRun(summary).record
                try worker.withLock { w throws in
                    guard let journal = w.journal else { throw ReplayError(message: "journal is closed") }
                    try journal.commit { emit in
                        for mutation in plan.mutations { emit(mutation.record) }
                        if let hookRecord { emit(hookRecord.record) }
                        emit(runRecord)
                    }
                }
                phases.mark("commit")
                before = MirrorState()  // our reference would make applying copy the whole mirror
                // Applied by consuming the plan: each mutation's payload (users, member lists) is freed
                // as the mirror takes it over, so plan and mirror are not both held whole.
                plan.mutations.reverse()
                shared.withLock { s in
                    s.state.reserveCapacity(addingUsers: plan.usersAdded, groups: plan.groupsAdded)
                    while let mutation = plan.mutations.popLast() { s.state.apply(mutation) }
                    if let hookRecord { s.state.apply(hookRecord) }
                    s.state.apply(.recordRun(summary))
                    s.visibleMemberships = s.state.visibleMembershipCount
                }
                phases.mark("apply")
            }
            committed = plan  // applied: only its counts are left
            logger.info(
                "run succeeded: +\(plan.added) ~\(plan.updated) -\(plan.removed) in \(summary.durationMsec) ms",
                metadata: ["MESSAGE_ID": "\(MessageID.runSucceeded)", "ENTRA_ADDED": "\(plan.added)",
                           "ENTRA_UPDATED": "\(plan.updated)", "ENTRA_REMOVED": "\(plan.removed)",
                           "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"])
        } catch let blocked as DeletionsBlocked {
            summary = RunSummary(runId: runId, result: .blocked, full: isFull, started: started, finished: Date().timeIntervalSince1970,
                                 added: blocked.added, updated: blocked.updated, removed: blocked.removals,
                                 error: blocked.description, hint: blocked.hint,
                                 users: before.users.count, groups: before.groups.count,
                                 memberships: before.members.values.reduce(0) { $0 + $1.count })
            logger.warning("\(blocked.description) \(blocked.hint)",
                           metadata: ["MESSAGE_ID": "\(MessageID.deletionsBlocked)", "ENTRA_REMOVED": "\(blocked.removals)"])
            let recorded = (try? worker.withLock { w throws in try w.journal?.commit([Mutation.recordRun(summary).record]) }) != nil
            shared.withLock { s in if recorded { s.state.apply(.recordRun(summary)) } }
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
                let recorded = (try? worker.withLock { w throws in try w.journal?.commit([Mutation.recordRun(summary).record]) }) != nil
                shared.withLock { s in if recorded { s.state.apply(.recordRun(summary)) } }
            }
        }

        if committed != nil {
            afterCommit(plan: committed!, runId: runId, scope: profile.scope, formats: profile.exportFormats, grace: profile.softDeleteGrace,
                        phases: &phases, logger: logger)
            if largeRun { Heap.returnFreed() }
            logger.debug("run phases: \(phases)")
        }
        if summary.result == .succeeded, let program = profile.onChange {
            deliverChanges(program: program, timeout: profile.onChangeTimeout, logger: logger)
        }

        // Idle profiles hold no descriptors: the next run (minutes away) connects again.
        worker.withLock { $0.graph?.closeConnections() }
        let (waiters, failures) = shared.withLock { s -> ([@Sendable (RunSummary) -> Void], Int) in
            s.phase = .idle
            s.currentRun = nil
            if (summary.result == .failed || summary.result == .blocked) && s.state.history.last?.runId != runId {
                // Not journaled (e.g. disk full): still show it.
                s.state.history.append(summary)
            }
            s.consecutiveFailures = summary.result == .succeeded ? 0 : s.consecutiveFailures + 1
            let w = s.waiters
            s.waiters = []
            return (w, s.consecutiveFailures)
        }
        if summary.result != .cancelled && !shared.withLock({ $0.stopping }) {
            let interval = profile.interval
            let next = failures == 0 ? interval : min(interval, 30 * pow(2, Double(min(failures - 1, 6))))
            schedule(in: next + Double.random(in: 0...max(0, profile.randomizedDelay)))
        }
        shared.withLock { $0.runsByResult[summary.result.rawValue, default: 0] += 1 }
        writeMetrics(profile: profile, logger: logger)
        for waiter in waiters { waiter(summary) }
        onRunFinished(self, summary)
        // After the run is reported: a slow SCIM target delays the next run, not this one's waiters.
        if summary.result == .succeeded { pushScim(profile: profile) }
    }

    /// Commits the first sync of an empty mirror as the journal's first snapshot: the new mirror is
    /// built aside, written with `writeSnapshot` (atomic: a crash leaves the old journal), then
    /// published. One compact write instead of a batch that compaction would rewrite right away.
    private func commitFirstSync(_ plan: inout SyncPlan, hookRecord: Mutation?, summary: RunSummary, before: inout MirrorState,
                                 phases: inout PhaseClock) throws {
        var next = before  // an empty mirror may still hold run history and SCIM state
        before = MirrorState()
        plan.mutations.reverse()
        next.reserveCapacity(addingUsers: plan.usersAdded, groups: plan.groupsAdded)
        while let mutation = plan.mutations.popLast() { next.apply(mutation) }
        if let hookRecord { next.apply(hookRecord) }
        next.apply(.recordRun(summary))
        phases.mark("apply")
        try worker.withLock { w throws in
            guard let journal = w.journal else { throw ReplayError(message: "journal is closed") }
            try journal.writeSnapshot { emit in try next.snapshotMutations { try emit($0.record) } }
        }
        phases.mark("commit")
        let visible = next.visibleMembershipCount
        shared.withLock { s in
            s.state = next
            s.visibleMemberships = visible
        }
    }

    /// Exports and compaction, after the mirror changed. Failures here never undo the commit.
    private func afterCommit(plan: SyncPlan, runId: String, scope: Scope, formats: Set<ExportFormat>, grace: Double,
                             phases: inout PhaseClock, logger: Logger) {
        let state = mirror
        let exports = ExportWriter(directory: directory + "/export")
        let settings = ExportSettings(scope: scope, formats: formats)
        let scopeChanged = worker.withLock { $0.exportedSettings != settings }
        let graceShown = !state.recentlyDeleted.isEmpty  // deleted users age out of the exports
        let lastExportFailed = shared.withLock { $0.exportError != nil }  // it may have left users.json newer than groups.json
        if !plan.isEmpty || scopeChanged || graceShown || lastExportFailed || exports.exportedRunId() == nil || !FileManager.default.fileExists(atPath: exports.directory + "/users.json") {
            do {
                let view = ScopedView(state: state, scope: scope, softDeleteGrace: grace)
                try exports.write(view, runId: runId, formats: formats)
                let counts = view.counts
                worker.withLock { $0.exportedSettings = settings }
                shared.withLock {
                    $0.exportError = nil
                    $0.scopedCounts = counts
                }
            } catch {
                logger.error("export failed: \(error)")
                shared.withLock { $0.exportError = "export failed: \(error)" }
            }
            phases.mark("exports")
        } else {
            // Nothing changed: the files show this run too. Say so, or the next start would
            // rewrite them all before answering (seconds for a large tenant).
            do {
                try exports.markCurrent(runId: runId)
            } catch {
                logger.warning("cannot update \(exports.directory)/.state: \(error)")
            }
        }
        compactIfNeeded(logger: logger)
        phases.mark("compaction")
    }

    /// Rewrites the journal as a snapshot when it has grown enough (on `runQueue`).
    func compactIfNeeded(logger: Logger) {
        let state = mirror
        worker.withLock { w in
            guard let journal = w.journal, journal.shouldCompact(factor: compaction.factor, minBytes: compaction.minBytes) else { return }
            do {
                try journal.writeSnapshot { emit in
                    try state.snapshotMutations { try emit($0.record) }
                }
                logger.info("journal compacted to \(journal.totalBytes) bytes")
            } catch {
                logger.error("journal compaction failed (the journal stays valid): \(error)")
            }
        }
    }

    /// Feeds every pending change set to the OnChange program; marks them delivered in the journal
    /// only when it exits 0, so a failure or a crash means they are delivered again (at least once).
    private func deliverChanges(program: String, timeout: Double, logger: Logger) {
        let pending = mirror.pendingChanges
        guard let last = pending.last else { return }
        let input = pending.flatMap(\.lines)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        var environment = ProcessInfo.processInfo.environment
        environment["ENTRA_PROFILE"] = name
        environment["ENTRA_RUN_ID"] = last.runId
        process.environment = environment
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            logger.error("OnChange program \(program) could not start: \(error); the changes will be delivered with the next run")
            return
        }
        let writer = stdin.fileHandleForWriting
        DispatchQueue.global().async {
            try? writer.write(contentsOf: Data(input))
            try? writer.close()
        }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            if finished.wait(timeout: .now() + 5) == .timedOut { kill(process.processIdentifier, SIGKILL); finished.wait() }
            logger.error("OnChange program \(program) timed out after \(TimeSpan.format(timeout)); \(pending.count) change sets will be delivered again with the next run")
            return
        }
        guard process.terminationStatus == 0 else {
            logger.error("OnChange program \(program) failed with exit status \(process.terminationStatus); \(pending.count) change sets will be delivered again with the next run")
            return
        }
        let delivered = Mutation.hookDelivered(runId: last.runId)
        do {
            try worker.withLock { w throws in try w.journal?.commit([delivered.record]) }
            shared.withLock { $0.state.apply(delivered) }
            logger.info("OnChange program accepted \(pending.count) change set\(pending.count == 1 ? "" : "s")")
        } catch {
            logger.error("cannot record the OnChange delivery: \(error); the changes may be delivered again")
        }
    }

    /// Writes the Prometheus text file of this profile (atomically, for node_exporter's textfile collector).
    func writeMetrics(profile: Profile, logger: Logger) {
        let (status, runs, lastSuccess, last) = shared.withLock { s -> (ProfileStatus, [String: Int], RunSummary?, RunSummary?) in
            (self.statusLocked(s), s.runsByResult, s.state.lastSuccess, s.state.history.last)
        }
        let counters = worker.withLock { $0.graph?.counters } ?? GraphRequestCounters()
        let label = "profile=\"\(profile.name)\""
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { text += "\(name){\(labels)} \(value == value.rounded() ? String(Int(value)) : String(value))\n" }
        }
        metric("entra_sync_last_success_timestamp_seconds", "gauge", "When the last successful run finished.",
               [(label, lastSuccess?.finished ?? 0)])
        metric("entra_sync_last_run_duration_seconds", "gauge", "Duration of the last run.", [(label, Double(last?.durationMsec ?? 0) / 1000)])
        metric("entra_sync_last_run_success", "gauge", "1 if the last run succeeded.", [(label, last?.result == .succeeded ? 1 : 0)])
        metric("entra_sync_objects", "gauge", "Objects in the profile's scope.",
               [("\(label),kind=\"users\"", Double(status.users)), ("\(label),kind=\"groups\"", Double(status.groups)),
                ("\(label),kind=\"memberships\"", Double(status.memberships))])
        metric("entra_sync_runs_total", "counter", "Runs since the daemon started, by result.",
               RunSummary.Result.allCases.map { ("\(label),result=\"\($0.rawValue)\"", Double(runs[$0.rawValue] ?? 0)) })
        metric("entra_sync_graph_requests_total", "counter", "Graph requests sent.", [(label, Double(counters.requests))])
        metric("entra_sync_graph_throttled_total", "counter", "Graph answers 429.", [(label, Double(counters.throttled))])
        metric("entra_sync_graph_retries_total", "counter", "Graph requests retried.", [(label, Double(counters.retries))])
        if !profile.scimTargets.isEmpty { text += scimMetrics(profile: profile) }
        let (dir, file): (String, String)
        if let path = profile.metricsPath {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                (dir, file) = (path, "entra-sync-\(profile.name).prom")
            } else {
                (dir, file) = ((path as NSString).deletingLastPathComponent, (path as NSString).lastPathComponent)
            }
        } else {
            (dir, file) = (directory, "metrics.prom")
        }
        do {
            try ExportWriter(directory: dir).writeFile(file, Array(text.utf8))
        } catch {
            logger.warning("cannot write metrics: \(error)")
        }
    }

    /// Makes sure exports show the committed state (a crash can fall between commit and export, or
    /// between users.json and groups.json). Returns when they do, so a daemon that answers on its
    /// socket never shows a mix of two runs; called before the runner starts, so its queue is idle.
    public func refreshExportsIfStale() {
        runQueue.sync {
            let state = self.mirror
            let profile = self.profile
            let scope = profile.scope
            let view = ScopedView(state: state, scope: scope, softDeleteGrace: profile.softDeleteGrace)
            let counts = view.counts
            self.shared.withLock { $0.scopedCounts = counts }
            guard let last = state.lastSuccess else { return }
            let exports = ExportWriter(directory: self.directory + "/export")
            guard exports.exportedRunId() != last.runId else { return }
            do {
                try exports.write(view, runId: last.runId, formats: profile.exportFormats)
                self.worker.withLock { $0.exportedSettings = ExportSettings(scope: scope, formats: profile.exportFormats) }
            } catch {
                self.logger.error("export failed: \(error)")
            }
        }
    }

    private func graphClient(for profile: Profile) throws -> GraphClient {
        try worker.withLock { w throws -> GraphClient in
            if let graph = w.graph, w.graphProfile == profile { return graph }
            let graph = try GraphClient(profile: profile, logger: logger)
            w.graph = graph
            w.graphProfile = profile
            return graph
        }
    }

    /// A run this large (mutations) gives the heap it freed back to the system afterwards.
    static let largeRun = 10_000

    static func makeRunId() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(format: "%016llx", rng.next() as UInt64)
    }

    static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o750])
    }
}

/// Milliseconds per phase of a run, for the debug log: `users 310 ms, groups 820 ms, ...`.
struct PhaseClock: CustomStringConvertible {
    private var last = DispatchTime.now().uptimeNanoseconds
    private var phases: [(String, UInt64)] = []

    mutating func mark(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        phases.append((phase, (now - last) / 1_000_000))
        last = now
    }

    var description: String { phases.map { "\($0.0) \($0.1) ms" }.joined(separator: ", ") }
}

/// A dispatch timer shared between the scheduler queue and callers of `schedule`/`stop`.
/// `@unchecked` is safe: DispatchSource's schedule, cancel and handler setters are thread-safe.
final class TimerSource: @unchecked Sendable {
    let source: DispatchSourceTimer
    init(_ source: DispatchSourceTimer) { self.source = source }
}
