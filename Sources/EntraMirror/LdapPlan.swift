import Foundation
import EntraConfig
import EntraDirectory

/// What an LDAP target should hold: the profile's scoped mirror mapped to `inetOrgPerson` users and
/// `groupOfNames` groups (Schema=inetorgperson), or to Active Directory's `user` and `group`
/// (Schema=activedirectory: `init(activeDirectory:target:)` and `ActiveDirectory` in LdapPlan+ActiveDirectory.swift).
///
/// | Entra | inetorgperson | activedirectory |
/// |---|---|---|
/// | user id / group id | `entraObjectId` (auxiliary class `entraSyncObject`, packaging/ldap/entra-sync.ldif) | `msDS-cloudExtensionAttribute1` |
/// | userPrincipalName | `uid` (the RDN: `uid=UPN,UsersDN`; with `UserRDN=cn`, `cn=CN,UsersDN`) | `userPrincipalName`; `sAMAccountName` from its local part (unique, 20 characters, kept once acknowledged) |
/// | displayName | `cn` (else the UPN), `displayName` | the RDN `CN=NAME` (else the UPN; 64 characters; a second of one name `NAME (SAMACCOUNTNAME)`), `displayName` |
/// | surname | `sn` (else displayName, else the UPN: inetOrgPerson requires it) | `sn` when set |
/// | givenName, mail, jobTitle, employeeId | `givenName`, `mail`, `title`, `employeeNumber` | `givenName`, `mail`, `title`, `employeeID` |
/// | accountEnabled | `entraAccountEnabled` (TRUE/FALSE) | `userAccountControl` 512 / 514 (adopted accounts: ACCOUNTDISABLE managed, PASSWD_NOTREQD cleared, other flags kept) |
/// | password | none | a random one nobody knows, set at the add (`unicodePwd`), never stored |
/// | any field (`Attribute.NAME=FIELD`) | the user rows above remapped, more added, or left unmanaged (`LdapAttributeMap`) | not available (a config error) |
/// | group displayName | `cn` (the RDN: `cn=NAME,GroupsDN`), description → `description` | the same as `CN=`, `sAMAccountName` from the name, global security `groupType` |
/// | members (users and nested groups in scope) | `member` DNs; an empty group holds its own DN (groupOfNames needs one) | `member` DNs; an empty group stays empty |
/// | POSIX id (`Posix=yes`, from `MirrorState.posixIDs`) | users: `posixAccount` `uidNumber`, `gidNumber` (the same), `homeDirectory` (`HomeDirectory=`), `loginShell`; groups: `posixGroup` `gidNumber` | users: `uidNumber`, `gidNumber`, `unixHomeDirectory`, `loginShell`; groups: `gidNumber` (no class change) |
public struct LdapDesired: Sendable {
    public var users: [String: LdapEntryLink] = [:]
    /// Users in scope that cannot be provisioned, with why.
    public var unsendable: [String: String] = [:]
    public var groups: [String: LdapEntryLink] = [:]
    /// The directory kind these entries are written for (`Schema=`).
    public var dialect = LdapDialect.inetOrgPerson
    /// Active Directory: object id → the sAMAccountName it derives from, and → its name (the cn
    /// before `settled` tells entries of one name apart).
    var accountNameBases: [String: String] = [:]
    var names: [String: String] = [:]
    /// The mirror's member lists, and the ids a group may list (the users provisioned, the groups in
    /// scope): a group's members are read from these when needed (`members(of:)`), not held for
    /// every group at once, so a large tenant's million memberships are not copied. Soft-deleted
    /// users are not provisioned, so their hidden memberships are left out too.
    var memberLists: [String: [ObjectID: MemberKind]] = [:]
    var present: Set<ObjectID> = []
    /// The user attributes entra-sync writes (`Attribute.NAME=`); the others an entry holds are left alone.
    public var managedUserAttributes = Self.managedAttributes(for: LdapAttributeMap())
    /// The objects this desired state was built for (`init(view:target:only:)`); nil: all of them.
    /// A plan from a partial desired state looks at these objects only (`LdapPlan`).
    public private(set) var partial: Set<String>?
    /// Groups of a partial desired state that are planned only because they list an object that
    /// changed: the ids worth comparing (the rest of their members are as the last push left them).
    var memberFocus: [String: [ObjectID]] = [:]

    public init() {}

