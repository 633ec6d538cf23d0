import EntraJournal
import EntraMirror
import Foundation

/// Starting over from Entra, the source of truth, when a profile's state is lost or damaged.
extension ProfileRunner {
    /// What was done with the old state: where its journal went.
    public struct Discarded: Sendable {
        /// The old journal's new path; nil when there was none.
        public var keptJournal: String?
        public init(keptJournal: String?) { self.keptJournal = keptJournal }
    }

    /// The message of a journal that cannot be opened, with the command that gets the profile going again.
    static func openFailure(directory: String, profile: String, _ error: Error) -> String {
        var message = "cannot open the journal in \(directory)/journal: \(error)"
        if let journalError = error as? JournalError, journalError.kind == .corrupt {
            message += " To keep it for inspection and sync everything again from Entra: entra-syncctl resync \(profile) --discard-state"
        }
        return message
    }

    /// Throws the profile's state away and starts a full sync; works when the journal could not be opened.
    ///
    /// After any run in progress, on `runQueue`: the journal is closed and renamed to a dated
    /// `journal.discarded-…` beside it (kept for inspection), an empty one is opened, the mirror is
    /// emptied and a full sync is started. Its SCIM state goes with the journal, so the first push
    /// after the sync adopts what the targets already hold (by externalId, then name) instead of
    /// creating it again.
    /// - Parameters:
    ///   - done: called with what was kept, or why the profile cannot start over.
    ///   - waiter: called when the full sync ends.
    public func discardStateAndResync(done: @escaping @Sendable (Result<Discarded, NotRunnable>) -> Void,
                                      waiter: (@Sendable (RunSummary) -> Void)?) {
        runQueue.async { [self] in
            guard shared.withLock({ $0.lifecycle != .stopping }) else { return done(.failure(NotRunnable(.stopping, reason: "the daemon is stopping"))) }
            worker.withLock { w in
                w.journal?.close()
                w.journal = nil
            }
            let journalDirectory = directory + "/journal"
            // POSIX ids are never handed out again: they move to the new journal.
            let posixIDs = shared.withLock { $0.state.posixIDs }
            var kept: String?
            do {
                kept = try Self.setAside(journalDirectory)
                try worker.withLock { w throws in
                    w.journal = try Journal.open(directory: journalDirectory) { _ in }.0
                    w.exportedSettings = nil
                    if posixIDs.count > 0 {
                        try w.journal?.commit(posixIDs.byObject.map { Mutation.posixID(object: $0.key, id: $0.value).record })
                    }
                }
            } catch {
                let message = "cannot start over: \(error)"
                logger.error("\(message)")
                shared.withLock { $0.lifecycle = .broken(message) }
                return done(.failure(NotRunnable(.broken, reason: message)))
            }
            shared.withLock { s in
                s.state = MirrorState()
                s.state.posixIDs = posixIDs
                s.visibleMemberships = 0
                s.scopedCounts = nil
                if case .broken = s.lifecycle { s.lifecycle = .idle }
            }
            logger.notice("state discarded on request\(kept.map { "; the old journal is kept as \($0)" } ?? ""); a full sync from Entra follows")
            switch trigger(full: true, waiter: waiter) {
            case .success: done(.success(Discarded(keptJournal: kept)))
            case .failure(let reason): done(.failure(reason))
            }
        }
    }

    /// Renames `path` to `path.discarded-<UTC time>` (unique), or returns nil when there is nothing there.
    static func setAside(_ path: String, now: Double = Date().timeIntervalSince1970) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let stamp = Timestamp.format(now).replacingOccurrences(of: ":", with: "")
        var target = "\(path).discarded-\(stamp)"
        var n = 1
        while FileManager.default.fileExists(atPath: target) {
            n += 1
            target = "\(path).discarded-\(stamp)-\(n)"
        }
        guard rename(path, target) == 0 else {
            throw ReplayError(message: "cannot rename \(path) to \(target): \(String(cString: strerror(errno)))")
        }
        return target
    }
}
