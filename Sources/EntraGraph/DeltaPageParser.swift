import EntraDirectory
import Foundation

/// Decodes delta pages straight from their bytes into `UserDelta`s and `GroupDelta`s.
///
/// `JSONDecoder` with the `Decodable` entries in `DeltaPage.swift` went through a generic
/// container per object and a `String`-keyed lookup per property, and was most of the daemon's
/// CPU time in a full sync. This parser reads one pass over the bytes, matches property names as
/// bytes and allocates only the values it keeps. It accepts exactly what those decoders accept on
/// the pages Graph sends; anything else (invalid JSON, a property of the wrong type, a missing
/// `id`) makes it return nil, and the caller decodes the page with `JSONDecoder`, which either
/// copes or says precisely where the page is wrong.
enum DeltaPageParser {
    struct Page<Entry> {
        var entries: [Entry]
        var nextLink: String?
        var deltaLink: String?
    }

    static func users(_ bytes: UnsafeRawBufferPointer) -> Page<UserDelta>? {
        try? page(bytes) { cursor in try user(&cursor) }
    }

    static func groups(_ bytes: UnsafeRawBufferPointer) -> Page<GroupDelta>? {
        try? page(bytes) { cursor in try group(&cursor) }
    }

    // MARK: Page and entries

    private static let valueKey = Array("value".utf8)
    private static let nextLinkKey = Array("@odata.nextLink".utf8)
    private static let deltaLinkKey = Array("@odata.deltaLink".utf8)
    private static let removedKey = Array("@removed".utf8)
    private static let idKey = Array("id".utf8)

    private static func page<Entry>(_ bytes: UnsafeRawBufferPointer, entry: (inout JSONCursor) throws -> Entry) throws -> Page<Entry> {
        var cursor = JSONCursor(bytes)
        let page = try page(&cursor, entry: entry)
        try cursor.expectEnd()
        return page
    }

    /// A page object at the cursor; `sawValue` tells whether it had a `value` array at all.
    private static func page<Entry>(_ cursor: inout JSONCursor, sawValue: UnsafeMutablePointer<Bool>? = nil,
                                    entry: (inout JSONCursor) throws -> Entry) throws -> Page<Entry> {
        var page = Page<Entry>(entries: [])
        try cursor.enterObject()
        var more = false
        while let key = try cursor.nextKey(&more) {
            if cursor.matches(key, valueKey) {
                sawValue?.pointee = true
                page.entries = []
                if cursor.takeNull() { continue }
                try cursor.enterArray()
                var moreEntries = false
                while try cursor.nextElement(&moreEntries) {
                    page.entries.append(try entry(&cursor))
                }
            } else if cursor.matches(key, nextLinkKey) {
                page.nextLink = try cursor.optionalString()
            } else if cursor.matches(key, deltaLinkKey) {
                page.deltaLink = try cursor.optionalString()
            } else {
                try cursor.skipValue()
            }
        }
        return page
    }

    /// `@removed`: an object with an optional `reason`; nil when absent or null.
    private static func removal(_ cursor: inout JSONCursor) throws -> RemovalReason? {
        if cursor.takeNull() { return nil }
        var reason: String?
        try cursor.enterObject()
        var more = false
        while let key = try cursor.nextKey(&more) {
            if cursor.matches(key, "reason") { reason = try cursor.optionalString() } else { try cursor.skipValue() }
        }
        return reason == "changed" ? .changed : .deleted
    }

    private static let userKeys: [[UInt8]] = [
        "id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "accountEnabled", "jobTitle",
        "department", "employeeId", "mailNickname", "onPremisesImmutableId", "assignedLicenses", "@removed",
    ].map { Array($0.utf8) }

