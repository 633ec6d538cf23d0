import Foundation

/// The outcome of one sync run, kept in the journal (history) and shown in status.
public struct RunSummary: Sendable, Equatable {
    public enum Result: String, Sendable, CaseIterable {
        case succeeded, failed, cancelled
        /// Not committed: it would have removed more than MaxDeletions= allows.
        case blocked
    }

    public var runId: String
    public var result: Result
    public var full: Bool
    /// Seconds since 1970.
    public var started: Double
    public var finished: Double
    public var added: Int
    public var updated: Int
    public var removed: Int
    public var error: String?
    public var hint: String?
    /// Object counts after the run.
    public var users: Int
    public var groups: Int
    public var memberships: Int

    public init(runId: String, result: Result, full: Bool, started: Double, finished: Double,
                added: Int = 0, updated: Int = 0, removed: Int = 0, error: String? = nil, hint: String? = nil,
                users: Int = 0, groups: Int = 0, memberships: Int = 0) {
        self.runId = runId
        self.result = result
        self.full = full
        self.started = started
        self.finished = finished
        self.added = added
        self.updated = updated
        self.removed = removed
        self.error = error
        self.hint = hint
        self.users = users
        self.groups = groups
        self.memberships = memberships
    }

    public var durationMsec: Int { Int(((finished - started) * 1000).rounded()) }

    func encode(into w: inout ByteWriter) {
        w.string(runId)
        w.string(result.rawValue)
        w.byte(full ? 1 : 0)
        w.double(started)
        w.double(finished)
        w.int(added)
        w.int(updated)
        w.int(removed)
        w.string(error ?? "")
        w.string(hint ?? "")
        w.int(users)
        w.int(groups)
        w.int(memberships)
    }

    static func decode(from r: inout ByteReader) throws(ByteReader.Malformed) -> RunSummary {
        let runId = try r.string()
        let resultText = try r.string()
        guard let result = Result(rawValue: resultText) else {
            throw ByteReader.Malformed(offset: r.offset, what: "unknown run result '\(resultText)'")
        }
        let full = try r.byte() != 0
        let started = try r.double()
        let finished = try r.double()
        let added = try r.int()
        let updated = try r.int()
        let removed = try r.int()
        let error = try r.string()
        let hint = try r.string()
        return RunSummary(runId: runId, result: result, full: full, started: started, finished: finished,
                          added: added, updated: updated, removed: removed,
                          error: error.isEmpty ? nil : error, hint: hint.isEmpty ? nil : hint,
                          users: try r.int(), groups: try r.int(), memberships: try r.int())
    }
}