    /// What `target` should hold (Schema=activedirectory: see `init(activeDirectory:target:)`).
    /// - Parameter only: build the entries of these objects only (an incremental plan: see
    ///   `planned(changed:view:target:state:)`); the groups' members are read from the whole scope.
    ///   Active Directory ignores it: its account names and DNs are made unique across all entries.
    /// - Parameter focus: of the groups in `only`, those to compare for these members alone
    ///   (`Planned.focus`).
    public init(view: ScopedView, target: LdapTarget, only: Set<String>? = nil, focus: [String: [ObjectID]] = [:]) {
        if target.schema == .activedirectory {
            self = LdapDesired(activeDirectory: view, target: target)
            managedUserAttributes = Set(dialect.userAttributes)
            return
        }
        managedUserAttributes = Self.managedAttributes(for: target.userAttributes)
        partial = only
        if only != nil { memberFocus = focus }
        if target.users {
            let inScope = only.map { ids in ids.compactMap { view.user($0) } } ?? view.usersInAnyOrder
            users.reserveCapacity(inScope.count)
            for user in inScope {
                guard let upn = user.userPrincipalName, !upn.isEmpty else {
                    unsendable[user.id] = "the user has no userPrincipalName"
                    continue
                }
                var attributes = Self.attributes(user, upn: upn, map: target.userAttributes)
                if target.posix, let id = view.state.posixIDs[user.id] {
                    attributes["uidnumber"] = [String(id)]
                    attributes["gidnumber"] = [String(id)]  // the user's own group, as the userdb serves it
                    attributes["homedirectory"] = [LinuxDirectory.home(target.homeDirectory, name: upn, upn: upn, uid: id, objectId: user.id)]
                    attributes["loginshell"] = [target.loginShell]
                }
                let rdn = target.userRDN.rawValue
                users[user.id] = LdapEntryLink(dn: "\(rdn)=\(LdapDN.value(attributes[rdn]?.first ?? upn)),\(target.usersDN)", attributes: LdapAttributes(attributes))
            }
        }
        guard target.groups else { return }
        readMembers(view, sendableUsers: only == nil ? nil : target.users)
        for group in only.map({ ids in ids.compactMap { view.group($0) } }) ?? view.groupsInAnyOrder {
            let name = group.displayName.flatMap { $0.isEmpty ? nil : $0 } ?? group.id
            var attributes: [String: [String]] = ["cn": [name], "entraobjectid": [group.id]]
            if let d = group.description, !d.isEmpty { attributes["description"] = [d] }
            if target.posix, let id = view.state.posixIDs[group.id] { attributes["gidnumber"] = [String(id)] }
            groups[group.id] = LdapEntryLink(dn: "cn=\(LdapDN.value(name)),\(target.groupsDN)", attributes: LdapAttributes(attributes))
        }
    }

    /// Where the groups' members are read from (`memberLists`, `present`): after the users are mapped.
    /// - Parameter sendableUsers: nil: the users mapped are all there are; otherwise whether the
    ///   scope's users that can be provisioned (those with a UPN) are present (a partial desired state).
    mutating func readMembers(_ view: ScopedView, sendableUsers: Bool? = nil) {
        memberLists = view.state.members
        switch sendableUsers {
        case nil: present = Set(users.keys.map { ObjectID($0) })
        case true?:
            present = []
            present.reserveCapacity(view.userCount)
            view.forEachUserID { id, upn in
                if let upn, !upn.isEmpty { present.insert(ObjectID(id)) }
            }
        case false?: present = []
        }
        view.forEachGroup { present.insert(ObjectID($0.id)) }
    }

    /// The members `group` should list.
    public func members(of group: String) -> LdapMembers {
        guard groups[group] != nil, let list = memberLists[group] else { return [] }
        var ids = Set<ObjectID>(minimumCapacity: list.count)
        for id in list.keys where present.contains(id) { ids.insert(id) }
        return LdapMembers(ids: ids)
    }

    /// What `group` should gain and lose from what the directory holds (`acknowledged`), sorted,
    /// without building its member set.
    public func memberChanges(of group: String, from acknowledged: LdapMembers) -> (add: [ObjectID], remove: [ObjectID]) {
        let list = groups[group] != nil ? memberLists[group] ?? [:] : [:]
        if let focus = memberFocus[group] {
            var add: [ObjectID] = []
            var remove: [ObjectID] = []
            for id in focus {
                let wanted = list[id] != nil && present.contains(id)
                if wanted != acknowledged.contains(id) {
                    if wanted { add.append(id) } else { remove.append(id) }
                }
            }
            return (add.sorted(), remove.sorted())
        }
        var add: [ObjectID] = []
        var remove: [ObjectID] = []
        var wanted = 0
        for id in list.keys where present.contains(id) {
            wanted += 1
            if !acknowledged.contains(id) { add.append(id) }
        }
        // Every wanted member held and as many held as wanted: nothing to remove (most groups).
        if add.isEmpty && wanted == acknowledged.count { return ([], []) }
        acknowledged.forEachID { id in if list[id] == nil || !present.contains(id) { remove.append(id) } }
        return (add.sorted(), remove.sorted())
    }

