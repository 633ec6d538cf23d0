import EntraDirectory
import EntraGraph
import EntraJournal

/// One change to a profile's mirror. A committed run is a list of these in the journal;
/// replaying them in order rebuilds the mirror.
public enum Mutation: Sendable, Equatable {
    // The large payloads are boxed (`indirect`): a full sync plans a million mutations, most of
    // them small member changes, and an unboxed enum is as large as its largest case.
    indirect case upsertUser(DirectoryUser)
    /// Permanent removal (also of a soft-deleted user).
    case removeUser(String)
    /// Soft delete: the user leaves the mirror, its memberships are kept hidden until restore or removal.
    case softDeleteUser(String)
    indirect case upsertGroup(DirectoryGroup)
    /// Removes the group and its member list.
    case removeGroup(String)
    case addMember(group: String, member: ObjectID, kind: MemberKind)
    /// Adds every listed member (`kinds` runs parallel to `members`): a snapshot holds one of these
    /// per group instead of one `addMember` per membership, which makes restarts read much less.
    indirect case addMembers(group: String, members: [ObjectID], kinds: [MemberKind])
    case removeMember(group: String, member: ObjectID)
    case setDeltaLink(DeltaKind, String?)
    indirect case recordRun(RunSummary)
    /// When a recorded run ended: after its exports, later than the commit its record is part of.
    case runEnded(runId: String, at: Double)
    /// A change set waiting for the OnChange program (JSON lines), journaled with its run.
    case hookPending(runId: String, lines: [UInt8])
    /// The OnChange program accepted every change set up to and including this run.
    case hookDelivered(runId: String)
    /// A soft-deleted user kept visible as deleted (SoftDeleteGrace=) since `at`.
    indirect case keepDeleted(DirectoryUser, at: Double)
    /// A SCIM target acknowledged something (record types 13–19).
    indirect case scim(ScimMutation)
    /// An LDAP target acknowledged something (record types 60–65).
    indirect case ldap(LdapMutation)
    /// How many users, groups and groups with members the mirror holds: the first record of a
    /// snapshot, so replay sizes its dictionaries once instead of growing (and rehashing) them.
    /// Changes nothing the mirror shows.
    case capacity(users: Int, groups: Int, memberGroups: Int)
    /// `addMembers` as a snapshot writes it: a member that is a mirrored user is the index of its
    /// `upsertUser` record in the snapshot (a varint instead of 36 characters), so replay takes
    /// the user's id string instead of decoding, allocating and hashing a copy per membership.
    /// Only `MirrorReplay` resolves it.
    indirect case addMemberRefs(group: String, members: [MemberRef], kinds: [MemberKind])
}

/// A member in an `addMemberRefs` record.
public enum MemberRef: Sendable, Equatable {
    /// The n-th user (from 0) the snapshot upserts.
    case user(Int)
    case id(ObjectID)
}

/// Journal record types of the mirror. Values are part of the on-disk format: never reuse one.
enum MirrorRecordType: UInt8, CaseIterable {
    case upsertUser = 1
    case removeUser = 2
    case softDeleteUser = 3
    case upsertGroup = 4
    case removeGroup = 5
    case addMember = 6
    case removeMember = 7
    case setDeltaLink = 8
    case recordRun = 9
    case hookPending = 10
    case hookDelivered = 11
    case keepDeleted = 12
    // 13–20 are SCIM's (`ScimRecordType`), 60–69 LDAP's (`LdapRecordType`).
    case runEnded = 28
    case addMembers = 30
    case capacity = 31
    case addMemberRefs = 32
}

