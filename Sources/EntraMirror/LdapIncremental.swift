import EntraConfig
import EntraDirectory

// The incremental plan: after a run that changed a thousand objects of a hundred thousand, a push
// maps and compares the entries of those objects, not of every object in scope. The daemon keeps the
// objects changed since each target's last push (in memory: after a start, a reload or a failed push
// the plan is whole again); these functions say which entries that touches.

extension Mutation {
    /// The users and groups `mutations` add, change or remove, and both sides of the memberships
    /// they change; nil when they rebuild the mirror (a snapshot's records: every object may differ).
    public static func touchedObjects(_ mutations: some Sequence<Mutation>) -> Set<String>? {
        var ids = Set<String>()
        for mutation in mutations {
            switch mutation {
            case .upsertUser(let user), .keepDeleted(let user, _): ids.insert(user.id)
            case .removeUser(let id), .softDeleteUser(let id), .removeGroup(let id), .posixID(let id, _): ids.insert(id)
            case .upsertGroup(let group): ids.insert(group.id)
            case .addMember(let group, let member, _), .removeMember(let group, let member):
                ids.insert(group)
                ids.insert(member.description)
            case .addMembers(let group, let members, _):
                ids.insert(group)
                for member in members { ids.insert(member.description) }
            case .addMemberRefs, .capacity: return nil
            case .setDeltaLink, .recordRun, .runEnded, .hookPending, .hookDelivered, .scim, .ldap: break
            }
        }
        return ids
    }
}

extension LdapDesired {
    /// The objects whose entries an incremental plan must look at, given those the mirror changed
    /// since the target's last push (`changed`, from `Mutation.touchedObjects`):
    /// - those themselves;
    /// - the objects with a recorded failure (retried when their backoff ends);
    /// - the objects whose place in the scope changed without a change of their own (a group nested
    ///   into a scoped group brings its members): in scope but not provisioned, or provisioned but
    ///   no longer in scope (a deprovisioned user stays here; its plan is a look at one flag);
    /// - the groups that list any of those, in the mirror or as the directory acknowledged (a
    ///   user deleted or soft-deleted leaves the groups without a change to them).
    ///
    /// The plan of these objects equals the whole plan: every other object's entry and members are
    /// as the last push left them (tested against the whole plan in LdapIncrementalTests).
    public static func planned(changed: Set<String>, view: ScopedView, target: LdapTarget, state: LdapTargetState) -> Set<String> {
        var ids = changed
        ids.formUnion(state.failures.keys)
        if target.users {
            view.forEachUser { if state.users[$0.id] == nil { ids.insert($0.id) } }
            for id in state.users.keys where view.user(id) == nil { ids.insert(id) }
        }
        if target.groups {
            view.forEachGroup { if state.groups[$0.id] == nil { ids.insert($0.id) } }
            for id in state.groups.keys where view.group(id) == nil { ids.insert(id) }
        } else {
            return ids
        }
        // The groups that list one of them: each list walked once, or only the ids looked up in it
        // when there are fewer of those.
        let members = Set(ids.lazy.map { ObjectID($0) })
        func lists(_ contains: (ObjectID) -> Bool, count: Int, each: ((ObjectID) -> Bool) -> Bool) -> Bool {
            count > members.count ? members.contains(where: contains) : each { members.contains($0) }
        }
        var holders: [String] = []
        for (group, list) in view.state.members where !ids.contains(group) {
            if lists({ list[$0] != nil }, count: list.count, each: { match in list.keys.contains(where: match) }) { holders.append(group) }
        }
        for (group, link) in state.groups where !ids.contains(group) {
            let held = link.members.ids
            if lists({ held.contains($0) }, count: held.count, each: { match in held.contains(where: match) }) { holders.append(group) }
        }
        ids.formUnion(holders)
        return ids
    }
}