    /// The object classes an entry is created with.
    public static let userClasses = ["inetOrgPerson", "entraSyncObject"]
    public static let groupClasses = ["groupOfNames", "entraSyncObject"]
    /// With `Posix=yes`: users with a POSIX id add the auxiliary `posixAccount`; groups with one are
    /// `posixGroup` (structural in RFC 2307's nis schema, so instead of `groupOfNames`), their `member`
    /// DNs allowed by `entraSyncObject`.
    public static let posixUserClass = "posixAccount"
    public static let posixGroupClasses = ["posixGroup", "entraSyncObject"]

    /// The classes of an entry with these managed attributes.
    public static func classes(_ attributes: LdapAttributes, isGroup: Bool) -> [String] {
        if isGroup { return attributes["gidnumber"] == nil ? groupClasses : posixGroupClasses }
        return attributes["uidnumber"] == nil ? userClasses : userClasses + [posixUserClass]
    }
}

/// One operation a push sends, in Entra ids; the executor resolves DNs from the state as it goes.
public enum LdapOperation: Sendable, Equatable {
    case add(id: String, isGroup: Bool, LdapEntryLink)
    /// modrdn (deleteoldrdn) to `dn`; the entry keeps its id, its members and its memberships.
    case rename(id: String, isGroup: Bool, dn: String)
    /// Replace the managed attributes that differ from what the directory acknowledged.
    case modify(id: String, isGroup: Bool, attributes: LdapAttributes)
    /// Member ids as `ObjectID`s: a first load lists a million of them.
    case changeMembers(group: String, add: [ObjectID], remove: [ObjectID])
    case deleteGroup(id: String)
    /// DeprovisionMode=disable: entraAccountEnabled=FALSE (AD: userAccountControl ACCOUNTDISABLE); move: that,
    /// under DisabledDN=; delete: the entry goes.
    case deprovisionUser(id: String)

    public var objectId: String {
        switch self {
        case .add(let id, _, _), .rename(let id, _, _), .modify(let id, _, _), .deleteGroup(let id), .deprovisionUser(let id): id
        case .changeMembers(let group, _, _): group
        }
    }

    public var isDeletion: Bool {
        switch self {
        case .deprovisionUser, .deleteGroup: true
        default: false
        }
    }
}

/// The minimal operations that bring an LDAP target from what it acknowledged to what it should hold.
///
/// Order: users added, renamed, modified; then groups; then membership changes; then group
/// deletions; then users deprovisioned (members exist before they are added and leave groups
/// before they go).
public struct LdapPlan: Sendable {
    public var operations: [LdapOperation] = []

    /// - Parameter only: the objects to plan for (nil: all). What is left after a push can only be
    ///   what its plan had: planned again for those alone, not for every entry. A partial desired
    ///   state (`LdapDesired.partial`) limits the plan to its objects in any case: an object it
    ///   lacks is not one to deprovision.
    public init(desired: LdapDesired, state: LdapTargetState, mode: LdapTarget.DeprovisionMode, only: Set<String>? = nil) {
        let only = desired.partial.map { partial in only.map { $0.intersection(partial) } ?? partial } ?? only
        // Entries are walked in hash order and only the operations sorted by id: a large target
        // has 110,000 entries and few changes, and sorting every id is most of a plan's time.
        func entries(_ want: [String: LdapEntryLink], _ have: [String: LdapEntryLink], isGroup: Bool) -> [LdapOperation] {
            var ops: [(id: String, ops: [LdapOperation])] = []
            func plan(_ id: String, _ entry: LdapEntryLink) {
                guard let link = have[id] else {
                    ops.append((id, [.add(id: id, isGroup: isGroup, LdapEntry.withoutMembers(entry))]))
                    return
                }
                // Most entries are as acknowledged: one compare of the packed bytes.
                if link.dn == entry.dn && link.attributes == entry.attributes { return }
                var acknowledged = isGroup ? link.attributes : link.attributes.filter { desired.managedUserAttributes.contains($0.key) }
                var changes: [LdapOperation] = []
                if LdapDN.normalized(link.dn) != LdapDN.normalized(entry.dn) {
                    changes.append(.rename(id: id, isGroup: isGroup, dn: entry.dn))
                    acknowledged = LdapEntry.renamed(acknowledged, from: link.dn, to: entry.dn)
                }
                if acknowledged != entry.attributes { changes.append(.modify(id: id, isGroup: isGroup, attributes: entry.attributes)) }
                if !changes.isEmpty { ops.append((id, changes)) }
            }
            if let only {
                for id in only { if let entry = want[id] { plan(id, entry) } }
            } else {
                for (id, entry) in want { plan(id, entry) }
            }
            return ops.sorted { $0.id < $1.id }.flatMap(\.ops)
        }
        let users = entries(desired.users, state.users, isGroup: false)
        let groups = entries(desired.groups, state.groups, isGroup: true)
        var members: [LdapOperation] = []
        for id in desired.groups.keys where only?.contains(id) != false {
            let (add, remove) = desired.memberChanges(of: id, from: state.groups[id]?.members ?? [])
            if !add.isEmpty || !remove.isEmpty { members.append(.changeMembers(group: id, add: add, remove: remove)) }
        }
        members.sort { $0.objectId < $1.objectId }
        // With `only`, its few objects are looked up, not every acknowledged entry walked.
        let deletes = (only.map { $0.filter { state.groups[$0] != nil } } ?? Array(state.groups.keys))
            .filter { desired.groups[$0] == nil }.sorted().map { LdapOperation.deleteGroup(id: $0) }
        let deprovision = (only.map { $0.compactMap { id in state.users[id].map { (id, $0) } } } ?? state.users.map { ($0, $1) })
            .compactMap { id, link in desired.users[id] == nil && (mode == .delete || !desired.dialect.isDisabled(link)) ? id : nil }
            .sorted().map { LdapOperation.deprovisionUser(id: $0) }
        operations = users + groups + members + deletes + deprovision
    }

