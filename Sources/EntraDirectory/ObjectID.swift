/// The id of a directory object as a group member.
///
/// Graph's ids are GUIDs in lowercase canonical form: those are kept as their 16 bytes, with no
/// heap storage, and hash and compare as two integers. A large tenant has millions of memberships,
/// and a 36-character `String` per member was the largest cost in memory and time. Any other text
/// (ids in tests, unexpected input) is kept as it is, so the text always round-trips exactly.
@frozen
public struct ObjectID: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    // Inlinable: sorting and hashing millions of ids must not make a cross-module call per comparison.
    @usableFromInline let high: UInt64
    @usableFromInline let low: UInt64
    /// Set only for ids that are not canonical GUIDs.
    @usableFromInline let other: Text?

    @usableFromInline
    final class Text: Sendable {
        @usableFromInline let value: String
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

    /// A canonical GUID's 128 bits, to keep ids in 16 bytes where a collection of them is large.
    @frozen
    public struct Bits: Sendable, Hashable, Comparable {
        public let high: UInt64
        public let low: UInt64

        @inlinable
        public init(high: UInt64, low: UInt64) { (self.high, self.low) = (high, low) }

        @inlinable
        public static func < (a: Bits, b: Bits) -> Bool { (a.high, a.low) < (b.high, b.low) }
    }

    /// The GUID's bits; nil for an id that is not a canonical GUID.
    @inlinable
    public var bits: Bits? { other == nil ? Bits(high: high, low: low) : nil }

    @inlinable
    public init(_ bits: Bits) {
        (high, low, other) = (bits.high, bits.low, nil)
    }

    /// The 128 bits of a canonical lowercase GUID (8-4-4-4-12 hex digits), or nil.
    private static func guid(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        guard bytes.count == 36, bytes[8] == dash, bytes[13] == dash, bytes[18] == dash, bytes[23] == dash else { return nil }
        var invalid: UInt8 = 0
        func hex(_ range: Range<Int>, into value: inout UInt64) {
            for index in range {
                let nibble = nibbles[Int(bytes[index])]
                invalid |= nibble
                value = value << 4 | UInt64(nibble & 0xF)
            }
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        hex(0..<8, into: &high)
        hex(9..<13, into: &high)
        hex(14..<18, into: &high)
        hex(19..<23, into: &low)
        hex(24..<36, into: &low)
        return invalid & 0x80 == 0 ? (high, low) : nil
    }

    private static let dash = UInt8(ascii: "-")
    /// A lowercase hex digit's value; 0x80 for any other byte.
    private static let nibbles: [UInt8] = (0..<256).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(byte) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(byte) - UInt8(ascii: "a") + 10
        default: 0x80
        }
    }
    /// Two hex digits per byte value.
    private static let hexPairs: [UInt16] = (0..<256).map { byte in
        let digits = Array("0123456789abcdef".utf8)
        return UInt16(digits[byte >> 4]) | UInt16(digits[byte & 0xF]) << 8
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
        let raw = UnsafeMutableRawPointer(out)
        func bytes(_ word: UInt64, _ from: Int, _ count: Int, at offset: Int) {
            for i in 0..<count {
                let byte = Int((word >> UInt64(56 - 8 * (from + i))) & 0xFF)
                raw.storeBytes(of: Self.hexPairs[byte], toByteOffset: offset + 2 * i, as: UInt16.self)
            }
        }
        bytes(high, 0, 4, at: 0)
        out[8] = Self.dash
        bytes(high, 4, 2, at: 9)
        out[13] = Self.dash
        bytes(high, 6, 2, at: 14)
        out[18] = Self.dash
        bytes(low, 0, 2, at: 19)
        out[23] = Self.dash
        bytes(low, 2, 6, at: 24)
    }

    /// Whether the id is a canonical GUID (its text needs no escaping anywhere).
    public var isGUID: Bool { other == nil }

    /// Appends the id's UTF-8 text to `bytes`.
    public func append(to bytes: inout [UInt8]) {
        if let other {
            bytes.append(contentsOf: other.value.utf8)
            return
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: 36))
        bytes.withUnsafeMutableBufferPointer { writeGUID(into: $0.baseAddress! + start) }
    }

    public var description: String {
        if let other { return other.value }
        return String(unsafeUninitializedCapacity: 36) { buffer in
            writeGUID(into: buffer.baseAddress!)
            return 36
        }
    }

    @inlinable
    public static func == (a: ObjectID, b: ObjectID) -> Bool {
        guard a.high == b.high, a.low == b.low else { return false }
        return a.other?.value == b.other?.value
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        if let other {
            hasher.combine(other.value)
        } else {
            hasher.combine(high)
            hasher.combine(low)
        }
    }

    /// The order of the ids' text (for GUIDs, the order of their 128 bits is the same).
    @inlinable
    public static func < (a: ObjectID, b: ObjectID) -> Bool {
        if a.other == nil && b.other == nil { return (a.high, a.low) < (b.high, b.low) }
        return a.description < b.description
    }
}
