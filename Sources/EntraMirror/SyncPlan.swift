import EntraDirectory
import EntraGraph

/// The changes one run makes to the mirror, computed from the rounds Graph returned.
///
/// Pure: it reads the current mirror and the rounds and returns mutations and counts, so it is
/// tested without any I/O. Nothing is applied until the journal has committed the mutations.
public struct SyncPlan: Sendable {
    public var mutations: [Mutation] = []
    public var usersAdded = 0, usersUpdated = 0, usersRemoved = 0
    public var groupsAdded = 0, groupsUpdated = 0, groupsRemoved = 0
    public var membershipsAdded = 0, membershipsRemoved = 0

    /// Objects and memberships added.
    public var added: Int { usersAdded + groupsAdded + membershipsAdded }
    public var updated: Int { usersUpdated + groupsUpdated }
    public var removed: Int { usersRemoved + groupsRemoved + membershipsRemoved }
    public var isEmpty: Bool { added == 0 && updated == 0 && removed == 0 }

    public init() {}

    /// Plans a run.
    /// - Parameters:
    ///   - users: the users round, or nil when users are not synced (then any mirrored users are dropped).
    ///   - groups: the groups round, or nil when groups are not synced.
    ///   - softDeleteGrace: seconds a soft-deleted user stays visible as deleted; 0 removes it at once.
    public static func make(state: MirrorState, users: DeltaRound<UserDelta>?, groups: DeltaRound<GroupDelta>?,
                            softDeleteGrace: Double = 0, now: Double = 0) -> SyncPlan {
        var plan = Self.users(state: state, round: users, softDeleteGrace: softDeleteGrace, now: now)
        plan.append(Self.groups(state: state, round: groups))
        return plan
    }

    /// The users part of a plan; nil `round`: users are not synced (mirrored ones are dropped).
    /// Independent of the groups part, so it can be planned while the groups round downloads.
    public static func users(state: MirrorState, round: DeltaRound<UserDelta>?, softDeleteGrace: Double = 0, now: Double = 0) -> SyncPlan {
        var plan = SyncPlan()
        if let round {
            plan.mutations.reserveCapacity(round.entries.count + 1)
            plan.planUsers(state: state, round: round, grace: softDeleteGrace, now: now)
        } else if !state.users.isEmpty || !state.softDeletedUsers.isEmpty || state.usersDeltaLink != nil {
            for id in state.users.keys { plan.mutations.append(.removeUser(id)); plan.usersRemoved += 1 }
            for id in state.softDeletedUsers { plan.mutations.append(.removeUser(id.description)) }
            plan.mutations.append(.setDeltaLink(.users, nil))
        }
        return plan
    }

    /// The groups and memberships part of a plan; nil `round`: groups are not synced.
    public static func groups(state: MirrorState, round: DeltaRound<GroupDelta>?) -> SyncPlan {
        var plan = SyncPlan()
        if let round {
            plan.mutations.reserveCapacity(round.entries.count + 1)
            plan.planGroups(state: state, round: round)
        } else if !state.groups.isEmpty || !state.members.isEmpty || state.groupsDeltaLink != nil {
            for id in Set(state.groups.keys).union(state.members.keys) {
                if state.groups[id] != nil { plan.groupsRemoved += 1 }
                plan.mutations.append(.removeGroup(id))
            }
            plan.mutations.append(.setDeltaLink(.groups, nil))
        }
        return plan
    }

    /// Appends `other`'s mutations and counts (planned against the same mirror).
    public mutating func append(_ other: SyncPlan) {
        mutations.append(contentsOf: other.mutations)
        usersAdded += other.usersAdded
        usersUpdated += other.usersUpdated
        usersRemoved += other.usersRemoved
        groupsAdded += other.groupsAdded
        groupsUpdated += other.groupsUpdated
        groupsRemoved += other.groupsRemoved
        membershipsAdded += other.membershipsAdded
        membershipsRemoved += other.membershipsRemoved
    }

