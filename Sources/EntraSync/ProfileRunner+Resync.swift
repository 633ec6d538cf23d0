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
            let kept: String?
            do {
                kept = try store.discard()
                exports.forget()
            } catch {
                let message = "cannot start over: \(error)"
                logger.error("\(message)")
                shared.withLock { $0.lifecycle = .broken(message) }
                return done(.failure(NotRunnable(.broken, reason: message)))
            }
            shared.withLock { s in
                if case .broken = s.lifecycle { s.lifecycle = .idle }
                s.ldap.committed(nil)
            }
            logger.notice("state discarded on request\(kept.map { "; the old journal is kept as \($0)" } ?? ""); a full sync from Entra follows")
            switch trigger(full: true, waiter: waiter) {
            case .success: done(.success(Discarded(keptJournal: kept)))
            case .failure(let reason): done(.failure(reason))
            }
        }
    }
}
