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
    /// What an incremental plan looks at: `objects` (the entries it maps and compares) and, of
    /// those, the groups that are there only because they list an object that changed, with the
    /// members worth comparing (`focus`: the rest of their members are as the last push left them).
    public struct Planned: Sendable, Equatable {
        public var objects: Set<String>
        public var focus: [String: [ObjectID]]
    }

    /// The objects whose entries an incremental plan must look at, given those the mirror changed
    /// since the target's last push (`changed`, from `Mutation.touchedObjects`):
    /// - those themselves;
    /// - the objects with a recorded failure (retried when their backoff ends);
    /// - the objects whose place in the scope changed without a change of their own (a group nested
    ///   into a scoped group brings its members): in scope but not provisioned, or provisioned but
    ///   no longer in scope (a deprovisioned user stays here; its plan is a look at one flag);
    /// - the groups that list any of those, in the mirror or as the directory acknowledged (a
    ///   user deleted or soft-deleted leaves the groups without a change to them), to be compared
    ///   for those members only.
    ///
    /// The plan of these objects equals the whole plan: every other object's entry and members are
    /// as the last push left them (tested against the whole plan in LdapIncrementalTests).
    public static func planned(changed: Set<String>, view: ScopedView, target: LdapTarget, state: LdapTargetState) -> Planned {
        var ids = changed
        ids.formUnion(state.failures.keys)
        // A scope of everything changes only with the mirror's own changes (those are in `changed`).
        let scoped = view.userIds != nil || view.groupIds != nil
        if target.users && scoped {
            view.forEachUserID { id, _ in if state.users[id] == nil { ids.insert(id) } }
            for id in state.users.keys where view.user(id) == nil { ids.insert(id) }
        }
        guard target.groups else { return Planned(objects: ids, focus: [:]) }
        if scoped {
            view.forEachGroup { if state.groups[$0.id] == nil { ids.insert($0.id) } }
            for id in state.groups.keys where view.group(id) == nil { ids.insert(id) }
        }
        // The groups that list one of them, and which: each list walked once, or only the ids
        // looked up in it when there are fewer of those.
        let members = Set(ids.lazy.map { ObjectID($0) })
        var focus: [String: [ObjectID]] = [:]
        func listed(_ group: String, count: Int, contains: (ObjectID) -> Bool, each: ((ObjectID) -> Void) -> Void) {
            guard !ids.contains(group) else { return }
            var found: [ObjectID] = []
            if count > members.count {
                for id in members where contains(id) { found.append(id) }
            } else {
                each { if members.contains($0) { found.append($0) } }
            }
            if !found.isEmpty { focus[group, default: []].append(contentsOf: found) }
        }
        for (group, list) in view.state.members {
            listed(group, count: list.count, contains: { list[$0] != nil }, each: { body in for id in list.keys { body(id) } })
        }
        for (group, link) in state.groups {
            let held = link.members
            listed(group, count: held.count, contains: { held.contains($0) }, each: { body in held.forEachID(body) })
        }
        for (group, found) in focus {
            ids.insert(group)
            focus[group] = Array(Set(found))
        }
        return Planned(objects: ids, focus: focus)
    }
}