    private static func user(_ cursor: inout JSONCursor) throws -> UserDelta {
        var user = DirectoryUser(id: "")
        var id: String?
        var removed: RemovalReason?
        try cursor.enterObject()
        var more = false
        while let key = try cursor.nextKey(&more) {
            switch cursor.index(of: key, in: userKeys) {
            case 0: id = try cursor.string()
            case 1: user.userPrincipalName = try cursor.optionalString()
            case 2: user.displayName = try cursor.optionalString()
            case 3: user.givenName = try cursor.optionalString()
            case 4: user.surname = try cursor.optionalString()
            case 5: user.mail = try cursor.optionalString()
            case 6: user.accountEnabled = try cursor.optionalBool()
            case 7: user.jobTitle = try cursor.optionalString()
            case 8: user.department = try cursor.optionalString()
            case 9: user.employeeId = try cursor.optionalString()
            case 10: user.mailNickname = try cursor.optionalString()
            case 11: user.onPremisesImmutableId = try cursor.optionalString()
            case 12: user.assignedLicenses = try licenses(&cursor)
            case 13: removed = try removal(&cursor)
            default: try cursor.skipValue()
            }
        }
        guard let id else { throw JSONCursor.Malformed() }
        if let removed { return .removed(id: id, reason: removed) }
        user.id = id
        return .upsert(user)
    }

    /// The sorted `skuId`s of `assignedLicenses`.
    private static func licenses(_ cursor: inout JSONCursor) throws -> [String]? {
        if cursor.takeNull() { return nil }
        var skus: [String] = []
        try cursor.enterArray()
        var more = false
        while try cursor.nextElement(&more) {
            try cursor.enterObject()
            var moreKeys = false
            while let key = try cursor.nextKey(&moreKeys) {
                if cursor.matches(key, "skuId") {
                    if let sku = try cursor.optionalString() { skus.append(sku) }
                } else {
                    try cursor.skipValue()
                }
            }
        }
        return skus.sorted()
    }

    private static let groupKeys: [[UInt8]] = [
        "id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes",
        "members@delta", "@removed",
    ].map { Array($0.utf8) }

    private static func group(_ cursor: inout JSONCursor) throws -> GroupDelta {
        var group = DirectoryGroup(id: "")
        var id: String?
        var removed: RemovalReason?
        var members: [MemberDelta] = []
        try cursor.enterObject()
        var more = false
        while let key = try cursor.nextKey(&more) {
            switch cursor.index(of: key, in: groupKeys) {
            case 0: id = try cursor.string()
            case 1: group.displayName = try cursor.optionalString()
            case 2: group.description = try cursor.optionalString()
            case 3: group.mail = try cursor.optionalString()
            case 4: group.mailEnabled = try cursor.optionalBool()
            case 5: group.mailNickname = try cursor.optionalString()
            case 6: group.securityEnabled = try cursor.optionalBool()
            case 7: group.groupTypes = try stringArray(&cursor)
            case 8: members = try memberDeltas(&cursor)
            case 9: removed = try removal(&cursor)
            default: try cursor.skipValue()
            }
        }
        guard let id else { throw JSONCursor.Malformed() }
        if let removed { return .removed(id: id, reason: removed) }
        group.id = id
        return .upsert(group, members: members)
    }

    private static func stringArray(_ cursor: inout JSONCursor) throws -> [String]? {
        if cursor.takeNull() { return nil }
        var out: [String] = []
        try cursor.enterArray()
        var more = false
        while try cursor.nextElement(&more) { out.append(try cursor.string()) }
        return out
    }

    private static let typeKey = Array("@odata.type".utf8)

    private static func memberDeltas(_ cursor: inout JSONCursor) throws -> [MemberDelta] {
        if cursor.takeNull() { return [] }
        var out: [MemberDelta] = []
        try cursor.enterArray()
        var more = false
        while try cursor.nextElement(&more) {
            out.append(try member(&cursor))
        }
        return out
    }

    /// One member: `{"@odata.type":"#microsoft.graph.user","id":"…"}`, with `@removed` in a delta round.
    private static func member(_ cursor: inout JSONCursor) throws -> MemberDelta {
        var id: ObjectID?
        var kind = MemberKind.other
        var removed = false
        try cursor.enterObject()
        var moreKeys = false
        while let key = try cursor.nextKey(&moreKeys) {
            if cursor.matches(key, idKey) {
                id = try cursor.objectID()
            } else if cursor.matches(key, typeKey) {
                kind = try cursor.memberKind()
            } else if cursor.matches(key, removedKey) {
                removed = try removal(&cursor) != nil
            } else {
                try cursor.skipValue()
            }
        }
        guard let id else { throw JSONCursor.Malformed() }
        return MemberDelta(id: id, kind: kind, removed: removed)
    }

