import EntraDirectory

/// An entry entra-sync provisioned, as the directory acknowledged it (or, in a plan, as it should be).
public struct LdapEntryLink: Sendable, Equatable {
    public var dn: String
    /// The managed attributes (names lowercased), without `objectClass` and `member`.
    public var attributes: LdapAttributes
    /// Groups: the Entra ids of the members the directory holds.
    public var members = LdapMembers()

    public init(dn: String, attributes: LdapAttributes, members: LdapMembers = []) {
        self.dn = dn
        self.attributes = attributes
        self.members = members
    }
}

/// Everything the journal knows about one LDAP target.
public struct LdapTargetState: Sendable, Equatable {
    /// URI and managed DNs the links belong to (`LdapTarget.location`): a change starts over (adoption again).
    public var location = ""
    /// Existing entries were matched (first contact done).
    public var adopted = false
    public var users: [String: LdapEntryLink] = [:]
    public var groups: [String: LdapEntryLink] = [:]
    public var failures: [String: PushFailure] = [:]
    public var lastPush: PushSummary?
    public var lastSuccess: Double?
    /// When the directory was last read back (first contact or drift repair): `ReconcileInterval=` counts from it.
    public var lastReconcile: Double?

    public init() {}

    /// The DN of a provisioned user or group.
    public func dn(of id: String) -> String? { users[id]?.dn ?? groups[id]?.dn }
}

/// A change to an LDAP target's state, journaled as the directory acknowledges each operation.
public enum LdapMutation: Sendable, Equatable {
    /// Forget the target's links (its location changed, or first use).
    case reset(target: String, location: String)
    /// First contact done: existing entries were matched.
    case adopted(target: String)
    /// A user's or group's entry as acknowledged (a group's members are kept); nil: gone from the directory.
    case entry(target: String, id: String, isGroup: Bool, link: LdapEntryLink?)
    case members(target: String, group: String, added: [String], removed: [String])
    /// Records (or with nil clears) an object's failure.
    case failure(target: String, id: String, PushFailure?)
    case pushed(target: String, PushSummary)
    /// The directory was read back (first contact or drift repair) at this time.
    case reconciled(target: String, at: Double)

    public var target: String {
        switch self {
        case .reset(let t, _), .adopted(let t), .entry(let t, _, _, _), .members(let t, _, _, _), .failure(let t, _, _), .pushed(let t, _),
             .reconciled(let t, _):
            t
        }
    }
}

extension LdapTargetState {
    public mutating func apply(_ mutation: LdapMutation) {
        switch mutation {
        case .reset(_, let location):
            self = LdapTargetState()
            self.location = location
        case .adopted:
            adopted = true
        case .entry(_, let id, let isGroup, let link):
            if isGroup {
                var kept = link
                kept?.members = groups[id]?.members ?? []
                groups[id] = kept
            } else {
                users[id] = link
            }
            if link == nil {
                // In place: a copy of a group's member set would cost as much as the set.
                let member = ObjectID(id)
                for holder in groups.compactMap({ $0.value.members.contains(member) ? $0.key : nil }) { groups[holder]?.members.remove(id) }
            }
        case .members(_, let group, let added, let removed):
            groups[group]?.members.formUnion(added)
            groups[group]?.members.subtract(removed)
        case .failure(_, let id, let failure):
            failures[id] = failure
        case .pushed(_, let summary):
            lastPush = summary
            if summary.result == .succeeded { lastSuccess = summary.finished }
        case .reconciled(_, let at):
            lastReconcile = at
        }
    }

    /// The state as mutations (snapshots).
    public func snapshot(target: String, _ emit: (LdapMutation) throws -> Void) rethrows {
        try emit(.reset(target: target, location: location))
        if adopted { try emit(.adopted(target: target)) }
        for (id, link) in users { try emit(.entry(target: target, id: id, isGroup: false, link: link)) }
        for (id, link) in groups {
            try emit(.entry(target: target, id: id, isGroup: true, link: link))
            if !link.members.isEmpty { try emit(.members(target: target, group: id, added: link.members.sorted(), removed: [])) }
        }
        for (id, failure) in failures { try emit(.failure(target: target, id: id, failure)) }
        if let lastSuccess, lastPush?.result != .succeeded {
            try emit(.pushed(target: target, PushSummary(result: .succeeded, started: lastSuccess, finished: lastSuccess)))
        }
        if let lastPush { try emit(.pushed(target: target, lastPush)) }
        if let lastReconcile { try emit(.reconciled(target: target, at: lastReconcile)) }
    }
}
