import Glibc

/// One record: a caller-defined type (1...199) and opaque payload.
public struct JournalRecord: Sendable, Equatable {
    public var type: UInt8
    public var payload: [UInt8]
    public init(type: UInt8, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }
}

public struct JournalOptions: Sendable {
    /// A new segment starts once the current one is larger than this.
    public var segmentSizeLimit: Int
    /// fdatasync at commit; only tests turn it off.
    public var syncEnabled: Bool
    public init(segmentSizeLimit: Int = 64 << 20, syncEnabled: Bool = true) {
        self.segmentSizeLimit = segmentSizeLimit
        self.syncEnabled = syncEnabled
    }
}

/// What `Journal.open` found and repaired.
public struct RecoveryReport: Sendable, CustomStringConvertible {
    public var truncatedBytes = 0
    public var truncatedSegment: String?
    public var truncatedOffset: Int?
    public var reason: String?
    public var removedFiles: [String] = []
    public var committedBatches = 0

    public var description: String {
        guard truncatedBytes > 0 else { return "\(committedBatches) committed batches, nothing to repair" }
        return "cut \(truncatedBytes) bytes (\(reason ?? "damaged")) from \(truncatedSegment ?? "?") at offset \(truncatedOffset ?? 0); \(committedBatches) committed batches kept"
    }
}

/// A journal failure: what, where, and the fix.
public struct JournalError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case corrupt, io, noSpace, closed }
    public var kind: Kind
    public var path: String
    public var offset: Int?
    public var message: String

    public var description: String {
        switch kind {
        case .corrupt:
            return "\(path) is damaged at offset \(offset ?? 0): \(message). Committed data cannot be trusted."
        case .noSpace:
            return "\(path): no space left on the device; the run was not committed."
        case .io, .closed:
            return "\(path): \(message)"
        }
    }

    static func io(_ path: String, _ what: String, _ code: Int32 = errno) -> JournalError {
        JournalError(kind: code == ENOSPC || code == EDQUOT || code == EFBIG ? .noSpace : .io, path: path, offset: nil,
                     message: "\(what): \(String(cString: strerror(code)))" + (code == EMFILE || code == ENFILE ? descriptorHint : ""))
    }

    /// The fix for running out of file descriptors.
    static let descriptorHint = " (the daemon has too many files open: raise LimitNOFILE= in its unit, or run fewer profiles)"
}
