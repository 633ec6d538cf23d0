import EntraJournal

/// Journal record types of LDAP target state (60–69); part of the on-disk format, next to `MirrorRecordType`.
enum LdapRecordType: UInt8, CaseIterable {
    case reset = 60
    case adopted = 61
    case entry = 62
    case members = 63
    case failure = 64
    case pushed = 65
    case reconciled = 66
}

extension LdapMutation {
    public var record: JournalRecord {
        var w = ByteWriter()
        let type: LdapRecordType
        w.string(target)
        switch self {
        case .reset(_, let location):
            type = .reset
            w.string(location)
        case .adopted:
            type = .adopted
        case .entry(_, let id, let isGroup, let link):
            type = .entry
            w.string(id)
            w.byte((isGroup ? 2 : 0) | (link == nil ? 0 : 1))
            if let link {
                w.string(link.dn)
                let attributes = Array(link.attributes)  // in name order, decoded once
                w.varint(UInt64(attributes.count))
                for (name, values) in attributes {
                    w.string(name)
                    w.strings(values)
                }
            }
        case .members(_, let group, let added, let removed):
            type = .members
            w.string(group)
            w.strings(added)
            w.strings(removed)
        case .failure(_, let id, let failure):
            type = .failure
            w.failure(id: id, failure)
        case .pushed(_, let summary):
            type = .pushed
            w.pushSummary(summary)
        case .reconciled(_, let at):
            type = .reconciled
            w.double(at)
        }
        return JournalRecord(type: type.rawValue, payload: w.bytes)
    }

    init(type: LdapRecordType, payload: [UInt8]) throws(ByteReader.Malformed) {
        var r = ByteReader(payload)
        let target = try r.string()
        switch type {
        case .reset:
            self = .reset(target: target, location: try r.string())
        case .adopted:
            self = .adopted(target: target)
        case .entry:
            let id = try r.string()
            let flags = try r.byte()
            guard flags & 1 == 1 else {
                self = .entry(target: target, id: id, isGroup: flags & 2 != 0, link: nil)
                return
            }
            let dn = try r.string()
            let count = try r.varint()
            guard count <= UInt64(payload.count) else { throw ByteReader.Malformed(offset: r.offset, what: "attribute count \(count)") }
            var attributes: [String: [String]] = [:]
            for _ in 0..<count {
                let name = try r.string()
                attributes[name] = try r.strings(limit: payload.count)
            }
            self = .entry(target: target, id: id, isGroup: flags & 2 != 0, link: LdapEntryLink(dn: dn, attributes: LdapAttributes(attributes)))
        case .members:
            let group = try r.string()
            let added = try r.strings(limit: payload.count)
            self = .members(target: target, group: group, added: added, removed: try r.strings(limit: payload.count))
        case .failure:
            let (id, failure) = try r.failure()
            self = .failure(target: target, id: id, failure)
        case .pushed:
            self = .pushed(target: target, try r.pushSummary())
        case .reconciled:
            self = .reconciled(target: target, at: try r.double())
        }
    }
}