    // MARK: Member listings

    /// A page of `/groups/{id}/members?$select=id`.
    static func members(_ bytes: UnsafeRawBufferPointer) -> Page<MemberDelta>? {
        try? page(bytes) { cursor in try member(&cursor) }
    }

    /// One answer of a `$batch` of member listings: `body` is nil unless it is a page with `value`.
    struct BatchItem {
        var id: String
        var status: Int
        var headers: [String: String] = [:]
        var body: Page<MemberDelta>?
    }

    private static let responsesKey = Array("responses".utf8)
    private static let statusKey = Array("status".utf8)
    private static let headersKey = Array("headers".utf8)
    private static let bodyKey = Array("body".utf8)

    /// `{"responses":[{"id":"0","status":200,"headers":{…},"body":{"value":[…]}}]}`, or nil when the
    /// envelope is not that (the caller then decodes it with `JSONDecoder` for its error message).
    static func memberBatch(_ bytes: UnsafeRawBufferPointer) -> [BatchItem]? {
        try? batchItems(bytes)
    }

    private static func batchItems(_ bytes: UnsafeRawBufferPointer) throws -> [BatchItem] {
        var cursor = JSONCursor(bytes)
        var items: [BatchItem]?
        try cursor.enterObject()
        var more = false
        while let key = try cursor.nextKey(&more) {
            guard cursor.matches(key, responsesKey) else {
                try cursor.skipValue()
                continue
            }
            items = []
            try cursor.enterArray()
            var moreItems = false
            while try cursor.nextElement(&moreItems) {
                var id: String?, status: Int?
                var item = BatchItem(id: "", status: 0)
                try cursor.enterObject()
                var moreKeys = false
                while let key = try cursor.nextKey(&moreKeys) {
                    if cursor.matches(key, idKey) {
                        id = try cursor.string()
                    } else if cursor.matches(key, statusKey) {
                        status = try cursor.int()
                    } else if cursor.matches(key, headersKey) {
                        if cursor.takeNull() { continue }
                        try cursor.enterObject()
                        var moreHeaders = false
                        while let name = try cursor.nextKey(&moreHeaders) {
                            let name = try cursor.unescape(name)
                            if cursor.takeNull() { continue }
                            if let value = try? cursor.string() { item.headers[name] = value } else { try cursor.skipValue() }
                        }
                    } else if cursor.matches(key, bodyKey) {
                        if cursor.takeNull() { continue }
                        var sawValue = false
                        let body = try page(&cursor, sawValue: &sawValue) { cursor in try member(&cursor) }
                        item.body = sawValue ? body : nil
                    } else {
                        try cursor.skipValue()
                    }
                }
                guard let id, let status else { throw JSONCursor.Malformed() }
                (item.id, item.status) = (id, status)
                items!.append(item)
            }
        }
        try cursor.expectEnd()
        guard let items else { throw JSONCursor.Malformed() }
        return items
    }
}

/// A forward-only reader over JSON bytes (RFC 8259), strict about syntax.
struct JSONCursor {
    struct Malformed: Error {}

    /// A string's span between the quotes; `escaped` when it holds a backslash.
    struct Key {
        var start: Int
        var count: Int
        var escaped: Bool
        /// Only ASCII bytes: valid UTF-8 without checking.
        var ascii = true
    }

