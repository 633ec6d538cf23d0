import Foundation

/// Renders delta rounds straight to JSON bytes, page by page, from the tenant's bags.
///
/// Rendering a round used to build a dictionary per entry and run `JSONSerialization` over each
/// page, which capped the simulator at a few MB/s. Here every entry is written once into the page
/// it lands on, and the simulator keeps the rendered pages (`RoundCache`), so serving a page is a copy.
struct PageRenderer {
    /// What the round's pages link to: `base?$skiptoken=ROUND.N` and the final delta link.
    var pageSize: Int
    var context: String
    var nextLinkPrefix: String
    var deltaLink: String

    /// Graph's cap on directory links (`members@delta` items) per page; 0: none.
    var maxLinksPerPage = 0

    private(set) var pages: [[UInt8]] = []
    private var out = JSONBytes()
    private var inPage = 0
    private var linksInPage = 0
    private var pageFull = false

    init(pageSize: Int, context: String, nextLinkPrefix: String, deltaLink: String) {
        self.pageSize = max(1, pageSize)
        self.context = context
        self.nextLinkPrefix = nextLinkPrefix
        self.deltaLink = deltaLink
        openPage()
    }

    private mutating func openPage() {
        out = JSONBytes()
        out.bytes.reserveCapacity(64 << 10)
        out.raw("{\"@odata.context\":")
        out.string(context)
        out.raw(",\"value\":[")
        inPage = 0
        linksInPage = 0
        pageFull = false
    }

    /// How many member links the current page still takes (at least one: a full page is closed
    /// when the next entry begins).
    mutating func linkRoom() -> Int {
        guard maxLinksPerPage > 0 else { return Int.max }
        if linksInPage >= maxLinksPerPage {
            pageFull = true
            return maxLinksPerPage
        }
        return maxLinksPerPage - linksInPage
    }

    /// Starts the next entry: closes a full page with its next link first.
    private mutating func beginEntry() {
        if inPage == pageSize || (pageFull && inPage > 0) {
            out.raw("],\"@odata.nextLink\":")
            out.string("\(nextLinkPrefix)\(pages.count + 1)")
            out.raw("}")
            pages.append(out.bytes)
            openPage()
        }
        if inPage > 0 { out.raw(",") }
        inPage += 1
    }

    /// The round's pages; the last carries the delta link. An empty round is one empty page.
    mutating func finish() -> [[UInt8]] {
        out.raw("],\"@odata.deltaLink\":")
        out.string(deltaLink)
        out.raw("}")
        pages.append(out.bytes)
        out = JSONBytes()
        return pages
    }

    // MARK: Entries

    /// An object with the bag's properties that `keys` selects (nil: all), `id` always, in key order.
    mutating func object(_ bag: [String: Any], keys: [String]?, extra: (inout JSONBytes) -> Void = { _ in }) {
        beginEntry()
        out.object(bag, keys: keys, extra: extra)
    }

    /// `{"id":ID,"@removed":{"reason":REASON}}`
    mutating func removed(_ id: String, reason: String) {
        beginEntry()
        out.raw("{\"id\":")
        out.string(id)
        out.raw(",\"@removed\":{\"reason\":")
        out.string(reason)
        out.raw("}}")
    }

    /// One `members@delta` item.
    struct Member {
        var id: String
        var type: String
        var removed: Bool
    }

    /// A group entry with one slice of its `members@delta`.
    mutating func group(_ bag: [String: Any], keys: [String]?, members: ArraySlice<Member>) {
        if maxLinksPerPage > 0 && linksInPage + members.count > maxLinksPerPage { pageFull = true }
        defer { linksInPage += members.count }
        object(bag, keys: keys) { out in
            out.raw(",\"members@delta\":[")
            var first = true
            for member in members {
                if !first { out.raw(",") }
                first = false
                out.raw("{\"@odata.type\":\"#microsoft.graph.")
                out.raw(member.type)
                out.raw("\",\"id\":")
                out.string(member.id)
                if member.removed { out.raw(",\"@removed\":{\"reason\":\"deleted\"}") }
                out.raw("}")
            }
            out.raw("]")
        }
    }
}

extension PageRenderer {
    /// Renders a users round with the changes after `since` (nil: the initial round), as
    /// `Tenant.userEntries` lists them.
    static func users(_ tenant: Tenant, since: Int?, select: [String]?, into renderer: inout PageRenderer) {
        let keys = select ?? Tenant.defaultUserProperties
        // An incremental round sorts only what changed.
        let ids = since.map { since in tenant.userChanged.filter { $0.value > since }.keys.sorted() } ?? tenant.users.keys.sorted()
        for id in ids {
            let status = tenant.userStatus[id]!
            if since == nil && status == .hard { continue }
            switch status {
            case .live: renderer.object(tenant.users[id]!, keys: keys)
            case .soft: renderer.removed(id, reason: "changed")
            case .hard: renderer.removed(id, reason: "deleted")
            }
        }
    }

