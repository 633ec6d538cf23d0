import EntraDirectory
import EntraGraph

/// Writes JSON text directly into a byte buffer: exports are large and must be deterministic.
public struct JSONText {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func rawBytes(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    /// Text as it is, without JSON escaping (CSV rows).
    public mutating func rawText(_ value: String) {
        bytes.append(contentsOf: value.utf8)
    }

    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
    }

    public mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
                return
            }
            for b in utf8 {
                switch b {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
                case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              hex[Int(b >> 4)], hex[Int(b & 0xf)]])
                default: bytes.append(b)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func optionalString(_ value: String?) {
        if let value { string(value) } else { raw("null") }
    }

    public mutating func optionalBool(_ value: Bool?) {
        switch value {
        case .some(true): raw("true")
        case .some(false): raw("false")
        case .none: raw("null")
        }
    }

    public mutating func int(_ value: Int) {
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func key(_ name: StaticString) {
        raw("\"")
        raw(name)
        raw("\":")
    }

    /// An id's text needs no escaping when it is a GUID; any other is escaped like a string.
    public mutating func objectID(_ value: ObjectID) {
        if value.isGUID {
            bytes.append(UInt8(ascii: "\""))
            value.append(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        value.withUTF8 { utf8 in
            if utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: utf8)
                bytes.append(UInt8(ascii: "\""))
            } else {
                string(String(decoding: utf8, as: UTF8.self))
            }
        }
    }

    public mutating func objectIDArray(_ values: [ObjectID]) {
        raw("[")
        for (i, v) in values.enumerated() {
            if i > 0 { raw(",") }
            objectID(v)
        }
        raw("]")
    }

    public mutating func stringArray(_ values: [String]?) {
        guard let values else { raw("null"); return }
        raw("[")
        for (i, v) in values.enumerated() {
            if i > 0 { raw(",") }
            string(v)
        }
        raw("]")
    }
}