    public var deletions: Int { operations.reduce(0) { $0 + ($1.isDeletion ? 1 : 0) } }
}

/// Attribute-level differences: what a modify must replace.
public enum LdapEntry {
    /// The attributes of `to` that differ from `from`, and those `from` has that `to` lacks (as an
    /// empty list: remove), sorted by name.
    public static func changes(from: LdapAttributes, to: LdapAttributes) -> [(name: String, values: [String])] {
        let (from, to) = (from.dictionary, to.dictionary)
        var changes: [(String, [String])] = []
        for name in Set(from.keys).union(to.keys).sorted() where from[name] != to[name] {
            changes.append((name, to[name] ?? []))
        }
        return changes
    }

    /// The attributes after a modrdn from `old` to `dn` (deleteoldrdn): the old RDN's value is gone
    /// (with `UserRDN=` changed, another attribute than the new RDN's), the RDN attribute holds the new value.
    public static func renamed(_ attributes: LdapAttributes, from old: String, to dn: String) -> LdapAttributes {
        guard let rdn = LdapDN.rdn(of: dn) else { return attributes }
        var result = attributes
        if let before = LdapDN.rdn(of: old), before.0 != rdn.0, let values = result[before.0] {
            let left = values.filter { $0.lowercased() != before.1.lowercased() }
            result[before.0] = left.isEmpty ? nil : left
        }
        result[rdn.0] = [rdn.1]
        return result
    }

    static func withoutMembers(_ entry: LdapEntryLink) -> LdapEntryLink {
        LdapEntryLink(dn: entry.dn, attributes: entry.attributes)
    }
}

/// DN text (RFC 4514), enough for the DNs entra-sync builds.
public enum LdapDN {
    /// An attribute value inside a DN: special characters escaped with a backslash.
    public static func value(_ value: String) -> String {
        // Most names need no escape: checked on the bytes, without splitting into characters.
        let utf8 = value.utf8
        if let first = utf8.first, let last = utf8.last, first != UInt8(ascii: "#"), first != UInt8(ascii: " "), last != UInt8(ascii: " "),
           !utf8.contains(where: { Self.special.contains($0) }) {
            return value
        }
        var out = ""
        let characters = Array(value)
        for (i, ch) in characters.enumerated() {
            switch ch {
            case ",", "+", "\"", "\\", "<", ">", ";", "=":
                out += "\\\(ch)"
            case "#" where i == 0, " " where i == 0 || i == characters.count - 1:
                out += "\\\(ch)"
            default:
                out.append(ch)
            }
        }
        return out
    }

    private static let special: Set<UInt8> = Set(",+\"\\<>;=".utf8)

    /// The first RDN's attribute (lowercased) and unescaped value.
    public static func rdn(of dn: String) -> (String, String)? {
        guard let equals = dn.firstIndex(of: "=") else { return nil }
        let name = dn[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        var value = ""
        var escaped = false
        for ch in dn[dn.index(after: equals)...] {
            if escaped {
                value.append(ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "," || ch == "+" {
                break
            } else {
                value.append(ch)
            }
        }
        return (name, value)
    }

    /// The first RDN as written in `dn` (escapes kept), and the parent DN.
    public static func split(_ dn: String) -> (rdn: String, parent: String) {
        var escaped = false
        for index in dn.indices {
            let ch = dn[index]
            if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "," {
                return (String(dn[..<index]), String(dn[dn.index(after: index)...]).trimmingCharacters(in: .whitespaces))
            }
        }
        return (dn, "")
    }

    /// For comparing DNs entra-sync wrote: attribute names and values compared without case (the
    /// matching rules of uid and cn ignore case), spaces after commas ignored.
    public static func normalized(_ dn: String) -> String {
        dn.lowercased().replacingOccurrences(of: ", ", with: ",")
    }
}