    /// Renders a groups round as `Tenant.groupEntries` lists it: a group with many members is
    /// split into entries of `slice` members each.
    static func groups(_ tenant: Tenant, since: Int?, select: [String]?, slice: Int, into renderer: inout PageRenderer) {
        let withMembers = select == nil || select!.contains("members")
        let keys = select?.filter { $0 != "members" }
        let slice = max(1, slice)
        for id in tenant.groups.keys.sorted() {
            if tenant.deletedGroups.contains(id) {
                if let since, tenant.groupChanged[id]! > since { renderer.removed(id, reason: "deleted") }
                continue
            }
            var members: [Member] = []
            if withMembers {
                let current = tenant.members[id] ?? [:]
                if let since {
                    for member in (tenant.memberChanged[id] ?? [:]).filter({ $0.value > since }).keys.sorted() {
                        let type = current[member] ?? (tenant.groups[member] != nil ? "group" : "user")
                        members.append(Member(id: member, type: type, removed: current[member] == nil))
                    }
                } else {
                    members.reserveCapacity(current.count)
                    for (member, type) in current.sorted(by: { $0.key < $1.key }) {
                        members.append(Member(id: member, type: type, removed: false))
                    }
                }
            }
            if let since, tenant.groupChanged[id]! <= since, members.isEmpty { continue }
            let bag = tenant.groups[id]!
            if members.isEmpty {
                renderer.object(bag, keys: keys)
            } else {
                // A slice ends at `slice` members or where the page's link cap is reached.
                var start = 0
                while start < members.count {
                    let end = min(start + min(slice, renderer.linkRoom()), members.count)
                    renderer.group(bag, keys: keys, members: members[start..<end])
                    start = end
                }
            }
        }
    }
}

/// A growing JSON text, written byte by byte: strings escaped as `JSONSerialization` does
/// (with `.withoutEscapingSlashes`: non-ASCII as UTF-8, control characters escaped).
struct JSONBytes {
    var bytes: [UInt8] = []

    /// An object with the bag's properties that `keys` selects (nil: all), `id` always, in key
    /// order; `extra` writes more members before the closing brace.
    mutating func object(_ bag: [String: Any], keys: [String]?, extra: (inout JSONBytes) -> Void = { _ in }) {
        raw("{")
        var first = true
        for key in bag.keys.sorted() where keys == nil || key == "id" || keys!.contains(key) {
            if !first { raw(",") }
            first = false
            string(key)
            raw(":")
            value(bag[key]!)
        }
        extra(&self)
        raw("}")
    }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            bytes.append(0x22)
            var clean = true
            for byte in utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                clean = false
                break
            }
            if clean {
                bytes.append(contentsOf: utf8)
            } else {
                for byte in utf8 { escape(byte) }
            }
            bytes.append(0x22)
        }
    }

    private mutating func escape(_ byte: UInt8) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        switch byte {
        case 0x22: bytes += [0x5C, 0x22]
        case 0x5C: bytes += [0x5C, 0x5C]
        case 0x0A: bytes += [0x5C, 0x6E]
        case 0x0D: bytes += [0x5C, 0x72]
        case 0x09: bytes += [0x5C, 0x74]
        case 0x08: bytes += [0x5C, 0x62]
        case 0x0C: bytes += [0x5C, 0x66]
        case ..<0x20: bytes += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        default: bytes.append(byte)
        }
    }

    /// Any value a tenant bag holds: strings, numbers, booleans, null, arrays and objects (keys sorted).
    mutating func value(_ value: Any) {
        let type = Swift.type(of: value)
        if let text = value as? String {
            string(text)
        } else if value is NSNull {
            raw("null")
        } else if type == Bool.self {
            raw((value as! Bool) ? "true" : "false")
        } else if type == Int.self {
            raw(String(value as! Int))
        } else if type is NSNumber.Type, let number = value as? NSNumber, !["d", "f"].contains(String(cString: number.objCType)) {
            // Numbers and booleans parsed by JSONSerialization (admin API bodies).
            if String(cString: number.objCType) == "c" {
                raw(number.boolValue ? "true" : "false")
            } else {
                raw(number.stringValue)
            }
        } else if let object = value as? [String: Any] {
            raw("{")
            for (index, key) in object.keys.sorted().enumerated() {
                if index > 0 { raw(",") }
                string(key)
                raw(":")
                self.value(object[key]!)
            }
            raw("}")
        } else if let array = value as? [Any] {
            raw("[")
            for (index, element) in array.enumerated() {
                if index > 0 { raw(",") }
                self.value(element)
            }
            raw("]")
        } else {
            // Rare leaves (floating point): as JSONSerialization writes them.
            let data = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes])) ?? Data("null".utf8)
            bytes.append(contentsOf: data)
        }
    }
}
