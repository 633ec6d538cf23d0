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
        var plan = SyncPlan()
        // A full round plans about one mutation per entry and member: grow the array once.
        let memberEntries = groups?.entries.reduce(0) { count, entry in
            if case .upsert(_, let members) = entry { return count + members.count }
            return count
        } ?? 0
        plan.mutations.reserveCapacity((users?.entries.count ?? 0) + (groups?.entries.count ?? 0) + memberEntries + 2)
        if let users {
            plan.planUsers(state: state, round: users, grace: softDeleteGrace, now: now)
        } else if !state.users.isEmpty || !state.softDeletedUsers.isEmpty || state.usersDeltaLink != nil {
            for id in state.users.keys { plan.mutations.append(.removeUser(id)); plan.usersRemoved += 1 }
            for id in state.softDeletedUsers { plan.mutations.append(.removeUser(id)) }
            plan.mutations.append(.setDeltaLink(.users, nil))
        }
        if let groups {
            plan.planGroups(state: state, round: groups)
        } else if !state.groups.isEmpty || !state.members.isEmpty || state.groupsDeltaLink != nil {
            for id in Set(state.groups.keys).union(state.members.keys) {
                if state.groups[id] != nil { plan.groupsRemoved += 1 }
                plan.mutations.append(.removeGroup(id))
            }
            plan.mutations.append(.setDeltaLink(.groups, nil))
        }
        return plan
    }

    private mutating func planUsers(state: MirrorState, round: DeltaRound<UserDelta>, grace: Double, now: Double) {
        // The same user can appear more than once in a round: the last entry wins.
        var order: [String] = []
        var final: [String: UserDelta] = [:]
        final.reserveCapacity(round.entries.count)
        for entry in round.entries {
            if final.updateValue(entry, forKey: entry.id) == nil { order.append(entry.id) }
        }
        for id in order {
            switch final[id]! {
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
                } else if !state.softDeletedUsers.contains(id) {
                    mutations.append(.softDeleteUser(id))
                }
            case .removed(_, .deleted):
                if state.users[id] != nil {
                    usersRemoved += 1
                    mutations.append(.removeUser(id))
                } else if state.softDeletedUsers.contains(id) {
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
            for id in state.softDeletedUsers where final[id] == nil {
                mutations.append(.removeUser(id))
            }
        }
        mutations.append(.setDeltaLink(.users, round.deltaLink))
    }

    private struct GroupAccumulator {
        var group: DirectoryGroup?
        var removed = false
        /// Members in order of first appearance; a later entry for the same member replaces it.
        var members: [MemberDelta] = []
        var index: [String: Int] = [:]

        mutating func merge(_ member: MemberDelta) {
            if let at = index.updateValue(members.count, forKey: member.id) {
                index[member.id] = at
                members[at] = member
            } else {
                members.append(member)
            }
        }

        func member(_ id: String) -> MemberDelta? { index[id].map { members[$0] } }
    }

    private mutating func planGroups(state: MirrorState, round: DeltaRound<GroupDelta>) {
        // A large group arrives in several entries, each with a slice of members@delta: merge them.
        var order: [String] = []
        var merged: [String: GroupAccumulator] = [:]
        for entry in round.entries {
            // Taken out and put back, so the accumulator is mutated in place, not looked up per member.
            var acc: GroupAccumulator
            if let existing = merged.removeValue(forKey: entry.id) {
                acc = existing
            } else {
                order.append(entry.id)
                acc = GroupAccumulator()
            }
            switch entry {
            case .upsert(let group, let slice):
                acc.group = group
                acc.removed = false
                for member in slice { acc.merge(member) }
            case .removed:
                acc = GroupAccumulator(group: nil, removed: true)
            }
            merged[entry.id] = acc
        }
        for id in order {
            let acc = merged[id]!
            if acc.removed {
                if state.groups[id] != nil || state.members[id] != nil {
                    if state.groups[id] != nil { groupsRemoved += 1 }
                    membershipsRemoved += state.members[id]?.count ?? 0
                    mutations.append(.removeGroup(id))
                }
                continue
            }
            if let group = acc.group {
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
            for member in acc.members {
                let known = current.isEmpty ? nil : current[member.id]
                if member.removed {
                    if known != nil {
                        membershipsRemoved += 1
                        mutations.append(.removeMember(group: id, member: member.id))
                    }
                } else if known != member.kind {
                    if known == nil { membershipsAdded += 1 }
                    mutations.append(.addMember(group: id, member: member.id, kind: member.kind))
                }
            }
            if round.full {
                // A full round lists every current member: the rest are gone.
                for memberId in current.keys where acc.member(memberId) == nil {  // removed ones were planned above
                    membershipsRemoved += 1
                    mutations.append(.removeMember(group: id, member: memberId))
                }
            }
        }
        if round.full {
            for id in Set(state.groups.keys).union(state.members.keys) where merged[id] == nil {
                if state.groups[id] != nil { groupsRemoved += 1 }
                membershipsRemoved += state.members[id]?.count ?? 0
                mutations.append(.removeGroup(id))
            }
        }
        mutations.append(.setDeltaLink(.groups, round.deltaLink))
    }
}
