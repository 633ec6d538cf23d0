import Dispatch
import EntraConfig
import EntraHTTP
import EntraMirror
import EntraPush
import Foundation
import Logging

extension ProfileRunner {
    // MARK: Pushing

    /// Pushes the committed mirror to the profile's SCIM targets, one after the other (on `scimQueue`).
    /// Nothing is pushed before the first successful sync: adoption needs the whole directory.
    func pushScim(profile: Profile, only: String? = nil, retryAll: Bool = false) {
        let targets = profile.scimTargets.filter { only == nil || $0.name == only }
        guard !targets.isEmpty, !stopFlag.isCancelled, mirror.lastSuccess != nil else { return }
        for target in targets {
            let mirror = self.mirror
            let view = ScopedView(state: mirror, scope: profile.scope)
            let desired = ScimDesired(view: view, target: target)
            let state = mirror.scim[target.name] ?? ScimTargetState()
            let allowed = shared.withLock { s -> Int in
                s.scim.pushing = target.name
                return s.scim.allowedDeletions.removeValue(forKey: target.name) ?? 0
            }
            let deletionLimit = profile.maxDeletions.map { max($0.limit(total: state.users.count + state.groups.count), allowed) }
            var targetLogger = logger
            targetLogger[metadataKey: "ENTRA_SCIM_TARGET"] = "\(target.name)"
            let summary: ScimPushSummary
            do {
                let client = try ScimClient(target: target, cancel: stopFlag)
                let pusher = ScimPusher(target: target, client: client, state: state, logger: targetLogger) { [self] in try commitScim($0) }
                summary = pusher.push(desired: desired, deletionLimit: deletionLimit, retryAll: retryAll)
            } catch {
                var failed = ScimPushSummary(result: .failed, started: Date().timeIntervalSince1970, finished: Date().timeIntervalSince1970)
                failed.error = "\(error)"
                summary = failed
            }
            shared.withLock { $0.scim.finished(target.name, summary) }
            log(summary, kind: .scim, target: target.name, logger: targetLogger)
            if stopFlag.isCancelled { return }
        }
        scheduleScimRetry(profile: profile)
        writeMetrics(profile: profile, logger: logger)
        store.compactIfNeeded(logger: logger)
    }

    /// Journals what a target acknowledged, then applies it to the mirror.
    private func commitScim(_ mutations: [ScimMutation]) throws {
        try commit(mutations.map(Mutation.scim))
    }

    // MARK: Retries

    /// True when a push did not finish after the last committed run (a crash or stop cut it
    /// short, or it failed): at start the daemon resumes it without waiting for the next run.
    func scimPushInterrupted(profile: Profile) -> Bool {
        let mirror = self.mirror
        return pushInterrupted(profile.scimTargets.map { mirror.scim[$0.name]?.lastPush }, lastSync: mirror.lastSuccessCommitted)
    }

    func scheduleScimPush(in seconds: Double) {
        let seconds = max(0, seconds)
        shared.withLock { $0.scim.nextAttempt = Date().timeIntervalSince1970 + seconds }
        scimTimer.source.schedule(deadline: .now() + seconds, repeating: .never, leeway: .milliseconds(100))
    }

    func scimTimerFired() {
        scimQueue.async { [self] in
            shared.withLock { $0.scim.nextAttempt = nil }
            pushScim(profile: profile)
        }
    }

    /// After a push: an unreachable target is tried again with `Backoff.run` (30 s doubling, at most the
    /// sync interval, jittered); refused objects when their own backoff ends.
    private func scheduleScimRetry(profile: Profile) {
        let now = Date().timeIntervalSince1970
        let (mirror, runtime) = (self.mirror, shared.withLock { $0.scim })
        let targets = profile.scimTargets.map { t in
            (name: t.name, lastPush: mirror.scim[t.name]?.lastPush, failures: mirror.scim[t.name].map { Array($0.failures.values) } ?? [])
        }
        if let next = runtime.nextPush(targets, interval: profile.interval, now: now) {
            scheduleScimPush(in: next - now)
        } else {
            shared.withLock { $0.scim.nextAttempt = nil }
        }
    }

    // MARK: Control

    /// Pushes now (on `scimQueue`, after any push in progress) and calls `done` with the targets' status.
    public func requestScimPush(target: String?, retry: Bool, allowDeletions: Int, done: @escaping @Sendable ([ScimTargetSnapshot]) -> Void) {
        shared.withLock { s in
            for t in s.profile.scimTargets where target == nil || t.name == target {
                s.scim.allowedDeletions[t.name] = max(s.scim.allowedDeletions[t.name] ?? 0, allowDeletions)
            }
        }
        scimQueue.async { [self] in
            pushScim(profile: profile, only: target, retryAll: retry)
            done(scimStatus(target: target, plan: false))
        }
    }

