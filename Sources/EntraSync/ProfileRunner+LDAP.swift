import EntraConfig
import EntraHTTP
import EntraMirror
import EntraPush
import Foundation
import Logging

extension ProfileRunner {
    // MARK: Pushing

    /// Provisions the committed mirror into the profile's LDAP targets, one after the other (on `ldapQueue`).
    /// Nothing is pushed before the first successful sync: adoption needs the whole directory.
    /// - Parameters:
    ///   - reconcile: read the directory back for drift repair (after a full sync); it also happens at
    ///     first contact and every `ReconcileInterval=` after the last one (journaled, so a restart
    ///     does not bring it forward).
    ///   - committedAt: when the run this push follows was committed: its log line says how long
    ///     after that the push ended (`ENTRA_AFTER_COMMIT_MSEC`).
    ///   - whole: plan every entry, not only those of the objects changed since the last push (an
    ///     operator's push).
    func pushLdap(profile: Profile, only: String? = nil, retryAll: Bool = false, reconcile: Bool = false, whole: Bool = false,
                  committedAt: Double? = nil) {
        let targets = profile.ldapTargets.filter { only == nil || $0.name == only }
        guard !targets.isEmpty, !stopFlag.isCancelled, mirror.lastSuccess != nil else { return }
        for target in targets {
            var phases = PhaseClock()
            // Taken before the mirror is read: a run committed in between is planned now and again next time.
            let (changed, allowed) = shared.withLock { s -> (Set<String>?, Int) in
                s.ldap.pushing = target.name
                return (s.ldap.startPush(target.name, whole: whole || retryAll), s.ldap.allowedDeletions.removeValue(forKey: target.name) ?? 0)
            }
            var targetLogger = logger
            targetLogger[metadataKey: "ENTRA_LDAP_TARGET"] = "\(target.name)"
            // The mirror and the target's state read once, and let go of before the push (nothing
            // here outlives this closure but the desired state and the pusher): the state the push
            // changes is then the store's alone (see `LdapPusher`), not copied on its first change.
            let (pusher, desired, deletionLimit) = { [self] in
                let mirror = self.mirror
                let state = mirror.ldap[target.name] ?? LdapTargetState()
                let reconcileNow = reconcile || Self.reconcileDue(state, interval: target.reconcileInterval, now: Date().timeIntervalSince1970)
                let view = ScopedView(state: mirror, scope: profile.scope)
                // An incremental plan (the objects changed since the last push) where the target's
                // entries are known and are not read back; first contact and drift repair look at all.
                let incremental = state.adopted && state.location == target.location && !reconcileNow && target.schema != .activedirectory
                let planned = changed.flatMap { incremental ? LdapDesired.planned(changed: $0, view: view, target: target, state: state) : nil }
                let deletionLimit = (target.maxDeletions ?? profile.maxDeletions).map { max($0.limit(total: state.users.count + state.groups.count), allowed) }
                let pusher = LdapPusher(target: target, state: state, logger: targetLogger, cancel: stopFlag,
                                        journal: { [self] in try commit($0.map(Mutation.ldap)) },
                                        current: { [self] in self.mirror.ldap[target.name] ?? LdapTargetState() })
                pusher.reconcile = reconcileNow
                return (pusher, LdapDesired(view: view, target: target, only: planned?.objects, focus: planned?.focus ?? [:]), deletionLimit)
            }()
            phases.mark(desired.partial.map { "desired (\($0.count) objects)" } ?? "desired")
            pusher.phases = phases
            let summary = pusher.push(desired: desired, deletionLimit: deletionLimit, retryAll: retryAll)
            targetLogger.debug("push phases: \(pusher.phases)")
            shared.withLock { s in
                s.ldap.finished(target.name, summary)
                s.ldap.pushEnded(target.name, left: pusher.left)
            }
            log(summary, kind: .ldap, target: target.name, logger: targetLogger,
                afterCommitMsec: committedAt.map { Int(((Date().timeIntervalSince1970 - $0) * 1000).rounded()) })
            if stopFlag.isCancelled { return }
        }
        scheduleLdapRetry(profile: profile)
        writeMetrics(profile: profile, logger: logger)
        store.compactIfNeeded(logger: logger)
    }

