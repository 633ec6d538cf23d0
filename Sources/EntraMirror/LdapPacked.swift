import EntraDirectory

/// An entry's managed attributes (names lowercased → values), packed in one byte array.
///
/// The acknowledged state and the desired state each hold one of these per provisioned entry: at
/// 100,000 users a dictionary of arrays of strings per entry cost about 1 KB more than its text.
/// Packed, an entry is one allocation; two are equal when their bytes are (names are kept
/// sorted), so a plan compares 110,000 entries with a memory compare each. Reading one attribute
/// walks the few there are; changing one re-packs the entry.
///
/// Layout: for each attribute in name order, varint name length, name, varint value count, then
/// each value as varint length and UTF-8 bytes.
public struct LdapAttributes: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public typealias Element = (key: String, value: [String])
    private var bytes: [UInt8]

    public init() { bytes = [] }

    public init(_ dictionary: [String: [String]]) {
        self.init(sorted: dictionary.sorted { $0.key < $1.key })
    }

    public init(dictionaryLiteral elements: (String, [String])...) {
        self.init(pairs: elements.map { (key: $0.0, value: $0.1) })
    }

    /// From name/value pairs (later names win over earlier ones of the same name).
    private init(pairs: [Element]) {
        var last: [String: Int] = [:]
        for (index, pair) in pairs.enumerated() { last[pair.key] = index }
        self.init(sorted: pairs.enumerated().filter { last[$0.element.key] == $0.offset }.map(\.element).sorted { $0.key < $1.key })
    }

    /// From pairs sorted by name, each name once.
    private init(sorted kept: [Element]) {
        var size = 0
        for (name, values) in kept { size += name.utf8.count + 2 + values.reduce(0) { $0 + $1.utf8.count + 1 } }
        bytes = []
        bytes.reserveCapacity(size + 8)
        for (name, values) in kept {
            Self.append(name, to: &bytes)
            Self.varint(UInt64(values.count), to: &bytes)
            for value in values { Self.append(value, to: &bytes) }
        }
    }

    /// The attributes as a dictionary.
    public var dictionary: [String: [String]] {
        var result: [String: [String]] = [:]
        for (name, values) in self { result[name] = values }
        return result
    }

    public var keys: [String] { map(\.key) }
    public var count: Int { reduce(0) { n, _ in n + 1 } }
    public var isEmpty: Bool { bytes.isEmpty }
    /// The packed size (for tests and the benchmark's arithmetic).
    public var byteCount: Int { bytes.count }

    public subscript(name: String) -> [String]? {
        get { first { $0.key == name }?.value }
        set {
            var pairs = Array(self).filter { $0.key != name }
            if let newValue { pairs.append((name, newValue)) }
            self = LdapAttributes(pairs: pairs)
        }
    }

    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> LdapAttributes {
        LdapAttributes(pairs: try Array(self).filter(isIncluded))
    }

    public var description: String { dictionary.description }

    public func makeIterator() -> Iterator { Iterator(bytes: bytes) }

    /// Decodes one attribute at a time, in name order.
    public struct Iterator: IteratorProtocol {
        let bytes: [UInt8]
        var offset = 0

        public mutating func next() -> Element? {
            guard offset < bytes.count else { return nil }
            let name = string()
            let count = Int(varint())
            var values: [String] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(string()) }
            return (name, values)
        }

        private mutating func varint() -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }

        private mutating func string() -> String {
            let length = Int(varint())
            defer { offset += length }
            return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        }
    }

    private static func varint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private static func append(_ text: String, to bytes: inout [UInt8]) {
        varint(UInt64(text.utf8.count), to: &bytes)
        bytes.append(contentsOf: text.utf8)
    }
}

/// A group's members as the directory holds them: Entra ids kept as `ObjectID`s (16 bytes each, no
/// allocation), not strings: a large tenant's groups list a million of them, in the acknowledged
/// state and in the desired state. Ids cross in and out as text.
public struct LdapMembers: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
    public private(set) var ids: Set<ObjectID>

    public init() { ids = [] }
    public init(ids: Set<ObjectID>) { self.ids = ids }
    public init(_ ids: some Sequence<String>) { self.ids = Set(ids.lazy.map { ObjectID($0) }) }
    public init(arrayLiteral elements: String...) { self.init(elements) }

    public var count: Int { ids.count }
    public var isEmpty: Bool { ids.isEmpty }
    public func contains(_ id: String) -> Bool { ids.contains(ObjectID(id)) }

    @discardableResult
    public mutating func remove(_ id: String) -> String? { ids.remove(ObjectID(id)).map { _ in id } }
    public mutating func formUnion(_ other: some Sequence<String>) { for id in other { ids.insert(ObjectID(id)) } }
    public mutating func subtract(_ other: some Sequence<String>) { for id in other { ids.remove(ObjectID(id)) } }
    public func subtracting(_ other: LdapMembers) -> LdapMembers { LdapMembers(ids: ids.subtracting(other.ids)) }

    /// The ids as text, sorted.
    public func sorted() -> [String] { ids.map(\.description).sorted() }

    public func makeIterator() -> Iterator { Iterator(base: ids.makeIterator()) }

    public struct Iterator: IteratorProtocol {
        var base: Set<ObjectID>.Iterator
        public mutating func next() -> String? { base.next()?.description }
    }
}
