/// The id of a directory object as a group member.
///
/// Graph's ids are GUIDs in lowercase canonical form: those are kept as their 16 bytes, with no
/// heap storage, and hash and compare as two integers. A large tenant has millions of memberships,
/// and a 36-character `String` per member was the largest cost in memory and time. Any other text
/// (ids in tests, unexpected input) is kept as it is, so the text always round-trips exactly.
public struct ObjectID: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    private let high: UInt64
    private let low: UInt64
    /// Set only for ids that are not canonical GUIDs.
    private let other: Text?

    private final class Text: Sendable {
        let value: String
        init(_ value: String) { self.value = value }
    }

    public init(_ text: String) {
        var text = text
        if let (high, low) = text.withUTF8({ Self.guid(UnsafeRawBufferPointer($0)) }) {
            (self.high, self.low, self.other) = (high, low, nil)
        } else {
            (self.high, self.low, self.other) = (0, 0, Text(text))
        }
    }

    /// From UTF-8 bytes (a parser's span): no allocation for a GUID.
    public init(utf8 bytes: UnsafeRawBufferPointer) {
        if let (high, low) = Self.guid(bytes) {
            (self.high, self.low, self.other) = (high, low, nil)
        } else {
            (self.high, self.low, self.other) = (0, 0, Text(String(decoding: bytes, as: UTF8.self)))
        }
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// The 128 bits of a canonical lowercase GUID (8-4-4-4-12 hex digits), or nil.
    private static func guid(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte &- UInt8(ascii: "a") &+ 10
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(nibble) } else { low = low << 4 | UInt64(nibble) }
            digits += 1
        }
        return (high, low)
    }

    /// Calls `body` with the id's UTF-8 text, without making a `String` for a GUID.
    public func withUTF8<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let other {
            var text = other.value
            return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            writeGUID(into: buffer.baseAddress!)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    private func writeGUID(into out: UnsafeMutablePointer<UInt8>) {
        let hex: StaticString = "0123456789abcdef"
        var at = 0
        for digit in 0..<32 {
            if digit == 8 || digit == 12 || digit == 16 || digit == 20 {
                out[at] = UInt8(ascii: "-")
                at += 1
            }
            let word = digit < 16 ? high : low
            let nibble = Int((word >> (UInt64(15 - digit % 16) * 4)) & 0xF)
            out[at] = hex.utf8Start[nibble]
            at += 1
        }
    }

    public var description: String {
        if let other { return other.value }
        return String(unsafeUninitializedCapacity: 36) { buffer in
            writeGUID(into: buffer.baseAddress!)
            return 36
        }
    }

    public static func == (a: ObjectID, b: ObjectID) -> Bool {
        guard a.high == b.high, a.low == b.low else { return false }
        return a.other?.value == b.other?.value
    }

    public func hash(into hasher: inout Hasher) {
        if let other {
            hasher.combine(other.value)
        } else {
            hasher.combine(high)
            hasher.combine(low)
        }
    }

    /// The order of the ids' text (for GUIDs, the order of their 128 bits is the same).
    public static func < (a: ObjectID, b: ObjectID) -> Bool {
        if a.other == nil && b.other == nil { return (a.high, a.low) < (b.high, b.low) }
        return a.description < b.description
    }
}