    /// Drift repair is due `interval` after the last read-back; a state that never had one (a journal
    /// from before it was recorded) is read back once. First contact reads the directory anyway.
    static func reconcileDue(_ state: LdapTargetState, interval: Double, now: Double) -> Bool {
        guard let last = state.lastReconcile else { return true }
        return now - last >= interval
    }

    // MARK: Retries

    /// True when a push did not finish after the last committed run (a crash or stop cut it short, or
    /// it failed): at start the daemon resumes it without waiting for the next run.
    func ldapPushInterrupted(profile: Profile) -> Bool {
        let mirror = self.mirror
        return pushInterrupted(profile.ldapTargets.map { mirror.ldap[$0.name]?.lastPush }, lastSync: mirror.lastSuccessCommitted)
    }

    func scheduleLdapPush(in seconds: Double) {
        let seconds = max(0, seconds)
        shared.withLock { $0.ldap.nextAttempt = Date().timeIntervalSince1970 + seconds }
        ldapTimer.source.schedule(deadline: .now() + seconds, repeating: .never, leeway: .milliseconds(100))
    }

    func ldapTimerFired() {
        ldapQueue.async { [self] in
            shared.withLock { $0.ldap.nextAttempt = nil }
            pushLdap(profile: profile)
        }
    }

    private func scheduleLdapRetry(profile: Profile) {
        let now = Date().timeIntervalSince1970
        let (mirror, runtime) = (self.mirror, shared.withLock { $0.ldap })
        let targets = profile.ldapTargets.map { t in
            (name: t.name, lastPush: mirror.ldap[t.name]?.lastPush, failures: mirror.ldap[t.name].map { Array($0.failures.values) } ?? [])
        }
        if let next = runtime.nextPush(targets, interval: profile.interval, now: now) {
            scheduleLdapPush(in: next - now)
        } else {
            shared.withLock { $0.ldap.nextAttempt = nil }
        }
    }

    // MARK: Control

    /// Provisions now (on `ldapQueue`, after any push in progress) and calls `done` with the targets' status.
    public func requestLdapPush(target: String?, retry: Bool, allowDeletions: Int, done: @escaping @Sendable ([PushTargetSnapshot]) -> Void) {
        shared.withLock { s in
            for t in s.profile.ldapTargets where target == nil || t.name == target {
                s.ldap.allowedDeletions[t.name] = max(s.ldap.allowedDeletions[t.name] ?? 0, allowDeletions)
            }
        }
        ldapQueue.async { [self] in
            pushLdap(profile: profile, only: target, retryAll: retry, whole: true)
            done(ldapStatus(target: target, plan: true).map { status in
                var status = status
                status.plan = nil  // computed for `pending`; a push's answer lists no plan
                return status
            })
        }
    }

    // MARK: Status