    private mutating func planUsers(state: MirrorState, round: DeltaRound<UserDelta>, grace: Double, now: Double) {
        // The same user can appear more than once in a round: the last entry wins.
        // Indexes into the round, not copies of its (large) entries.
        var order: [String] = []
        var final: [String: Int] = [:]
        final.reserveCapacity(round.entries.count)
        for (index, entry) in round.entries.enumerated() {
            if final.updateValue(index, forKey: entry.id) == nil { order.append(entry.id) }
        }
        for id in order {
            switch round.entries[final[id]!] {
            case .upsert(let user):
                if let old = state.users[id] {
                    if old != user {
                        usersUpdated += 1
                        mutations.append(.upsertUser(user))
                    }
                } else {
                    usersAdded += 1
                    mutations.append(.upsertUser(user))
                }
            case .removed(_, .changed):
                if let user = state.users[id] {
                    usersRemoved += 1
                    mutations.append(.softDeleteUser(id))
                    if grace > 0 { mutations.append(.keepDeleted(user, at: now)) }
                } else if !state.softDeletedUsers.contains(ObjectID(id)) {
                    mutations.append(.softDeleteUser(id))
                }
            case .removed(_, .deleted):
                if state.users[id] != nil {
                    usersRemoved += 1
                    mutations.append(.removeUser(id))
                } else if state.softDeletedUsers.contains(ObjectID(id)) {
                    mutations.append(.removeUser(id))
                }
            }
        }
        if round.full {
            // Reconcile: what the full round did not return is gone.
            for id in state.users.keys where final[id] == nil {
                usersRemoved += 1
                mutations.append(.removeUser(id))
            }
            for id in state.softDeletedUsers where final[id.description] == nil {
                mutations.append(.removeUser(id.description))
            }
        }
        mutations.append(.setDeltaLink(.users, round.deltaLink))
    }

    /// Chunk size of `addMembers` mutations (one journal record each).
    static let memberChunk = 50_000

    private mutating func planGroups(state: MirrorState, round: DeltaRound<GroupDelta>) {
        // A large group arrives in several entries, each with a slice of members@delta. The entries
        // of each group are found first (indexes only); then one group at a time is merged and
        // planned, so only that group's merged members are held, not every group's at once.
        var order: [String] = []
        var entriesOf: [String: [Int]] = [:]
        entriesOf.reserveCapacity(round.entries.count)
        for (index, entry) in round.entries.enumerated() {
            if entriesOf[entry.id] == nil { order.append(entry.id) }
            entriesOf[entry.id, default: []].append(index)
        }
        for id in order {
            var group: DirectoryGroup?
            var removed = false
            // Members in order of first appearance; a later entry for the same member replaces it.
            var members: [MemberDelta] = []
            var index: [ObjectID: Int] = [:]
            for entryIndex in entriesOf[id]! {
                switch round.entries[entryIndex] {
                case .upsert(let upserted, let slice):
                    group = upserted
                    removed = false
                    if members.isEmpty { index.reserveCapacity(slice.count) }
                    for member in slice {
                        if let at = index.updateValue(members.count, forKey: member.id) {
                            index[member.id] = at
                            members[at] = member
                        } else {
                            members.append(member)
                        }
                    }
                case .removed:
                    (group, removed, members, index) = (nil, true, [], [:])
                }
            }
            if removed {
                if state.groups[id] != nil || state.members[id] != nil {
                    if state.groups[id] != nil { groupsRemoved += 1 }
                    membershipsRemoved += state.members[id]?.count ?? 0
                    mutations.append(.removeGroup(id))
                }
                continue
            }
            if let group {
                if let old = state.groups[id] {
                    if old != group {
                        groupsUpdated += 1
                        mutations.append(.upsertGroup(group))
                    }
                } else {
                    groupsAdded += 1
                    mutations.append(.upsertGroup(group))
                }
            }
            let current = state.members[id] ?? [:]
            // Additions (and kind changes) go out as `addMembers`: one mutation per group, not per member.
            var added: [ObjectID] = []
            var kinds: [MemberKind] = []
            func flushAdded() {
                guard !added.isEmpty else { return }
                mutations.append(.addMembers(group: id, members: added, kinds: kinds))
                added.removeAll(keepingCapacity: true)
                kinds.removeAll(keepingCapacity: true)
            }
            for member in members {
                let known = current.isEmpty ? nil : current[member.id]
                if member.removed {
                    if known != nil {
                        membershipsRemoved += 1
                        mutations.append(.removeMember(group: id, member: member.id))
                    }
                } else if known != member.kind {
                    if known == nil { membershipsAdded += 1 }
                    if added.isEmpty { added.reserveCapacity(min(members.count, Self.memberChunk)) }
                    added.append(member.id)
                    kinds.append(member.kind)
                    if added.count == Self.memberChunk { flushAdded() }
                }
            }
            flushAdded()
            if round.full {
                // A full round lists every current member: the rest are gone.
                for memberId in current.keys where index[memberId] == nil {  // removed ones were planned above
                    membershipsRemoved += 1
                    mutations.append(.removeMember(group: id, member: memberId))
                }
            }
        }
        if round.full {
            for id in Set(state.groups.keys).union(state.members.keys) where entriesOf[id] == nil {
                if state.groups[id] != nil { groupsRemoved += 1 }
                membershipsRemoved += state.members[id]?.count ?? 0
                mutations.append(.removeGroup(id))
            }
        }
        mutations.append(.setDeltaLink(.groups, round.deltaLink))
    }
}
