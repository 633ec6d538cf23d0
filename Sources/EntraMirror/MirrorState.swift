import EntraDirectory
import EntraGraph
import EntraJournal

/// The local mirror of one tenant as of its last committed run.
///
/// Built only by applying `Mutation`s, both live after a commit and when replaying the journal,
/// so the in-memory mirror and the journal cannot drift apart.
public struct MirrorState: Sendable {
    public var users: [String: DirectoryUser] = [:]
    /// Soft-deleted users: out of the mirror, but their memberships are kept (hidden) for a restore.
    public var softDeletedUsers: Set<ObjectID> = []
    public var groups: [String: DirectoryGroup] = [:]
    /// Direct members per group id.
    public var members: [String: [ObjectID: MemberKind]] = [:]
    public var usersDeltaLink: String?
    public var groupsDeltaLink: String?
    /// The most recent runs, oldest first.
    public var history: [RunSummary] = []
    /// Change sets not yet accepted by the OnChange program, oldest first.
    public var pendingChanges: [(runId: String, lines: [UInt8])] = []
    /// Soft-deleted users still shown as deleted (SoftDeleteGrace=), with when they were deleted.
    public var recentlyDeleted: [String: (user: DirectoryUser, at: Double)] = [:]
    /// What each SCIM target acknowledged, by target name.
    public var scim: [String: ScimTargetState] = [:]
    /// What each LDAP target acknowledged, by target name.
    public var ldap: [String: LdapTargetState] = [:]
    /// The POSIX ids handed out to users and groups (never changed, never reused).
    public var posixIDs = PosixIDs()
    /// When the last successful run was committed (its record's time; `runEnded` later moves the
    /// history's `finished` to the end of its exports). A push that started after it saw the run's
    /// changes. Replayed from a snapshot it is the run's end, a little later: at most one push
    /// more at the next start.
    public var lastSuccessCommitted: Double?

    public static let historyLimit = 100

    public init() {}

    public mutating func apply(_ mutation: Mutation) {
        switch mutation {
        case .upsertUser(let user):
            users[user.id] = user
            if !softDeletedUsers.isEmpty { softDeletedUsers.remove(ObjectID(user.id)) }
            recentlyDeleted[user.id] = nil
        case .removeUser(let id):
            users[id] = nil
            if !softDeletedUsers.isEmpty { softDeletedUsers.remove(ObjectID(id)) }
            recentlyDeleted[id] = nil
        case .keepDeleted(let user, let at):
            recentlyDeleted[user.id] = (user, at)
        case .softDeleteUser(let id):
            users[id] = nil
            softDeletedUsers.insert(ObjectID(id))
        case .upsertGroup(let group):
            groups[group.id] = group
        case .removeGroup(let id):
            groups[id] = nil
            members[id] = nil
        case .addMember(let group, let member, let kind):
            members[group, default: [:]][member] = kind
        case .addMembers(let group, let ids, let kinds):
            var list = members.removeValue(forKey: group) ?? [:]
            list.reserveCapacity(list.count + ids.count)
            for (member, kind) in zip(ids, kinds) { list[member] = kind }
            if !list.isEmpty { members[group] = list }
        case .removeMember(let group, let member):
            if var list = members[group] {
                list[member] = nil
                members[group] = list.isEmpty ? nil : list
            }
        case .setDeltaLink(let kind, let link):
            switch kind {
            case .users: usersDeltaLink = link
            case .groups: groupsDeltaLink = link
            }
        case .hookPending(let runId, let lines):
            pendingChanges.append((runId, lines))
        case .hookDelivered(let runId):
            if let index = pendingChanges.firstIndex(where: { $0.runId == runId }) {
                pendingChanges.removeFirst(index + 1)
            }
        case .recordRun(let summary):
            history.append(summary)
            if summary.result == .succeeded { lastSuccessCommitted = summary.finished }
            if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
        case .runEnded(let runId, let at):
            if let index = history.lastIndex(where: { $0.runId == runId }) { history[index].finished = at }
        case .scim(let change):
            scim[change.target, default: ScimTargetState()].apply(change)
        case .ldap(let change):
            ldap[change.target, default: LdapTargetState()].apply(change)
        case .posixID(let object, let id):
            posixIDs.apply(object: object, id: id)
        case .addMemberRefs:
            assertionFailure("snapshot member references are resolved by MirrorReplay")
        case .capacity(let userCount, let groupCount, let memberGroups):
            // A hint read from disk: damaged bytes must not make us allocate the machine's memory.
            users.reserveCapacity(min(userCount, Self.maxReservation))
            groups.reserveCapacity(min(groupCount, Self.maxReservation))
            members.reserveCapacity(min(memberGroups, Self.maxReservation))
        }
    }

    /// The mirror without what push targets acknowledged, for a consumer that reads the directory
    /// while a push runs: a copy that shares a target's state would make the store copy that state
    /// (a hundred thousand entries) on the push's next write.
    public var withoutPushState: MirrorState {
        var copy = self
        copy.scim = [:]
        copy.ldap = [:]
        return copy
    }

