import EntraJournal
import EntraLock
import EntraMirror
import Foundation
import Logging

/// One profile's committed state: its journal and the mirror replayed from it. The one writer.
///
/// Every change to the mirror is journaled first and applied second, both under the journal's
/// lock (`journal`), so a compaction snapshot, written under that lock too, always holds every
/// committed write. Readers take the mirror (`mirror`, copy-on-write) under its own lock and never
/// wait for a write to reach the disk. Lock order: `journal`, then `committed`; neither is held
/// while calling out.
public final class ProfileStore: Sendable {
    /// When the journal is rewritten as a snapshot.
    public struct CompactionPolicy: Sendable {
        public var factor: Int
        public var minBytes: Int
        public init(factor: Int = 4, minBytes: Int = 1 << 20) {
            self.factor = factor
            self.minBytes = minBytes
        }
    }

    struct Committed {
        var state = MirrorState()
        /// `state.visibleMembershipCount`, kept with it (counting is linear in the memberships).
        var visibleMemberships = 0
    }

    struct StoreError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
        static let closed = StoreError("journal is closed")
    }

    /// Where the journal lives (`DIRECTORY/journal`).
    let directory: String
    private let compaction: CompactionPolicy
    private let journal: Locked<Journal?>
    private let committed: Locked<Committed>

    /// Why the journal could not be opened (the profile must not run on a partial mirror), or nil.
    let openFailure: String?

    /// Opens the journal in `directory` (creating it) and replays it. A journal that cannot be read
    /// leaves the store closed and empty, with `openFailure` saying why and how to start over.
    init(directory: String, profile: String, logger: Logger, compaction: CompactionPolicy = .init()) {
        self.directory = directory
        self.compaction = compaction
        var opened: Journal?
        var committed = Committed()
        var failure: String?
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
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
            if let decodeError {
                journal.close()
                throw StoreError( "journal of profile \(profile) holds a record this version cannot read: \(decodeError)")
            }
            if report.truncatedBytes > 0 {
                logger.warning("journal tail repaired: \(report)", metadata: ["MESSAGE_ID": "\(MessageID.journalRepaired)"])
            }
            opened = journal
            committed.state = replay.state
            committed.visibleMemberships = committed.state.visibleMembershipCount
        } catch {
            failure = Self.openFailure(directory: directory, profile: profile, error)
            logger.error("\(failure!)", metadata: ["MESSAGE_ID": "\(MessageID.journalCorrupt)"])
        }
        self.openFailure = failure
        self.journal = Locked(opened)
        self.committed = Locked(committed)
    }

    // MARK: Reading

    /// The mirror as of the last commit (cheap: copy-on-write).
    var mirror: MirrorState { committed.withLock { $0.state } }

    /// The mirror and its count of visible memberships, read together.
    var mirrorAndVisibleMemberships: (MirrorState, Int) { committed.withLock { ($0.state, $0.visibleMemberships) } }

    // MARK: Writing

    /// The write API for everything but a run's plan: journals `mutations` as one batch, then
    /// applies them (consumers' acknowledgements, hook deliveries, POSIX ids, failed runs' records).
    func commit(_ mutations: [Mutation]) throws {
        try journal.withLock { journal throws in
            guard let journal else { throw StoreError.closed }
            try journal.commit(mutations.map(\.record))
            let recount = mutations.contains(where: Self.changesMemberships)
            committed.withLock { c in
                for mutation in mutations { c.state.apply(mutation) }
                if recount { c.visibleMemberships = c.state.visibleMembershipCount }
            }
        }
    }

    /// Whether `mutation` can change which memberships are visible (a consumer's acknowledgement,
    /// an id or a run record cannot: those are most writes, and counting is linear in the memberships).
    static func changesMemberships(_ mutation: Mutation) -> Bool {
        switch mutation {
        case .scim, .ldap, .posixID, .hookPending, .hookDelivered, .recordRun, .runEnded, .setDeltaLink, .capacity: false
        default: true
        }
    }

    /// Commits a run: its plan and `trailing` (the hook's change set, the run record) as one batch,
    /// then applies them by consuming the plan, so plan and mirror are never both held whole.
    /// `before` is the caller's copy of the mirror; it is released first, or applying would copy it.
    /// - Parameter journaled: called once the batch is on disk, before the mirror changes.
    func commitRun(_ plan: inout SyncPlan, trailing: [Mutation], before: inout MirrorState, journaled: () -> Void) throws {
        try journal.withLock { journal throws in
            guard let journal else { throw StoreError.closed }
            try journal.commit { emit in
                for mutation in plan.mutations { emit(mutation.record) }
                for mutation in trailing { emit(mutation.record) }
            }
            journaled()
            before = MirrorState()
            plan.mutations.reverse()
            committed.withLock { c in
                c.state.reserveCapacity(addingUsers: plan.usersAdded, groups: plan.groupsAdded)
                while let mutation = plan.mutations.popLast() { c.state.apply(mutation) }
                for mutation in trailing { c.state.apply(mutation) }
                c.visibleMemberships = c.state.visibleMembershipCount
            }
        }
    }

    /// Commits the first sync of an empty mirror as the journal's first snapshot: the new mirror is
    /// built aside from `before` (an empty mirror may still hold run history, push state and POSIX
    /// ids), written with `writeSnapshot` (atomic: a crash leaves the old journal), then published.
    /// One compact write instead of a batch that compaction would rewrite right away.
    /// - Parameter applied: called when the new mirror is built, before it is written.
    func commitFirstSync(_ plan: inout SyncPlan, trailing: [Mutation], before: inout MirrorState, applied: () -> Void) throws {
        var next = before
        before = MirrorState()
        plan.mutations.reverse()
        next.reserveCapacity(addingUsers: plan.usersAdded, groups: plan.groupsAdded)
        while let mutation = plan.mutations.popLast() { next.apply(mutation) }
        for mutation in trailing { next.apply(mutation) }
        applied()
        let visible = next.visibleMembershipCount
        try journal.withLock { journal throws in
            guard let journal else { throw StoreError.closed }
            // Consumers' acknowledgements and ids journaled since the run began (under this lock) stay.
            (next.scim, next.ldap, next.posixIDs) = committed.withLock { ($0.state.scim, $0.state.ldap, $0.state.posixIDs) }
            try journal.writeSnapshot { emit in try next.snapshotMutations { try emit($0.record) } }
            committed.withLock { c in
                c.state = next
                c.visibleMemberships = visible
            }
        }
    }

    /// Shows `summary` in the history without journaling it: the end time of a run whose
    /// `runEnded` record could not be written, or a failed run whose record could not be.
    func showInHistory(_ summary: RunSummary) {
        committed.withLock { c in
            if c.state.history.last?.runId == summary.runId {
                c.state.history[c.state.history.count - 1].finished = summary.finished
            } else if summary.result == .failed || summary.result == .blocked {
                c.state.history.append(summary)
            }
        }
    }

    /// Rewrites the journal as a snapshot when it has grown enough (`CompactionPolicy`). The mirror
    /// is read under the journal's lock, so no write lands between the read and the snapshot.
    func compactIfNeeded(logger: Logger) {
        journal.withLock { journal in
            guard let journal, journal.shouldCompact(factor: compaction.factor, minBytes: compaction.minBytes) else { return }
            let state = mirror
            do {
                try journal.writeSnapshot { emit in try state.snapshotMutations { try emit($0.record) } }
                logger.info("journal compacted to \(journal.totalBytes) bytes")
            } catch {
                logger.error("journal compaction failed (the journal stays valid): \(error)")
            }
        }
    }

    /// Closes the journal: later writes fail with "journal is closed", reads still answer.
    func close() {
        journal.withLock { journal in
            journal?.close()
            journal = nil
        }
    }

    /// Starts over: the journal is closed and set aside as `journal.discarded-<time>` (returned,
    /// nil when there was none), an empty one is opened and the mirror emptied. POSIX ids are never
    /// handed out again, so they move to the new journal.
    func discard() throws -> String? {
        try journal.withLock { journal throws -> String? in
            journal?.close()
            journal = nil
            let posixIDs = committed.withLock { $0.state.posixIDs }
            let kept = try Self.setAside(directory + "/journal")
            let fresh = try Journal.open(directory: directory + "/journal") { _ in }.0
            journal = fresh
            if posixIDs.count > 0 {
                try fresh.commit(posixIDs.byObject.map { Mutation.posixID(object: $0.key, id: $0.value).record })
            }
            committed.withLock { c in
                c = Committed()
                c.state.posixIDs = posixIDs
            }
            return kept
        }
    }

    /// The message of a journal that cannot be opened, with the command that gets the profile going again.
    static func openFailure(directory: String, profile: String, _ error: Error) -> String {
        var message = "cannot open the journal in \(directory)/journal: \(error)"
        if let journalError = error as? JournalError, journalError.kind == .corrupt {
            message += " To keep it for inspection and sync everything again from Entra: entra-syncctl resync \(profile) --discard-state"
        }
        return message
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
            throw StoreError( "cannot rename \(path) to \(target): \(String(cString: strerror(errno)))")
        }
        return target
    }
}
