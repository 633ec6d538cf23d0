import EntraConfig
import EntraLock
import EntraMirror
import Foundation
import Logging

/// The export files, a consumer of committed runs: after each commit it publishes the run's set
/// (`ExportWriter`) when anything the files show changed, and at start it repairs what a crash left
/// so the files show the last committed run before the daemon answers.
final class ExportConsumer: Sendable {
    /// What the published files were written with: another scope or format set means writing them again.
    struct Settings: Equatable {
        var scope: Scope
        var formats: Set<ExportFormat>
    }

    struct State {
        var settings: Settings?
        /// Why the last export failed (the files still show an older run), or nil.
        var error: String?
        /// What the files show under the profile's scope, after the last export.
        var counts: (users: Int, groups: Int, memberships: Int)?
    }

    let writer: ExportWriter
    private let state = Locked(State())

    init(directory: String) {
        writer = ExportWriter(directory: directory)
    }

    /// Why the last export failed, or nil.
    var error: String? { state.withLock { $0.error } }
    /// What the exports show (users, groups, memberships in scope), or nil before the first export.
    var counts: (users: Int, groups: Int, memberships: Int)? { state.withLock { $0.counts } }

    /// Publishes the run `runId` committed (`changed`: its plan was not empty) from `mirror`. Nothing
    /// changed, the same settings and no grace period running: the files are only marked as showing
    /// this run too, or the next start would rewrite them all before answering.
    /// - Returns: whether the files were written.
    @discardableResult
    func publish(_ mirror: MirrorState, runId: String, changed: Bool, profile: Profile, logger: Logger) -> Bool {
        let settings = Settings(scope: profile.scope, formats: profile.exportFormats)
        let (settingsChanged, lastFailed) = state.withLock { ($0.settings != settings, $0.error != nil) }
        let graceShown = !mirror.recentlyDeleted.isEmpty  // deleted users age out of the exports
        let missing = writer.exportedRunId() == nil || !FileManager.default.fileExists(atPath: writer.directory + "/users.json")
        guard changed || settingsChanged || graceShown || lastFailed || missing else {
            do {
                try writer.markCurrent(runId: runId)
            } catch {
                logger.warning("cannot update \(writer.directory)/.state: \(error)")
            }
            return false
        }
        let view = ScopedView(state: mirror, scope: settings.scope, softDeleteGrace: profile.softDeleteGrace)
        do {
            try writer.write(view, runId: runId, formats: settings.formats)
            let counts = view.counts
            state.withLock { $0 = State(settings: settings, error: nil, counts: counts) }
        } catch {
            logger.error("export failed: \(error)")
            state.withLock { $0.error = "export failed: \(error)" }
        }
        return true
    }

    /// At start, before the daemon answers: removes what a killed export left, and writes the last
    /// committed run's set if a crash fell between its commit and its export.
    func refreshIfStale(_ mirror: MirrorState, profile: Profile, logger: Logger) {
        do {
            try writer.recover()
        } catch {
            logger.warning("cannot turn \(writer.directory), an older version's export directory, into an export set: \(error); the next export replaces it")
        }
        let settings = Settings(scope: profile.scope, formats: profile.exportFormats)
        let view = ScopedView(state: mirror, scope: settings.scope, softDeleteGrace: profile.softDeleteGrace)
        let counts = view.counts
        state.withLock { $0.counts = counts }
        guard let last = mirror.lastSuccess, writer.exportedRunId() != last.runId else { return }
        do {
            try writer.write(view, runId: last.runId, formats: settings.formats)
            state.withLock { $0.settings = settings }
        } catch {
            logger.error("export failed: \(error)")
        }
    }

    /// The state was discarded: the next export writes everything, and counts come from the mirror.
    func forget() {
        state.withLock { $0 = State() }
    }
}