    /// Nothing mirrored and no delta links: a first sync (the history and SCIM state may hold anything).
    public var isEmpty: Bool {
        users.isEmpty && groups.isEmpty && members.isEmpty && softDeletedUsers.isEmpty && recentlyDeleted.isEmpty
            && usersDeltaLink == nil && groupsDeltaLink == nil
    }

    /// Grows the users and groups tables once before a run adds many, instead of doubling (and
    /// holding old and new tables at once) as they fill.
    /// The most entries a snapshot's capacity record reserves at once (twice the XL benchmark tenant);
    /// a larger tenant's tables grow as they fill.
    static let maxReservation = 1 << 21

    public mutating func reserveCapacity(addingUsers newUsers: Int, groups newGroups: Int) {
        if newUsers > 0 { users.reserveCapacity(users.count + newUsers) }
        if newGroups > 0 {
            groups.reserveCapacity(groups.count + newGroups)
            members.reserveCapacity(members.count + newGroups)
        }
    }

    /// The direct members of a group that outputs show: soft-deleted users are hidden.
    public func visibleMembers(of group: String) -> [ObjectID] {
        guard let list = members[group] else { return [] }
        if softDeletedUsers.isEmpty { return Array(list.keys) }
        return list.keys.filter { !softDeletedUsers.contains($0) }
    }

    /// Memberships as outputs show them.
    public var visibleMembershipCount: Int {
        var count = 0
        for (_, list) in members {
            if softDeletedUsers.isEmpty {
                count += list.count
            } else {
                for id in list.keys where !softDeletedUsers.contains(id) { count += 1 }
            }
        }
        return count
    }

    public var lastSuccess: RunSummary? { history.last { $0.result == .succeeded } }

    /// The whole state as mutations: what a snapshot holds.
    public func snapshotMutations(_ emit: (Mutation) throws -> Void) rethrows {
        try emit(.capacity(users: users.count, groups: groups.count, memberGroups: members.count))
        try emit(.setDeltaLink(.users, usersDeltaLink))
        try emit(.setDeltaLink(.groups, groupsDeltaLink))
        // Members that are users are written as the index of their upsertUser record.
        var userIndex: [ObjectID: Int] = [:]
        userIndex.reserveCapacity(users.count)
        for (id, user) in users {
            userIndex[ObjectID(id)] = userIndex.count
            try emit(.upsertUser(user))
        }
        for id in softDeletedUsers { try emit(.softDeleteUser(id.description)) }
        for (_, kept) in recentlyDeleted { try emit(.keepDeleted(kept.user, at: kept.at)) }
        for group in groups.values { try emit(.upsertGroup(group)) }
        for (group, list) in members {
            // One record per group (per 50,000 members), not per membership.
            var refs: [MemberRef] = []
            var kinds: [MemberKind] = []
            for (member, kind) in list {
                refs.append(kind == .user ? userIndex[member].map(MemberRef.user) ?? .id(member) : .id(member))
                kinds.append(kind)
                if refs.count == 50_000 {
                    try emit(.addMemberRefs(group: group, members: refs, kinds: kinds))
                    refs.removeAll(keepingCapacity: true)
                    kinds.removeAll(keepingCapacity: true)
                }
            }
            if !refs.isEmpty { try emit(.addMemberRefs(group: group, members: refs, kinds: kinds)) }
        }
        for run in history { try emit(.recordRun(run)) }
        for pending in pendingChanges { try emit(.hookPending(runId: pending.runId, lines: pending.lines)) }
        for (target, state) in scim { try state.snapshot(target: target) { try emit(.scim($0)) } }
        for (target, state) in ldap { try state.snapshot(target: target) { try emit(.ldap($0)) } }
        for (object, id) in posixIDs.byObject { try emit(.posixID(object: object, id: id)) }
    }
}

/// Rebuilds a mirror from journal records, resolving the member references of snapshots
/// (`addMemberRefs`) to the ids of the users the snapshot upserted: those memberships share the
/// user's id string.
public struct MirrorReplay {
    public var state = MirrorState()
    public init() {}
    /// The ids of the users upserted since the last snapshot began (its `capacity` record).
    private var snapshotUsers: [ObjectID] = []

    public mutating func apply(_ record: JournalRecord) throws(ByteReader.Malformed) {
        let mutation = try Mutation(record: record)
        switch mutation {
        case .capacity(let users, _, _):
            snapshotUsers = []
            snapshotUsers.reserveCapacity(min(users, MirrorState.maxReservation))
        case .upsertUser(let user):
            snapshotUsers.append(ObjectID(user.id))
        case .recordRun:
            // A snapshot's history follows its members; runs after it never refer back.
            snapshotUsers = []
        case .addMemberRefs(let group, let refs, let kinds):
            var ids: [ObjectID] = []
            ids.reserveCapacity(refs.count)
            for ref in refs {
                switch ref {
                case .user(let index):
                    guard index < snapshotUsers.count else {
                        throw ByteReader.Malformed(offset: 0, what: "member reference \(index) beyond the snapshot's \(snapshotUsers.count) users")
                    }
                    ids.append(snapshotUsers[index])
                case .id(let id):
                    ids.append(id)
                }
            }
            state.apply(.addMembers(group: group, members: ids, kinds: kinds))
            return
        default:
            break
        }
        state.apply(mutation)
    }
}
