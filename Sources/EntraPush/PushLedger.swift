import EntraMirror
import Foundation

/// A change to a target's acknowledged state, as the journal records it (`ScimMutation`, `LdapMutation`).
public protocol TargetChange: Sendable {
    static func failure(target: String, id: String, _ failure: PushFailure?) -> Self
    static func pushed(target: String, _ summary: PushSummary) -> Self
}

/// What a target acknowledged (`ScimTargetState`, `LdapTargetState`).
public protocol AcknowledgedState {
    associatedtype Change: TargetChange
    init()
    var failures: [String: PushFailure] { get }
    mutating func apply(_ change: Change)
}

/// An operation of a target's plan (`ScimOperation`, `LdapOperation`).
public protocol PushOperation {
    var objectId: String { get }
    var isDeletion: Bool { get }
}

extension ScimMutation: TargetChange {}
extension LdapMutation: TargetChange {}
extension ScimTargetState: AcknowledgedState {}
extension LdapTargetState: AcknowledgedState {}
extension ScimOperation: PushOperation {}
extension LdapOperation: PushOperation {}

/// One push's bookkeeping, the same for every kind of target: each acknowledged change is journaled
/// before it is applied to the state the next operation is planned from, refusals become
/// `PushFailure`s, and the summary is journaled at the end.
struct PushLedger<State: AcknowledgedState> {
    let target: String
    private(set) var state: State
    var summary: PushSummary
    private let journal: ([State.Change]) throws -> Void
    /// The state as the journal's owner holds it after a commit, when it applies the changes itself.
    private let current: (() -> State)?

    /// - Parameters:
    ///   - journal: writes changes before they count; a throw means they were not written.
    ///   - current: when given, `journal` also applies the changes to its owner's state (the
    ///     store's mirror), and the ledger reads the state back after each commit instead of
    ///     keeping a second copy: a large target's state (a million group members) is held once.
    init(target: String, state: State, journal: @escaping ([State.Change]) throws -> Void, current: (() -> State)? = nil) {
        self.target = target
        self.state = state
        self.journal = journal
        self.current = current
        summary = PushSummary(result: .succeeded, started: Date().timeIntervalSince1970, finished: 0)
    }

    mutating func commit(_ changes: [State.Change]) throws {
        guard !changes.isEmpty else { return }
        guard let current else {
            try journal(changes)
            for change in changes { state.apply(change) }
            return
        }
        // Let go of our reference first, so that the owner changes its state in place, not a copy of it.
        state = State()
        defer { state = current() }
        try journal(changes)
    }

    /// Journals what `id`'s operation changed, and that it no longer fails.
    mutating func succeeded(_ id: String, _ changes: [State.Change]) throws {
        try commit(changes + (state.failures[id] != nil ? [.failure(target: target, id: id, nil)] : []))
    }

    /// `succeeded` for several operations in one journal commit (answers to pipelined requests that
    /// arrived together: one fdatasync for all of them).
    mutating func succeeded(_ batch: [(id: String, changes: [State.Change])]) throws {
        try commit(batch.flatMap { $0.changes + (state.failures[$0.id] != nil ? [.failure(target: target, id: $0.id, nil)] : []) })
    }

    /// Journals a refusal of `id`; it is tried again after `Backoff.refusedObject` (1 min doubling to 1 h, jittered).
    mutating func refused(_ id: String, isGroup: Bool, name: String, operation: String, status: Int, detail: String) throws -> PushFailure {
        let failure = PushFailure.refused(id, isGroup: isGroup, name: name, operation: operation, status: status, detail: detail,
                                          previous: state.failures[id])
        try commit([.failure(target: target, id: id, failure)])
        return failure
    }

    /// Objects that cannot be sent at all become failures (status 0) so operators see them.
    mutating func recordUnsendable(_ unsendable: [String: String]) throws {
        try commit(unsendable.filter { state.failures[$0.key]?.detail != $0.value }
            .map { .failure(target: target, id: $0.key, .unsendable($0.key, why: $0.value)) })
    }

    /// Failures of objects that left the scope, or are in sync again (nothing `pending`), are dropped.
    mutating func clearStaleFailures(pending: [some PushOperation], unsendable: [String: String]) throws {
        let ids = Set(pending.map(\.objectId))
        try commit(state.failures.keys.filter { !ids.contains($0) && unsendable[$0] == nil }.map { .failure(target: target, id: $0, nil) })
    }

    /// The operations to send now: without `retryAll`, none for an object whose failure backoff runs;
    /// deletions beyond `limit` held back. Returns the held-back message, if any.
    func selected<Operation: PushOperation>(_ operations: inout [Operation], limit: Int?, retryAll: Bool,
                                            approve: (Int) -> String) -> String? {
        var held: String?
        let deletions = operations.reduce(0) { $0 + ($1.isDeletion ? 1 : 0) }
        if let limit, deletions > limit {
            operations.removeAll(where: \.isDeletion)
            held = "\(deletions) deprovisions/deletions held back: more than MaxDeletions= allows (\(limit)); \(approve(deletions))"
        }
        let now = Date().timeIntervalSince1970
        operations.removeAll { op in
            guard !retryAll, let failure = state.failures[op.objectId] else { return false }
            return failure.nextAttempt > now
        }
        return held
    }

    /// Ends the push: `left` operations still pending, deletions `blocked`; the summary is journaled
    /// unless the push failed before the state belonged to this target (`reached` false).
    mutating func finish(blocked: String?, left: Int, reached: Bool) -> PushSummary {
        summary.finish(blocked: blocked, failures: state.failures.count, left: left)
        if summary.result != .failed || reached {
            try? commit([.pushed(target: target, summary)])
        }
        return summary
    }
}
