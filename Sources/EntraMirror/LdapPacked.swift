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

/// A group's members as the directory holds them: Entra ids, not strings (a large tenant's groups
/// list a million of them), in sorted arrays rather than hash sets: a canonical GUID in 16 bytes
/// (`ObjectID.Bits`), any other id as an `ObjectID`. A million members take 16 MB where a
/// `Set<ObjectID>` took about 40 (24-byte elements, a table at most three quarters full). Lookups
/// are binary searches; changes merge sorted runs, as the journal brings them in batches. Ids cross
/// in and out as text.
public struct LdapMembers: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
    /// Sorted, unique.
    private var guids: [ObjectID.Bits] = []
    /// Ids that are not canonical GUIDs (tests, unexpected input): sorted, unique.
    private var others: [ObjectID] = []

    public init() {}
    public init(ids: some Sequence<ObjectID>) { formUnion(ids: ids) }
    public init(_ ids: some Sequence<String>) { self.init(ids: ids.lazy.map { ObjectID($0) }) }
    public init(arrayLiteral elements: String...) { self.init(elements) }

    public var count: Int { guids.count + others.count }
    public var isEmpty: Bool { guids.isEmpty && others.isEmpty }
    public func contains(_ id: String) -> Bool { contains(ObjectID(id)) }

    public func contains(_ id: ObjectID) -> Bool {
        if let bits = id.bits { return Self.position(of: bits, in: guids).found }
        return Self.position(of: id, in: others).found
    }

    /// Calls `body` with each id, in no particular order.
    public func forEachID(_ body: (ObjectID) -> Void) {
        for bits in guids { body(ObjectID(bits)) }
        for id in others { body(id) }
    }

    /// The ids, sorted.
    public var sortedIDs: [ObjectID] {
        var ids = guids.map { ObjectID($0) }
        ids.append(contentsOf: others)
        return others.isEmpty ? ids : ids.sorted()
    }

    @discardableResult
    public mutating func remove(_ id: String) -> String? {
        let objectID = ObjectID(id)
        if let bits = objectID.bits {
            let (at, found) = Self.position(of: bits, in: guids)
            guard found else { return nil }
            guids.remove(at: at)
        } else {
            let (at, found) = Self.position(of: objectID, in: others)
            guard found else { return nil }
            others.remove(at: at)
        }
        return id
    }

    public mutating func formUnion(_ other: some Sequence<String>) { formUnion(ids: other.lazy.map { ObjectID($0) }) }
    public mutating func subtract(_ other: some Sequence<String>) { subtract(ids: other.lazy.map { ObjectID($0) }) }

    public func subtracting(_ other: LdapMembers) -> LdapMembers {
        var result = self
        result.guids = Self.merged(guids, other.guids, keepingBoth: false)
        result.others = Self.merged(others, other.others, keepingBoth: false)
        return result
    }

    /// The ids as text, sorted.
    public func sorted() -> [String] {
        var texts: [String] = []
        texts.reserveCapacity(count)
        forEachID { texts.append($0.description) }
        return texts.sorted()
    }

    public func makeIterator() -> IndexingIterator<[String]> { sorted().makeIterator() }

    mutating func formUnion(ids: some Sequence<ObjectID>) {
        let (bits, texts) = Self.split(ids)
        if !bits.isEmpty { guids = Self.merged(guids, bits, keepingBoth: true) }
        if !texts.isEmpty { others = Self.merged(others, texts, keepingBoth: true) }
    }

    mutating func subtract(ids: some Sequence<ObjectID>) {
        let (bits, texts) = Self.split(ids)
        if !bits.isEmpty { guids = Self.merged(guids, bits, keepingBoth: false) }
        if !texts.isEmpty { others = Self.merged(others, texts, keepingBoth: false) }
    }

    /// The ids sorted and without repeats, GUIDs apart.
    private static func split(_ ids: some Sequence<ObjectID>) -> ([ObjectID.Bits], [ObjectID]) {
        var bits: [ObjectID.Bits] = []
        var texts: [ObjectID] = []
        for id in ids {
            if let b = id.bits { bits.append(b) } else { texts.append(id) }
        }
        return (unique(bits.sorted()), unique(texts.sorted()))
    }

    private static func unique<T: Equatable>(_ sorted: [T]) -> [T] {
        var out: [T] = []
        out.reserveCapacity(sorted.count)
        for x in sorted where out.last != x { out.append(x) }
        return out
    }

    /// Two sorted, unique runs merged: their union (`keepingBoth`), or `a` without what `b` holds.
    private static func merged<T: Comparable>(_ a: [T], _ b: [T], keepingBoth: Bool) -> [T] {
        var out: [T] = []
        out.reserveCapacity(keepingBoth ? a.count + b.count : a.count)
        var (i, j) = (0, 0)
        while i < a.count && j < b.count {
            if a[i] < b[j] {
                out.append(a[i]); i += 1
            } else if b[j] < a[i] {
                if keepingBoth { out.append(b[j]) }
                j += 1
            } else {
                if keepingBoth { out.append(a[i]) }
                i += 1; j += 1
            }
        }
        out.append(contentsOf: a[i...])
        if keepingBoth { out.append(contentsOf: b[j...]) }
        return out
    }

    /// Where `x` is or would go in `sorted`.
    private static func position<T: Comparable>(of x: T, in sorted: [T]) -> (at: Int, found: Bool) {
        var (low, high) = (0, sorted.count)
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < x { low = mid + 1 } else { high = mid }
        }
        return (low, low < sorted.count && sorted[low] == x)
    }
}
