import EntraJournal

/// An object a push target (SCIM application, LDAP directory) refused; retried with backoff without
/// blocking the others.
public struct PushFailure: Sendable, Equatable {
    public var objectId: String
    public var isGroup: Bool
    /// userName or displayName, for operators.
    public var name: String
    /// What was tried, e.g. "POST /Users" or "add uid=ada,ou=people,dc=example,dc=com".
    public var operation: String
    /// HTTP status or LDAP result code (0 when the object was never sent, e.g. it lacks a userName).
    public var status: Int
    /// The server's `detail` or diagnostic message, or why it was not sent.
    public var detail: String
    public var attempts: Int
    public var at: Double
    public var nextAttempt: Double

    public init(objectId: String, isGroup: Bool, name: String, operation: String, status: Int, detail: String, attempts: Int,
                at: Double, nextAttempt: Double) {
        self.objectId = objectId
        self.isGroup = isGroup
        self.name = name
        self.operation = operation
        self.status = status
        self.detail = detail
        self.attempts = attempts
        self.at = at
        self.nextAttempt = nextAttempt
    }
}

/// What one push to one target did.
public struct PushSummary: Sendable, Equatable {
    public enum Result: String, Sendable, CaseIterable {
        /// Every object is in sync.
        case succeeded
        /// Some objects failed or wait for approval; the rest went through.
        case partial
        /// The target could not be used (down, token refused); what was acknowledged is kept.
        case failed
    }

    public var result: Result
    public var started: Double
    public var finished: Double
    public var created = 0
    public var updated = 0
    public var deprovisioned = 0
    public var memberAdds = 0
    public var memberRemoves = 0
    public var requests = 0
    public var bytesSent = 0
    public var failed = 0
    public var error: String?

    public init(result: Result, started: Double, finished: Double) {
        self.result = result
        self.started = started
        self.finished = finished
    }

    public var durationMsec: Int { Int(((finished - started) * 1000).rounded()) }
    public var operations: Int { created + updated + deprovisioned + memberAdds + memberRemoves }
}

// MARK: Journal encoding (shared by every target's record types)

extension ByteWriter {
    /// An object's failure record: its id, then the failure or nothing (cleared).
    mutating func failure(id: String, _ failure: PushFailure?) {
        string(id)
        byte(failure == nil ? 0 : 1)
        if let failure { pushFailure(failure) }
    }

    mutating func strings(_ values: [String]) {
        varint(UInt64(values.count))
        for value in values { string(value) }
    }

    mutating func optional(_ value: String?) {
        byte(value == nil ? 0 : 1)
        if let value { string(value) }
    }

    mutating func pushFailure(_ f: PushFailure) {
        byte(f.isGroup ? 1 : 0)
        string(f.name)
        string(f.operation)
        int(f.status)
        string(f.detail)
        int(f.attempts)
        double(f.at)
        double(f.nextAttempt)
    }

    mutating func pushSummary(_ s: PushSummary) {
        string(s.result.rawValue)
        double(s.started)
        double(s.finished)
        for n in [s.created, s.updated, s.deprovisioned, s.memberAdds, s.memberRemoves, s.requests, s.bytesSent, s.failed] { int(n) }
        optional(s.error)
    }
}

extension ByteReader {
    /// What `ByteWriter.failure(id:_:)` wrote.
    mutating func failure() throws(Malformed) -> (id: String, failure: PushFailure?) {
        let id = try string()
        guard try byte() == 1 else { return (id, nil) }
        return (id, try pushFailure(objectId: id))
    }

    /// A counted list of strings; a count beyond `limit` (the payload's size) is damage, not a reason to allocate.
    mutating func strings(limit: Int) throws(Malformed) -> [String] {
        let count = try varint()
        guard count <= UInt64(limit) else { throw Malformed(offset: offset, what: "string count \(count)") }
        var values: [String] = []
        values.reserveCapacity(Int(count))
        for _ in 0..<count { values.append(try string()) }
        return values
    }

    mutating func optional() throws(Malformed) -> String? {
        try byte() == 1 ? try string() : nil
    }

    mutating func pushFailure(objectId: String) throws(Malformed) -> PushFailure {
        let isGroup = try byte() == 1
        return PushFailure(objectId: objectId, isGroup: isGroup, name: try string(), operation: try string(), status: try int(),
                           detail: try string(), attempts: try int(), at: try double(), nextAttempt: try double())
    }

    mutating func pushSummary() throws(Malformed) -> PushSummary {
        let resultText = try string()
        guard let result = PushSummary.Result(rawValue: resultText) else {
            throw Malformed(offset: offset, what: "push result '\(resultText)'")
        }
        var s = PushSummary(result: result, started: try double(), finished: try double())
        s.created = try int()
        s.updated = try int()
        s.deprovisioned = try int()
        s.memberAdds = try int()
        s.memberRemoves = try int()
        s.requests = try int()
        s.bytesSent = try int()
        s.failed = try int()
        s.error = try optional()
        return s
    }
}
