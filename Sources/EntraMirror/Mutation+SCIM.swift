import EntraJournal

/// Journal record types of SCIM target state; part of the on-disk format, next to `MirrorRecordType`.
enum ScimRecordType: UInt8, CaseIterable {
    case reset = 13
    case adopted = 14
    case user = 15
    case group = 16
    case members = 17
    case failure = 18
    case pushed = 19
    case sending = 20
}

extension ScimMutation {
    public var record: JournalRecord {
        var w = ByteWriter()
        let type: ScimRecordType
        w.string(target)
        switch self {
        case .reset(_, let endpoint):
            type = .reset
            w.string(endpoint)
        case .adopted:
            type = .adopted
        case .user(_, let id, let link):
            type = .user
            w.string(id)
            w.byte(link == nil ? 0 : 1)
            if let link {
                w.string(link.scimId)
                w.optional(link.etag)
                let a = link.pushed
                w.string(a.userName)
                w.optional(a.displayName)
                w.optional(a.givenName)
                w.optional(a.familyName)
                w.optional(a.email)
                w.byte(a.active ? 1 : 0)
            }
        case .group(_, let id, let scimId, let etag, let displayName):
            type = .group
            w.string(id)
            w.optional(scimId)
            w.optional(etag)
            w.string(displayName)
        case .members(_, let group, let added, let removed, let etag):
            type = .members
            w.string(group)
            w.optional(etag)
            w.varint(UInt64(added.count))
            for id in added { w.string(id) }
            w.varint(UInt64(removed.count))
            for id in removed { w.string(id) }
        case .failure(_, let id, let failure):
            type = .failure
            w.string(id)
            w.byte(failure == nil ? 0 : 1)
            if let failure { w.pushFailure(failure) }
        case .sending(_, let ids):
            type = .sending
            w.varint(UInt64(ids.count))
            for id in ids { w.string(id) }
        case .pushed(_, let s):
            type = .pushed
            w.pushSummary(s)
        }
        return JournalRecord(type: type.rawValue, payload: w.bytes)
    }

    init(type: ScimRecordType, payload: [UInt8]) throws(ByteReader.Malformed) {
        var r = ByteReader(payload)
        let target = try r.string()
        switch type {
        case .reset:
            self = .reset(target: target, endpoint: try r.string())
        case .adopted:
            self = .adopted(target: target)
        case .user:
            let id = try r.string()
            guard try r.byte() == 1 else {
                self = .user(target: target, id: id, link: nil)
                return
            }
            let scimId = try r.string()
            let etag = try r.optional()
            let attributes = ScimUserAttributes(userName: try r.string(), displayName: try r.optional(), givenName: try r.optional(),
                                                familyName: try r.optional(), email: try r.optional(), active: try r.byte() == 1)
            self = .user(target: target, id: id, link: ScimUserLink(scimId: scimId, etag: etag, pushed: attributes))
        case .group:
            self = .group(target: target, id: try r.string(), scimId: try r.optional(), etag: try r.optional(), displayName: try r.string())
        case .members:
            let group = try r.string()
            let etag = try r.optional()
            var lists: [[String]] = []
            for _ in 0..<2 {
                let count = try r.varint()
                guard count <= UInt64(payload.count) else { throw ByteReader.Malformed(offset: r.offset, what: "member count \(count)") }
                var ids: [String] = []
                ids.reserveCapacity(Int(count))
                for _ in 0..<count { ids.append(try r.string()) }
                lists.append(ids)
            }
            self = .members(target: target, group: group, added: lists[0], removed: lists[1], etag: etag)
        case .failure:
            let id = try r.string()
            guard try r.byte() == 1 else {
                self = .failure(target: target, id: id, nil)
                return
            }
            self = .failure(target: target, id: id, try r.pushFailure(objectId: id))
        case .sending:
            let count = try r.varint()
            guard count <= UInt64(payload.count) else { throw ByteReader.Malformed(offset: r.offset, what: "id count \(count)") }
            var ids: [String] = []
            for _ in 0..<count { ids.append(try r.string()) }
            self = .sending(target: target, ids: ids)
        case .pushed:
            self = .pushed(target: target, try r.pushSummary())
        }
    }
}

extension ByteWriter {
    mutating func optional(_ value: String?) {
        byte(value == nil ? 0 : 1)
        if let value { string(value) }
    }
}

extension ByteReader {
    mutating func optional() throws(Malformed) -> String? {
        try byte() == 1 ? try string() : nil
    }
}