    private let bytes: UnsafeRawBufferPointer
    private var at = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x0A, 0x0D, 0x09: at += 1
            default: return
            }
        }
    }

    private mutating func peek() throws -> UInt8 {
        skipSpace()
        guard at < bytes.count else { throw Malformed() }
        return bytes[at]
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard try peek() == byte else { throw Malformed() }
        at += 1
    }

    mutating func expectEnd() throws {
        skipSpace()
        guard at == bytes.count else { throw Malformed() }
    }

    mutating func enterObject() throws { try expect(0x7B) }
    mutating func enterArray() throws { try expect(0x5B) }

    /// The next property name of the object just entered (its value follows), or nil at `}`.
    mutating func nextKey(_ more: inout Bool) throws -> Key? {
        var byte = try peek()
        if byte == 0x7D {
            at += 1
            return nil
        }
        if more {
            guard byte == 0x2C else { throw Malformed() }
            at += 1
            byte = try peek()
        }
        more = true
        guard byte == 0x22 else { throw Malformed() }
        let key = try rawString()
        // Graph never escapes property names; such a page goes to JSONDecoder.
        guard !key.escaped else { throw Malformed() }
        try expect(0x3A)
        return key
    }

    /// Whether the array just entered has another element (positioned at it).
    mutating func nextElement(_ more: inout Bool) throws -> Bool {
        let byte = try peek()
        if byte == 0x5D {
            at += 1
            return false
        }
        if more {
            guard byte == 0x2C else { throw Malformed() }
            at += 1
        }
        more = true
        return true
    }

    /// Reads a string's raw span (after the opening quote is seen), checking escapes and control characters.
    private mutating func rawString() throws -> Key {
        at += 1
        let start = at
        var escaped = false
        var high: UInt8 = 0
        var highWords: UInt64 = 0
        while at < bytes.count {
            // Eight bytes at a time while none of them is a quote, a backslash or a control character.
            if bytes.count - at >= 8 {
                let word = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                if !Self.special(word) {
                    highWords |= word
                    at += 8
                    continue
                }
            }
            let byte = bytes[at]
            high |= byte
            if byte == 0x22 {
                at += 1
                return Key(start: start, count: at - 1 - start, escaped: escaped, ascii: high < 0x80 && highWords & Self.highBits == 0)
            }
            if byte == 0x5C {
                escaped = true
                at += 2
                continue
            }
            if byte < 0x20 { throw Malformed() }
            at += 1
        }
        throw Malformed()
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether any byte of `word` is `"`, `\` or below 0x20 (exact, from "Bit Twiddling Hacks").
    @inline(__always)
    private static func special(_ word: UInt64) -> Bool {
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highBits }
        let quote = hasZero(word ^ (ones &* 0x22))
        let backslash = hasZero(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highBits
        return quote | backslash | control != 0
    }

    func matches(_ key: Key, _ name: [UInt8]) -> Bool {
        guard !key.escaped, key.count == name.count else { return false }
        return name.withUnsafeBytes { memcmp(bytes.baseAddress! + key.start, $0.baseAddress!, key.count) == 0 }
    }

    func matches(_ key: Key, _ name: StaticString) -> Bool {
        guard !key.escaped, key.count == name.utf8CodeUnitCount else { return false }
        return memcmp(bytes.baseAddress! + key.start, name.utf8Start, key.count) == 0
    }

    /// The index of `key` in `names`.
    func index(of key: Key, in names: [[UInt8]]) -> Int? {
        for (index, name) in names.enumerated() where matches(key, name) { return index }
        return nil
    }

    mutating func takeNull() -> Bool {
        skipSpace()
        guard bytes.count - at >= 4, bytes[at] == 0x6E, bytes[at + 1] == 0x75, bytes[at + 2] == 0x6C, bytes[at + 3] == 0x6C else { return false }
        at += 4
        return true
    }

    mutating func string() throws -> String {
        guard try peek() == 0x22 else { throw Malformed() }
        let key = try rawString()
        if key.escaped { return try unescape(key) }
        return try text(key)
    }

    /// A string as an `ObjectID`: a GUID is read from the bytes, without making a `String`.
    mutating func objectID() throws -> ObjectID {
        guard try peek() == 0x22 else { throw Malformed() }
        let key = try rawString()
        if key.escaped { return ObjectID(try unescape(key)) }
        if !key.ascii { return ObjectID(try text(key)) }
        return ObjectID(utf8: UnsafeRawBufferPointer(rebasing: bytes[key.start..<(key.start + key.count)]))
    }

    /// The text of an unescaped span.
    private func text(_ key: Key) throws -> String {
        let span = UnsafeRawBufferPointer(rebasing: bytes[key.start..<(key.start + key.count)])
        if key.ascii { return String(decoding: span.assumingMemoryBound(to: UInt8.self), as: UTF8.self) }
        guard let text = String(validating: span.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else { throw Malformed() }
        return text
    }

    mutating func optionalString() throws -> String? {
        if takeNull() { return nil }
        return try string()
    }

    mutating func optionalBool() throws -> Bool? {
        if takeNull() { return nil }
        let byte = try peek()
        if byte == 0x74, bytes.count - at >= 4, bytes[at + 1] == 0x72, bytes[at + 2] == 0x75, bytes[at + 3] == 0x65 {
            at += 4
            return true
        }
        if byte == 0x66, bytes.count - at >= 5, bytes[at + 1] == 0x61, bytes[at + 2] == 0x6C, bytes[at + 3] == 0x73, bytes[at + 4] == 0x65 {
            at += 5
            return false
        }
        throw Malformed()
    }

    /// `@odata.type` of a member, without making a string for the common types.
    mutating func memberKind() throws -> MemberKind {
        if takeNull() { return .other }
        guard try peek() == 0x22 else { throw Malformed() }
        let key = try rawString()
        if matches(key, "#microsoft.graph.user") { return .user }
        if matches(key, "#microsoft.graph.group") { return .group }
        return MemberKind(odataType: key.escaped ? try unescape(key) : try text(key))
    }

    /// An integer (the `status` of a `$batch` answer).
    mutating func int() throws -> Int {
        guard try peek() != 0x22 else { throw Malformed() }
        let start = at
        try skipNumber()
        guard let value = Int(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)) else { throw Malformed() }
        return value
    }

    /// Skips one value of any type.
    mutating func skipValue() throws {
        switch try peek() {
        case 0x22:
            let key = try rawString()
            if key.escaped { _ = try unescape(key) }
        case 0x7B:
            at += 1
            var more = false
            while try nextKey(&more) != nil { try skipValue() }
        case 0x5B:
            at += 1
            var more = false
            while try nextElement(&more) { try skipValue() }
        case 0x74, 0x66:
            _ = try optionalBool()
        case 0x6E:
            guard takeNull() else { throw Malformed() }
        case 0x2D, 0x30...0x39:
            try skipNumber()
        default:
            throw Malformed()
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func skipNumber() throws {
        func digits(_ cursor: inout JSONCursor) -> Int {
            let start = cursor.at
            while cursor.at < cursor.bytes.count, (0x30...0x39).contains(cursor.bytes[cursor.at]) { cursor.at += 1 }
            return cursor.at - start
        }
        if bytes[at] == 0x2D { at += 1 }
        guard at < bytes.count else { throw Malformed() }
        if bytes[at] == 0x30 {
            at += 1
        } else if digits(&self) == 0 {
            throw Malformed()
        }
        if at < bytes.count, bytes[at] == 0x2E {
            at += 1
            guard digits(&self) > 0 else { throw Malformed() }
        }
        if at < bytes.count, bytes[at] == 0x65 || bytes[at] == 0x45 {
            at += 1
            if at < bytes.count, bytes[at] == 0x2B || bytes[at] == 0x2D { at += 1 }
            guard digits(&self) > 0 else { throw Malformed() }
        }
    }

    /// Decodes a string span with escapes (`\uXXXX` surrogate pairs included).
    func unescape(_ key: Key) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(key.count)
        var i = key.start
        let end = key.start + key.count
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= end else { throw Malformed() }
            var value: UInt32 = 0
            for byte in bytes[at..<(at + 4)] {
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: throw Malformed()
                }
                value = value << 4 | digit
            }
            return value
        }
        while i < end {
            let byte = bytes[i]
            guard byte == 0x5C else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < end else { throw Malformed() }
            switch bytes[i + 1] {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4(i + 2)
                i += 6
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 1 < end, bytes[i] == 0x5C, bytes[i + 1] == 0x75 else { throw Malformed() }
                    let low = try hex4(i + 2)
                    guard (0xDC00..<0xE000).contains(low) else { throw Malformed() }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw Malformed()
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw Malformed() }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
                continue
            default:
                throw Malformed()
            }
            i += 2
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw Malformed() }
        return text
    }
}