extension Mutation {
    public var record: JournalRecord {
        if case .scim(let scim) = self { return scim.record }
        if case .ldap(let ldap) = self { return ldap.record }
        var w = ByteWriter()
        let type: MirrorRecordType
        switch self {
        case .upsertUser(let user):
            type = .upsertUser
            user.encode(into: &w)
        case .removeUser(let id):
            type = .removeUser
            w.string(id)
        case .softDeleteUser(let id):
            type = .softDeleteUser
            w.string(id)
        case .upsertGroup(let group):
            type = .upsertGroup
            group.encode(into: &w)
        case .removeGroup(let id):
            type = .removeGroup
            w.string(id)
        case .addMember(let group, let member, let kind):
            type = .addMember
            w.string(group)
            w.objectID(member)
            w.byte(kind.rawValue)
        case .addMembers(let group, let members, let kinds):
            type = .addMembers
            w.string(group)
            w.varint(UInt64(members.count))
            for (member, kind) in zip(members, kinds) {
                w.objectID(member)
                w.byte(kind.rawValue)
            }
        case .removeMember(let group, let member):
            type = .removeMember
            w.string(group)
            w.objectID(member)
        case .setDeltaLink(let kind, let link):
            type = .setDeltaLink
            w.byte(kind == .users ? 1 : 2)
            w.string(link ?? "")
        case .recordRun(let summary):
            type = .recordRun
            summary.encode(into: &w)
        case .hookPending(let runId, let lines):
            type = .hookPending
            w.string(runId)
            w.varint(UInt64(lines.count))
            w.bytes(lines)
        case .hookDelivered(let runId):
            type = .hookDelivered
            w.string(runId)
        case .runEnded(let runId, let at):
            type = .runEnded
            w.string(runId)
            w.double(at)
        case .keepDeleted(let user, let at):
            type = .keepDeleted
            user.encode(into: &w)
            w.double(at)
        case .capacity(let users, let groups, let memberGroups):
            type = .capacity
            w.varint(UInt64(users))
            w.varint(UInt64(groups))
            w.varint(UInt64(memberGroups))
        case .addMemberRefs(let group, let members, let kinds):
            type = .addMemberRefs
            w.string(group)
            w.varint(UInt64(members.count))
            for (member, kind) in zip(members, kinds) {
                switch member {
                case .user(let index): w.varint(UInt64(index) << 1 | 1)
                case .id(let id): w.byte(0); w.objectID(id)
                }
                w.byte(kind.rawValue)
            }
        case .scim, .ldap:
            preconditionFailure("encoded above")
        }
        return JournalRecord(type: type.rawValue, payload: w.bytes)
    }

    /// Decodes a journal record; an unknown type or a malformed payload is an error naming both.
    init(record: JournalRecord) throws(ByteReader.Malformed) {
        if let scimType = ScimRecordType(rawValue: record.type) {
            self = .scim(try ScimMutation(type: scimType, payload: record.payload))
            return
        }
        if let ldapType = LdapRecordType(rawValue: record.type) {
            self = .ldap(try LdapMutation(type: ldapType, payload: record.payload))
            return
        }
        guard let type = MirrorRecordType(rawValue: record.type) else {
            throw ByteReader.Malformed(offset: 0, what: "unknown record type \(record.type)")
        }
        var r = ByteReader(record.payload)
        switch type {
        case .upsertUser: self = .upsertUser(try DirectoryUser.decode(from: &r))
        case .removeUser: self = .removeUser(try r.string())
        case .softDeleteUser: self = .softDeleteUser(try r.string())
        case .upsertGroup: self = .upsertGroup(try DirectoryGroup.decode(from: &r))
        case .removeGroup: self = .removeGroup(try r.string())
        case .addMember:
            let group = try r.string()
            let member = try r.objectID()
            self = .addMember(group: group, member: member, kind: MemberKind(rawValue: try r.byte()) ?? .other)
        case .addMembers:
            let group = try r.string()
            let count = try r.varint()
            // Each member takes at least two bytes: a larger count is damage, not a reason to allocate.
            guard count <= UInt64(record.payload.count / 2) else { throw ByteReader.Malformed(offset: r.offset, what: "member count \(count)") }
            var members: [ObjectID] = []
            var kinds: [MemberKind] = []
            members.reserveCapacity(Int(count))
            kinds.reserveCapacity(Int(count))
            for _ in 0..<count {
                members.append(try r.objectID())
                kinds.append(MemberKind(rawValue: try r.byte()) ?? .other)
            }
            self = .addMembers(group: group, members: members, kinds: kinds)
        case .removeMember:
            let group = try r.string()
            self = .removeMember(group: group, member: try r.objectID())
        case .setDeltaLink:
            let kind: DeltaKind = try r.byte() == 1 ? .users : .groups
            let link = try r.string()
            self = .setDeltaLink(kind, link.isEmpty ? nil : link)
        case .recordRun:
            self = .recordRun(try RunSummary.decode(from: &r))
        case .hookPending:
            let runId = try r.string()
            let length = try r.varint()
            // A length beyond the record is damage; converting it to Int would trap.
            guard length <= UInt64(record.payload.count) else { throw ByteReader.Malformed(offset: r.offset, what: "change set length \(length)") }
            self = .hookPending(runId: runId, lines: try r.bytes(count: Int(length)))
        case .hookDelivered:
            self = .hookDelivered(runId: try r.string())
        case .runEnded:
            let runId = try r.string()
            self = .runEnded(runId: runId, at: try r.double())
        case .keepDeleted:
            let user = try DirectoryUser.decode(from: &r)
            self = .keepDeleted(user, at: try r.double())
        case .capacity:
            // Only a hint: a count beyond what any tenant holds is damage, not a reason to allocate.
            func count() throws(ByteReader.Malformed) -> Int {
                let value = try r.varint()
                guard value <= 1 << 28 else { throw ByteReader.Malformed(offset: r.offset, what: "capacity \(value)") }
                return Int(value)
            }
            self = .capacity(users: try count(), groups: try count(), memberGroups: try count())
        case .addMemberRefs:
            let group = try r.string()
            let count = try r.varint()
            guard count <= UInt64(record.payload.count / 2) else { throw ByteReader.Malformed(offset: r.offset, what: "member count \(count)") }
            var members: [MemberRef] = []
            var kinds: [MemberKind] = []
            members.reserveCapacity(Int(count))
            kinds.reserveCapacity(Int(count))
            for _ in 0..<count {
                let tag = try r.varint()
                if tag & 1 == 1 {
                    guard tag >> 1 <= 1 << 28 else { throw ByteReader.Malformed(offset: r.offset, what: "member reference \(tag >> 1)") }
                    members.append(.user(Int(tag >> 1)))
                } else if tag == 0 {
                    members.append(.id(try r.objectID()))
                } else {
                    throw ByteReader.Malformed(offset: r.offset, what: "member tag \(tag)")
                }
                kinds.append(MemberKind(rawValue: try r.byte()) ?? .other)
            }
            self = .addMemberRefs(group: group, members: members, kinds: kinds)
        }
    }
}

