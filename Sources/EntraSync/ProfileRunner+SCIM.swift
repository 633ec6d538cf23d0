import Dispatch
import EntraConfig
import EntraHTTP
import EntraMirror
import Foundation
import Logging

/// Per-runner SCIM bookkeeping that lives only in memory.
struct ScimRuntime: Sendable {
    /// The target being pushed, if any.
    var pushing: String?
    /// Pushes in a row that could not reach each target (backoff).
    var unavailableInARow: [String: Int] = [:]
    /// Deletions approved for the next push of each target.
    var allowedDeletions: [String: Int] = [:]
    var nextAttempt: Double?
    /// Pushes by target and result since the daemon started (Prometheus counters).
    var pushesByResult: [String: [String: Int]] = [:]
    var operations: [String: Int] = [:]
}

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
            shared.withLock { s in
                s.scim.pushing = nil
                s.scim.unavailableInARow[target.name] = summary.result == .failed ? (s.scim.unavailableInARow[target.name] ?? 0) + 1 : 0
                s.scim.pushesByResult[target.name, default: [:]][summary.result.rawValue, default: 0] += 1
                s.scim.operations[target.name, default: 0] += summary.operations
            }
            log(summary, target: target, logger: targetLogger)
            if stopFlag.isCancelled { return }
        }
        scheduleScimRetry(profile: profile)
        writeMetrics(profile: profile, logger: logger)
        compactIfNeeded(logger: logger)
    }

    /// Journals what a target acknowledged, then applies it to the mirror.
    private func commitScim(_ mutations: [ScimMutation]) throws {
        try commit(mutations.map(Mutation.scim))
    }

    private func log(_ summary: ScimPushSummary, target: ScimTarget, logger: Logger) {
        let counts = "+\(summary.created) ~\(summary.updated) -\(summary.deprovisioned), members +\(summary.memberAdds) -\(summary.memberRemoves)"
        let fields: Logger.Metadata = ["ENTRA_SCIM_OPERATIONS": "\(summary.operations)", "ENTRA_SCIM_RESULT": "\(summary.result.rawValue)",
                                       "ENTRA_DURATION_MSEC": "\(summary.durationMsec)"]
        switch summary.result {
        case .succeeded where summary.operations == 0:
            logger.debug("SCIM target \(target.name) is in sync")
        case .succeeded:
            logger.info("pushed to SCIM target \(target.name): \(counts) in \(summary.durationMsec) ms, \(summary.requests) requests",
                        metadata: fields.merging(["MESSAGE_ID": "\(MessageID.scimPushed)"]) { $1 })
        case .partial:
            logger.warning("pushed to SCIM target \(target.name) in part: \(counts); \(summary.error ?? "")",
                           metadata: fields.merging(["MESSAGE_ID": "\(MessageID.scimPushed)"]) { $1 })
        case .failed where stopFlag.isCancelled:
            logger.notice("push to SCIM target \(target.name) stopped: the daemon is stopping; it resumes at the next start")
        case .failed:
            logger.error("push to SCIM target \(target.name) failed: \(summary.error ?? "unknown error"); done so far: \(counts)",
                         metadata: fields.merging(["MESSAGE_ID": "\(MessageID.scimPushFailed)"]) { $1 })
        }
    }

    // MARK: Retries

    /// True when a push did not finish after the last committed run (a crash or stop cut it
    /// short, or it failed): at start the daemon resumes it without waiting for the next run.
    func scimPushInterrupted(profile: Profile) -> Bool {
        let mirror = self.mirror
        guard let synced = mirror.lastSuccess?.finished else { return false }
        return profile.scimTargets.contains { target in
            guard let last = mirror.scim[target.name]?.lastPush else { return true }
            return last.result != .succeeded || last.started < synced
        }
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
        let (mirror, inARow) = shared.withLock { ($0.state, $0.scim.unavailableInARow) }
        var next: Double?
        for target in profile.scimTargets {
            guard let state = mirror.scim[target.name], let last = state.lastPush else { continue }
            var due: Double?
            switch last.result {
            case .failed:
                let n = max(1, inARow[target.name] ?? 1)
                due = now + Backoff.run(interval: profile.interval).delay(afterFailures: n)
            case .partial:
                due = state.failures.values.map(\.nextAttempt).filter(\.isFinite).min().map { max($0, now + 5) }
            case .succeeded:
                break
            }
            if let due { next = min(next ?? due, due) }
        }
        if let next {
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
        let (profile, mirror, runtime) = shared.withLock { ($0.profile, $0.state, $0.scim) }
        let view = ScopedView(state: mirror, scope: profile.scope)
        return profile.scimTargets.filter { target == nil || $0.name == target }.map { t in
            let state = mirror.scim[t.name].flatMap { $0.endpoint == t.endpoint ? $0 : nil } ?? ScimTargetState()
            let desired = ScimDesired(view: view, target: t)
            let operations = ScimPlan(desired: desired, state: state, mode: t.deprovisionMode).operations
            let failures = state.failures.values.sorted { $0.at < $1.at }
            let phase: ScimTargetSnapshot.Phase
            if runtime.pushing == t.name {
                phase = .pushing
            } else if state.lastPush == nil {
                phase = .neverPushed
            } else if state.lastPush?.result == .failed {
                phase = .unavailable
            } else if !failures.isEmpty {
                phase = .failing
            } else {
                phase = operations.isEmpty ? .inSync : .pending
            }
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
        let (mirror, runtime) = shared.withLock { ($0.state, $0.scim) }
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { text += "\(name){\(labels)} \(value == value.rounded() ? String(Int(value)) : String(value))\n" }
        }
        let targets = profile.scimTargets.map { (t: $0, label: "profile=\"\(profile.name)\",target=\"\($0.name)\"", state: mirror.scim[$0.name] ?? ScimTargetState()) }
        metric("entra_sync_scim_last_success_timestamp_seconds", "gauge", "When the last complete push to the SCIM target finished.",
               targets.map { ($0.label, $0.state.lastSuccess ?? 0) })
        metric("entra_sync_scim_objects", "gauge", "Objects the SCIM target holds for the profile.",
               targets.flatMap { [("\($0.label),kind=\"users\"", Double($0.state.users.count)), ("\($0.label),kind=\"groups\"", Double($0.state.groups.count))] })
        metric("entra_sync_scim_failed_objects", "gauge", "Objects the SCIM target refused, waiting for a retry.",
               targets.map { ($0.label, Double($0.state.failures.count)) })
        metric("entra_sync_scim_pushes_total", "counter", "Pushes since the daemon started, by result.",
               targets.flatMap { t in ScimPushSummary.Result.allCases.map { ("\(t.label),result=\"\($0.rawValue)\"", Double(runtime.pushesByResult[t.t.name]?[$0.rawValue] ?? 0)) } })
        metric("entra_sync_scim_operations_total", "counter", "SCIM operations acknowledged since the daemon started.",
               targets.map { ($0.label, Double(runtime.operations[$0.t.name] ?? 0)) })
        return text
    }
}

/// A SCIM target's state in domain terms; the control service maps it to the wire.
public struct ScimTargetSnapshot: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case neverPushed = "never-pushed", inSync = "in-sync", pending
        /// Some objects were refused and wait for their retry.
        case failing
        /// The last push could not reach the target.
        case unavailable
        case pushing
    }
    public var name: String
    public var endpoint: String
    public var phase: Phase
    /// Users and groups the target holds for this profile.
    public var users: Int
    public var groups: Int
    /// Operations the next push would send.
    public var pending: Int
    public var failures: [ScimFailure]
    public var lastPush: ScimPushSummary?
    public var lastSuccess: Double?
    public var nextAttempt: Double?
    /// Pushes since the daemon started (lets a client wait for the next one).
    public var pushes = 0
    /// With `plan`: one line per operation the next push would send.
    public var plan: [String]?
}
