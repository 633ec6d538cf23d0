import EntraControl
import EntraMirror
import EntraSync

/// Domain values as `io.entrasync.Manager` sends them: the only place that knows both.
extension RunInfo {
    init(_ run: RunSummary) {
        self.init(runId: run.runId, result: run.result.rawValue, full: run.full, started: Timestamp.format(run.started),
                  finished: Timestamp.format(run.finished), durationMsec: run.durationMsec, added: run.added,
                  updated: run.updated, removed: run.removed, error: run.error, hint: run.hint)
    }

    init(running run: RunningRun) {
        self.init(runId: run.runId, result: "running", full: run.full, started: Timestamp.format(run.started))
    }
}

extension ProfileStatus {
    static let refusalsShown = 50

    init(_ snapshot: ProfileSnapshot) {
        self.init(name: snapshot.name, state: snapshot.state.rawValue, users: snapshot.users, groups: snapshot.groups,
                  memberships: snapshot.memberships, lastRun: snapshot.running.map(RunInfo.init(running:)) ?? snapshot.lastRun.map(RunInfo.init),
                  lastSuccess: snapshot.lastSuccess.map(Timestamp.format), nextRun: snapshot.nextRun.map(Timestamp.format),
                  error: snapshot.error)
        credentialExpires = snapshot.credentialExpires.map(Timestamp.format)
        warnings = snapshot.warnings.isEmpty ? nil : snapshot.warnings
        ldapTargets = snapshot.ldapTargets.isEmpty ? nil : snapshot.ldapTargets.map(ScimTargetStatus.init)
        linux = snapshot.linux.map { served in
            // A tenant without the name attribute could refuse thousands: status shows the first ones.
            let shown = Array(served.refused.prefix(Self.refusalsShown))
            let more = served.refused.count - shown.count
            return LinuxStatus(users: served.users, groups: served.groups, refused: more > 0 ? shown + ["… and \(more) more (see the journal)"] : shown)
        }
    }
}

extension ReloadReply {
    init(_ outcome: ReloadOutcome) {
        self.init(added: outcome.added, removed: outcome.removed, changed: outcome.changed, errors: outcome.errors)
    }
}

extension ScimPushInfo {
    init(_ s: ScimPushSummary) {
        self.init(result: s.result.rawValue, started: Timestamp.format(s.started), finished: Timestamp.format(s.finished),
                  durationMsec: s.durationMsec)
        created = s.created
        updated = s.updated
        deprovisioned = s.deprovisioned
        memberAdds = s.memberAdds
        memberRemoves = s.memberRemoves
        requests = s.requests
        bytesSent = s.bytesSent
        failed = s.failed
        error = s.error
    }
}

extension ScimFailureInfo {
    init(_ f: ScimFailure) {
        self.init(objectId: f.objectId, kind: f.isGroup ? "group" : "user", name: f.name, operation: f.operation,
                  status: f.status, detail: f.detail, attempts: f.attempts,
                  nextAttempt: f.nextAttempt.isFinite ? Timestamp.format(f.nextAttempt) : nil)
    }
}

extension ScimTargetStatus {
    init(_ t: ScimTargetSnapshot) {
        self.init(name: t.name, endpoint: t.endpoint, state: t.phase.rawValue, users: t.users, groups: t.groups,
                  pending: t.pending, failed: t.failures.count)
        failures = t.failures.map(ScimFailureInfo.init)
        lastPush = t.lastPush.map(ScimPushInfo.init)
        lastSuccess = t.lastSuccess.map(Timestamp.format)
        lastReconcile = t.lastReconcile.map(Timestamp.format)
        nextAttempt = t.nextAttempt.map(Timestamp.format)
        pushes = t.pushes
        plan = t.plan
    }
}
