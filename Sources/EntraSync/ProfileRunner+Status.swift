import EntraConfig
import EntraGraph
import EntraMirror
import Foundation
import Logging

/// What a profile shows: its `status` (a `ProfileSnapshot`, derived from the lifecycle, the
/// committed mirror and the consumers) and its Prometheus text file.
extension ProfileRunner {
    public func status() -> ProfileSnapshot {
        let (state, visible) = store.mirrorAndVisibleMemberships
        let (counts, error) = (exports.counts, exports.error)
        var snapshot = shared.withLock { snapshotLocked($0, state, visibleMemberships: visible, exportCounts: counts, exportError: error) }
        snapshot.ldapTargets = ldapStatus(plan: false)
        return snapshot
    }

    func snapshotLocked(_ s: Shared, _ state: MirrorState, visibleMemberships: Int,
                                exportCounts: (users: Int, groups: Int, memberships: Int)?, exportError: String?) -> ProfileSnapshot {
        let last = state.history.last
        var snapshot = ProfileSnapshot(name: name, state: .idle)
        switch s.lifecycle {
        case .broken(let reason):
            snapshot.state = .failed
            snapshot.error = reason
        case .stopping:
            snapshot.state = .stopping
        case .queued:
            snapshot.state = .queued
        case .syncing(let run):
            snapshot.state = .syncing
            snapshot.running = run
        case .idle:
            if s.configError != nil {
                snapshot.state = .configError
            } else if last?.result == .failed {
                snapshot.state = .failed
            } else if last?.result == .blocked {
                snapshot.state = .blocked
            }
        }
        let counts = exportCounts ?? (state.users.count, state.groups.count, visibleMemberships)
        (snapshot.users, snapshot.groups, snapshot.memberships) = counts
        snapshot.lastRun = last
        snapshot.lastSuccess = state.lastSuccess?.finished
        snapshot.nextRun = s.scheduler.nextRun
        snapshot.error = snapshot.error ?? s.configError ?? exportError
        snapshot.linux = s.linux.map { LinuxServed(users: $0.users.count, groups: $0.groups.count, refused: $0.refused.map(\.description)) }
        if let expires = s.profile.credentialExpires {
            snapshot.credentialExpires = expires
            if let warning = Self.expiryWarning(s.profile, expires: expires) { snapshot.warnings = [warning] }
        }
        if let reason = s.parallelFallback {
            snapshot.warnings.append("the last full sync fell back to the sequential delta chain: \(reason)")
        }
        return snapshot
    }

    /// "expires in N days" when the credential expires within 30 days (or has expired).
    static func expiryWarning(_ profile: Profile, expires: Double, now: Double = Date().timeIntervalSince1970) -> String? {
        let days = Int(((expires - now) / 86400).rounded(.down))
        guard days < 30 else { return nil }
        let what = profile.certificate != nil ? "client certificate \(profile.certificate!.certificatePath)" : "client secret"
        let when = days < 0 ? "expired on \(Timestamp.format(expires))" : "expires on \(Timestamp.format(expires)) (in \(days) days)"
        return "The \(what) \(when): create a new one in the app registration and update the profile."
    }

    /// Writes the Prometheus text file of this profile (atomically, for node_exporter's textfile collector).
    func writeMetrics(profile: Profile, logger: Logger) {
        metricsLock.withLock { _ in writeMetricsLocked(profile: profile, logger: logger) }
    }

    func writeMetricsLocked(profile: Profile, logger: Logger) {
        let (state, visible) = store.mirrorAndVisibleMemberships
        let (counts, error) = (exports.counts, exports.error)
        let (status, runs) = shared.withLock { s in
            (self.snapshotLocked(s, state, visibleMemberships: visible, exportCounts: counts, exportError: error), s.runsByResult)
        }
        let counters = graph.withLock { $0.retiredCounters + ($0.graph?.counters ?? GraphRequestCounters()) }
        var text = ProfileMetrics.text(profile: profile.name, status: status, runs: runs, counters: counters,
                                       lastSuccess: state.lastSuccess, last: state.history.last)
        if !profile.scimTargets.isEmpty { text += scimMetrics(profile: profile) }
        if !profile.ldapTargets.isEmpty { text += ldapMetrics(profile: profile) }
        let (dir, file) = ProfileMetrics.file(for: profile, stateDirectory: directory)
        do {
            try ExportWriter(directory: dir).writeFile(file, Array(text.utf8))
        } catch {
            logger.warning("cannot write metrics: \(error)")
        }
    }
}