    /// The targets' state (only `target` when given). With `plan`, `pending` is what the next push
    /// would send, computed from the mirror now, and `plan` lists it; without (cheap enough for every
    /// `status`), -1, and a push that started before the last successful run counts as pending.
    public func ldapStatus(target: String? = nil, plan: Bool) -> [PushTargetSnapshot] {
        let mirror = self.mirror
        let (profile, runtime) = shared.withLock { ($0.profile, $0.ldap) }
        guard !profile.ldapTargets.isEmpty else { return [] }
        let view = plan ? ScopedView(state: mirror, scope: profile.scope) : nil
        return profile.ldapTargets.filter { target == nil || $0.name == target }.map { t in
            let state = mirror.ldap[t.name].flatMap { $0.location == t.location ? $0 : nil } ?? LdapTargetState()
            let behind = (state.lastPush?.started ?? 0) < (mirror.lastSuccessCommitted ?? 0)
            let desired = view.map { LdapDesired(view: $0, target: t).settled(state) }
            let operations = desired.map { LdapPlan(desired: $0, state: state, mode: t.deprovisionMode).operations }
            let pending = operations?.count ?? (behind ? -1 : 0)
            var snapshot = PushTargetSnapshot(name: t.name, endpoint: t.uri, phase: .neverPushed, users: state.users.count,
                                              groups: state.groups.count, pending: pending, failures: state.failures.values.sorted { $0.at < $1.at })
            snapshot.phase = .of(pushing: runtime.pushing == t.name, lastPush: state.lastPush, failures: state.failures.count, pending: pending)
            if !plan { snapshot.pending = -1 }
            snapshot.lastPush = state.lastPush
            snapshot.lastSuccess = state.lastSuccess
            snapshot.lastReconcile = state.lastReconcile
            snapshot.pushes = runtime.pushesByResult[t.name]?.values.reduce(0, +) ?? 0
            snapshot.nextAttempt = pending == 0 && state.failures.isEmpty ? nil : runtime.nextAttempt
            if let operations, let desired {
                let dialect = LdapDialect(t)
                let names = (dialect.userNames + dialect.groupNames.filter { !dialect.userNames.contains($0) }).joined(separator: "/")
                var lines = state.adopted ? [] : ["first contact: existing entries are matched by \(dialect.idAttribute), then \(names), before anything is added"]
                lines += operations.map { Self.describe($0, state: state, mode: t.deprovisionMode) }
                for (id, why) in desired.unsendable.sorted(by: { $0.key < $1.key }) { lines.append("skip user \(id): \(why)") }
                snapshot.plan = lines
            }
            return snapshot
        }
    }

    static func describe(_ op: LdapOperation, state: LdapTargetState, mode: LdapTarget.DeprovisionMode) -> String {
        switch op {
        case .add(_, let isGroup, let link): return "add \(isGroup ? "group" : "user") \(link.dn)"
        case .rename(let id, _, let dn): return "rename \(state.dn(of: id) ?? id) to \(dn)"
        case .modify(let id, _, let attributes):
            let old = (state.users[id] ?? state.groups[id])?.attributes ?? [:]
            return "modify \(state.dn(of: id) ?? id): \(LdapEntry.changes(from: old, to: attributes).map(\.name).joined(separator: ", "))"
        case .changeMembers(let group, let add, let remove):
            return "group \(state.dn(of: group) ?? group): add \(add.count) members, remove \(remove.count)"
        case .deleteGroup(let id): return "delete group \(state.dn(of: id) ?? id)"
        case .deprovisionUser(let id): return "\(mode == .delete ? "delete" : mode == .move ? "move and disable" : "disable") user \(state.dn(of: id) ?? id)"
        }
    }

    /// Prometheus lines of the LDAP targets (`entra_sync_ldap_*`).
    func ldapMetrics(profile: Profile) -> String {
        let (mirror, runtime) = (self.mirror, shared.withLock { $0.ldap })
        var text = Self.pushMetrics(kind: "ldap", what: "LDAP target", profile: profile.name, runtime: runtime, targets: profile.ldapTargets.map { t in
            let state = mirror.ldap[t.name] ?? LdapTargetState()
            return (t.name, state.users.count, state.groups.count, state.failures.count, state.lastSuccess)
        })
        let name = "entra_sync_ldap_last_reconcile_timestamp_seconds"
        text += "# HELP \(name) When the directory was last read back for drift repair (first contact included).\n# TYPE \(name) gauge\n"
        for t in profile.ldapTargets {
            text += "\(name){profile=\"\(profile.name)\",target=\"\(t.name)\"} \(Int(mirror.ldap[t.name]?.lastReconcile ?? 0))\n"
        }
        return text
    }
}
