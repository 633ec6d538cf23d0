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
            w.strings(added)
            w.strings(removed)
        case .failure(_, let id, let failure):
            type = .failure
            w.failure(id: id, failure)
        case .sending(_, let ids):
            type = .sending
            w.strings(ids)
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
            let added = try r.strings(limit: payload.count)
            self = .members(target: target, group: group, added: added, removed: try r.strings(limit: payload.count), etag: etag)
        case .failure:
            let (id, failure) = try r.failure()
            self = .failure(target: target, id: id, failure)
        case .sending:
            self = .sending(target: target, ids: try r.strings(limit: payload.count))
        case .pushed:
            self = .pushed(target: target, try r.pushSummary())
        }
    }
}
