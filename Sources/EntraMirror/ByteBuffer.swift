import EntraDirectory
import EntraGraph

/// Appends the compact binary encoding used in journal records.
///
/// Integers are LEB128 varints; strings are a varint length and UTF-8 bytes.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func int(_ value: Int) {
        // zig-zag, so negative numbers stay short
        varint(UInt64(bitPattern: Int64((value << 1) ^ (value >> 63))))
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// An id is written as its text, like a string.
    mutating func objectID(_ value: ObjectID) {
        if value.isGUID {
            bytes.append(36)
            value.append(to: &bytes)
            return
        }
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func double(_ value: Double) {
        varint(value.bitPattern)
    }

    mutating func bytes(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked.
public struct ByteReader {
    /// A record payload that does not decode: where and what.
    public struct Malformed: Error, CustomStringConvertible {
        public var offset: Int
        public var what: String
        public var description: String { "malformed record payload at byte \(offset): \(what)" }
    }

    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func byte() throws(Malformed) -> UInt8 {
        guard offset < bytes.count else { throw Malformed(offset: offset, what: "unexpected end") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint() throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw Malformed(offset: offset, what: "varint too long") }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func int() throws(Malformed) -> Int {
        let raw = try varint()
        return Int(Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))))
    }

    mutating func string() throws(Malformed) -> String {
        let count = try varint()
        guard count <= UInt64(bytes.count - offset) else { throw Malformed(offset: offset, what: "string runs past the end") }
        let end = offset + Int(count)
        defer { offset = end }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    /// A string as an id: a GUID is read without making a `String`.
    mutating func objectID() throws(Malformed) -> ObjectID {
        let count = try varint()
        guard count <= UInt64(bytes.count - offset) else { throw Malformed(offset: offset, what: "id runs past the end") }
        let end = offset + Int(count)
        defer { offset = end }
        return bytes.withUnsafeBytes { ObjectID(utf8: UnsafeRawBufferPointer(rebasing: $0[offset..<end])) }
    }

    mutating func bytes(count: Int) throws(Malformed) -> [UInt8] {
        guard count >= 0, count <= bytes.count - offset else { throw Malformed(offset: offset, what: "bytes run past the end") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func double() throws(Malformed) -> Double {
        Double(bitPattern: try varint())
    }
}