    /// The targets' state; `pending` is what the next push would send, computed from the mirror now.
    public func scimStatus(target: String?, plan: Bool) -> [ScimTargetSnapshot] {
        let mirror = self.mirror
        let (profile, runtime) = shared.withLock { ($0.profile, $0.scim) }
        let view = ScopedView(state: mirror, scope: profile.scope)
        return profile.scimTargets.filter { target == nil || $0.name == target }.map { t in
            let state = mirror.scim[t.name].flatMap { $0.endpoint == t.endpoint ? $0 : nil } ?? ScimTargetState()
            let desired = ScimDesired(view: view, target: t)
            let operations = ScimPlan(desired: desired, state: state, mode: t.deprovisionMode).operations
            let failures = state.failures.values.sorted { $0.at < $1.at }
            let phase = ScimTargetSnapshot.Phase.of(pushing: runtime.pushing == t.name, lastPush: state.lastPush, failures: failures.count,
                                                    pending: operations.count)
            var snapshot = ScimTargetSnapshot(name: t.name, endpoint: t.endpoint, phase: phase, users: state.users.count,
                                              groups: state.groups.count, pending: operations.count, failures: failures)
            snapshot.lastPush = state.lastPush
            snapshot.lastSuccess = state.lastSuccess
            snapshot.pushes = runtime.pushesByResult[t.name]?.values.reduce(0, +) ?? 0
            snapshot.nextAttempt = operations.isEmpty && failures.isEmpty ? nil : runtime.nextAttempt
            if plan {
                var lines = state.adopted ? [] : ["first contact: existing resources are matched by externalId, then userName/displayName, before anything is created"]
                lines += operations.map { Self.describe($0, state: state, desired: desired, mode: t.deprovisionMode) }
                for (id, why) in desired.unsendable.sorted(by: { $0.key < $1.key }) { lines.append("skip user \(id): \(why)") }
                snapshot.plan = lines
            }
            return snapshot
        }
    }

    static func describe(_ op: ScimOperation, state: ScimTargetState, desired: ScimDesired, mode: ScimTarget.DeprovisionMode) -> String {
        switch op {
        case .createUser(let id, let a):
            return "create user \(a.userName) (externalId \(id))"
        case .updateUser(_, let from, let to):
            let paths = ScimPatch.operations(from: from, to: to).compactMap { $0["path"] as? String }
            return "update user \(to.userName): \(paths.joined(separator: ", "))"
        case .deprovisionUser(let id):
            return "\(mode == .delete ? "delete" : "deactivate") user \(state.users[id]?.pushed.userName ?? id)"
        case .createGroup(let id, let name):
            return "create group \(name) (externalId \(id))"
        case .renameGroup(let id, let name):
            return "rename group \(state.groups[id]?.displayName ?? id) to \(name)"
        case .changeMembers(let group, let add, let remove):
            let name = desired.groups[group]?.displayName ?? state.groups[group]?.displayName ?? group
            return "group \(name): add \(add.count) members, remove \(remove.count)"
        case .deleteGroup(let id):
            return "delete group \(state.groups[id]?.displayName ?? id)"
        }
    }

    /// Prometheus lines of the SCIM targets.
    func scimMetrics(profile: Profile) -> String {
        let (mirror, runtime) = (self.mirror, shared.withLock { $0.scim })
        return Self.pushMetrics(kind: "scim", what: "SCIM target", profile: profile.name, runtime: runtime, targets: profile.scimTargets.map { t in
            let state = mirror.scim[t.name] ?? ScimTargetState()
            return (t.name, state.users.count, state.groups.count, state.failures.count, state.lastSuccess)
        })
    }

    /// Prometheus lines of one kind of push target (`entra_sync_KIND_*`), labelled profile and target.
    static func pushMetrics(kind: String, what: String, profile: String, runtime: PushRuntime,
                            targets: [(name: String, users: Int, groups: Int, failures: Int, lastSuccess: Double?)]) -> String {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            text += "# HELP entra_sync_\(kind)_\(name) \(help)\n# TYPE entra_sync_\(kind)_\(name) \(type)\n"
            for (labels, value) in samples {
                text += "entra_sync_\(kind)_\(name){\(labels)} \(value == value.rounded() ? String(Int(value)) : String(value))\n"
            }
        }
        let labelled = targets.map { (t: $0, label: "profile=\"\(profile)\",target=\"\($0.name)\"") }
        metric("last_success_timestamp_seconds", "gauge", "When the last complete push to the \(what) finished.",
               labelled.map { ($0.label, $0.t.lastSuccess ?? 0) })
        metric("objects", "gauge", "Objects the \(what) holds for the profile.",
               labelled.flatMap { [("\($0.label),kind=\"users\"", Double($0.t.users)), ("\($0.label),kind=\"groups\"", Double($0.t.groups))] })
        metric("failed_objects", "gauge", "Objects the \(what) refused, waiting for a retry.", labelled.map { ($0.label, Double($0.t.failures)) })
        metric("pushes_total", "counter", "Pushes since the daemon started, by result.",
               labelled.flatMap { t in PushSummary.Result.allCases.map { ("\(t.label),result=\"\($0.rawValue)\"", Double(runtime.pushesByResult[t.t.name]?[$0.rawValue] ?? 0)) } })
        metric("operations_total", "counter", "\(kind == "scim" ? "SCIM" : "LDAP") operations acknowledged since the daemon started.",
               labelled.map { ($0.label, Double(runtime.operations[$0.t.name] ?? 0)) })
        return text
    }
}

/// SCIM's name for a push target's status.
public typealias ScimTargetSnapshot = PushTargetSnapshot