extension DirectoryUser {
    func encode(into w: inout ByteWriter) {
        let strings = [userPrincipalName, displayName, givenName, surname, mail, jobTitle, department,
                       employeeId, mailNickname, onPremisesImmutableId]
        var present: UInt64 = 0
        for (i, s) in strings.enumerated() where s != nil { present |= 1 << UInt64(i) }
        if accountEnabled != nil { present |= 1 << 10 }
        if accountEnabled == true { present |= 1 << 11 }
        if assignedLicenses != nil { present |= 1 << 12 }
        w.string(id)
        w.varint(present)
        for s in strings { if let s { w.string(s) } }
        if let licenses = assignedLicenses {
            w.varint(UInt64(licenses.count))
            for sku in licenses { w.string(sku) }
        }
    }

    static func decode(from r: inout ByteReader) throws(ByteReader.Malformed) -> DirectoryUser {
        let id = try r.string()
        let present = try r.varint()
        // Read in place (arguments are evaluated left to right): no array per user on replay.
        func field(_ i: UInt64) throws(ByteReader.Malformed) -> String? { present & (1 << i) != 0 ? try r.string() : nil }
        var user = DirectoryUser(id: id, userPrincipalName: try field(0), displayName: try field(1), givenName: try field(2),
                                 surname: try field(3), mail: try field(4), jobTitle: try field(5), department: try field(6),
                                 employeeId: try field(7), mailNickname: try field(8), onPremisesImmutableId: try field(9))
        if present & (1 << 10) != 0 { user.accountEnabled = present & (1 << 11) != 0 }
        if present & (1 << 12) != 0 {
            let count = try r.varint()
            guard count < 10_000 else { throw ByteReader.Malformed(offset: r.offset, what: "license count \(count)") }
            var licenses: [String] = []
            for _ in 0..<count { licenses.append(try r.string()) }
            user.assignedLicenses = licenses
        }
        return user
    }
}

extension DirectoryGroup {
    func encode(into w: inout ByteWriter) {
        let strings = [displayName, description, mail, mailNickname]
        var present: UInt64 = 0
        for (i, s) in strings.enumerated() where s != nil { present |= 1 << UInt64(i) }
        if mailEnabled != nil { present |= 1 << 4 }
        if mailEnabled == true { present |= 1 << 5 }
        if securityEnabled != nil { present |= 1 << 6 }
        if securityEnabled == true { present |= 1 << 7 }
        if groupTypes != nil { present |= 1 << 8 }
        w.string(id)
        w.varint(present)
        for s in strings { if let s { w.string(s) } }
        if let types = groupTypes {
            w.varint(UInt64(types.count))
            for t in types { w.string(t) }
        }
    }

    static func decode(from r: inout ByteReader) throws(ByteReader.Malformed) -> DirectoryGroup {
        let id = try r.string()
        let present = try r.varint()
        var strings: [String?] = []
        for i in 0..<4 { strings.append(present & (1 << UInt64(i)) != 0 ? try r.string() : nil) }
        var group = DirectoryGroup(id: id, displayName: strings[0], description: strings[1], mail: strings[2], mailNickname: strings[3])
        if present & (1 << 4) != 0 { group.mailEnabled = present & (1 << 5) != 0 }
        if present & (1 << 6) != 0 { group.securityEnabled = present & (1 << 7) != 0 }
        if present & (1 << 8) != 0 {
            let count = try r.varint()
            guard count < 1_000 else { throw ByteReader.Malformed(offset: r.offset, what: "groupTypes count \(count)") }
            var types: [String] = []
            for _ in 0..<count { types.append(try r.string()) }
            group.groupTypes = types
        }
        return group
    }
}
