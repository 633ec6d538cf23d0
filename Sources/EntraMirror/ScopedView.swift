import EntraConfig
import EntraDirectory
import EntraGraph
import Foundation

/// The part of the mirror a profile's scope imports: what exports, status and queries show.
///
/// The mirror always holds the whole tenant, so a changed scope takes effect at the next run
/// (or query) without a resync from Graph.
public struct ScopedView: Sendable {
    public let state: MirrorState
    /// nil means every user (or group).
    public let userIds: Set<String>?
    public let groupIds: Set<String>?
    /// Soft-deleted users still within SoftDeleteGrace=, shown with `deleted: true`.
    public let deletedUsers: [DirectoryUser]

    public init(state: MirrorState, scope: Scope, softDeleteGrace: Double = 0, now: Double = Date().timeIntervalSince1970) {
        self.state = state
        deletedUsers = softDeleteGrace > 0
            ? state.recentlyDeleted.values.filter { $0.at + softDeleteGrace > now }.map(\.user).sorted { $0.id < $1.id }
            : []
        guard !scope.isEverything else {
            userIds = nil
            groupIds = nil
            return
        }
        var groups = Set(state.groups.keys)
        var users = Set(state.users.keys)
        if !scope.includeGroups.isEmpty {
            var roots: [String] = []
            for wanted in scope.includeGroups {
                let key = wanted.lowercased()
                roots += state.groups.values.filter { $0.id == key || $0.displayName?.lowercased() == key }.map(\.id)
            }
            let (nestedGroups, memberUsers) = Self.closure(of: roots, in: state)
            groups = nestedGroups
            users = memberUsers.intersection(users)
        }
        if let filter = scope.groupFilter {
            groups = groups.filter { id in filter.matches { Self.property($0, of: state.groups[id]!) } }
        }
        if let filter = scope.userFilter {
            users = users.filter { id in filter.matches { Self.property($0, of: state.users[id]!) } }
        }
        if scope.excludeDisabled { users = users.filter { state.users[$0]!.accountEnabled != false } }
        if scope.excludeUnlicensed { users = users.filter { !(state.users[$0]!.assignedLicenses ?? []).isEmpty } }
        userIds = users
        groupIds = groups
    }

    /// Groups reachable from `roots` through group members, and every user member of them; cycles are fine.
    static func closure(of roots: [String], in state: MirrorState) -> (groups: Set<String>, users: Set<String>) {
        var groups = Set<String>()
        var users = Set<String>()
        var stack = roots
        while let group = stack.popLast() {
            guard groups.insert(group).inserted else { continue }
            for (member, kind) in state.members[group] ?? [:] {
                switch kind {
                case .group: stack.append(member.description)
                case .user: if !state.softDeletedUsers.contains(member) { users.insert(member.description) }
                default: break
                }
            }
        }
        return (groups, users)
    }

    /// The users in scope in no particular order (`users` sorts them by id: for what is keyed by id anyway).
    public var usersInAnyOrder: [DirectoryUser] {
        guard let userIds else { return Array(state.users.values) }
        return userIds.compactMap { state.users[$0] }
    }

    /// The user `id` if it is in scope.
    public func user(_ id: String) -> DirectoryUser? {
        if let userIds, !userIds.contains(id) { return nil }
        return state.users[id]
    }

    /// The group `id` if it is in scope.
    public func group(_ id: String) -> DirectoryGroup? {
        if let groupIds, !groupIds.contains(id) { return nil }
        return state.groups[id]
    }

    /// How many users are in scope.
    public var userCount: Int { userIds?.count ?? state.users.count }

    /// Calls `body` with each user in scope, in no particular order, without collecting them.
    public func forEachUser(_ body: (DirectoryUser) -> Void) {
        if let userIds {
            for id in userIds { if let user = state.users[id] { body(user) } }
        } else {
            for user in state.users.values { body(user) }
        }
    }

    /// Calls `body` with the id and the UPN of each user in scope, in no particular order, without
    /// copying the users (a copy retains each of their strings).
    public func forEachUserID(_ body: (String, String?) -> Void) {
        if let userIds {
            for id in userIds {
                if let index = state.users.index(forKey: id) { body(id, state.users.values[index].userPrincipalName) }
            }
        } else {
            let values = state.users.values
            for index in values.indices { body(state.users.keys[index], values[index].userPrincipalName) }
        }
    }

    /// Calls `body` with each group in scope, in no particular order.
    public func forEachGroup(_ body: (DirectoryGroup) -> Void) {
        if let groupIds {
            for id in groupIds { if let group = state.groups[id] { body(group) } }
        } else {
            for group in state.groups.values { body(group) }
        }
    }

    /// The groups in scope in no particular order.
    public var groupsInAnyOrder: [DirectoryGroup] {
        guard let groupIds else { return Array(state.groups.values) }
        return groupIds.compactMap { state.groups[$0] }
    }

    public var users: [DirectoryUser] {
        let ids = userIds.map(Array.init) ?? Array(state.users.keys)
        return ids.sorted().compactMap { state.users[$0] }
    }

    public var groups: [DirectoryGroup] {
        let ids = groupIds.map(Array.init) ?? Array(state.groups.keys)
        return ids.sorted().compactMap { state.groups[$0] }
    }

    /// Direct members as outputs show them: soft-deleted users hidden, out-of-scope users and groups left out.
    public func members(of group: String) -> [ObjectID] {
        guard let list = state.members[group] else { return [] }
        let softDeleted = state.softDeletedUsers
        if userIds == nil && groupIds == nil && softDeleted.isEmpty { return list.keys.sorted() }
        return list.compactMap { id, kind -> ObjectID? in
            if !softDeleted.isEmpty && softDeleted.contains(id) { return nil }
            if kind == .user, let userIds, !userIds.contains(id.description) { return nil }
            if kind == .group, let groupIds, !groupIds.contains(id.description) { return nil }
            return id
        }.sorted()
    }

    /// Users and groups that are members of `group`, directly or through nested groups (cycles handled).
    public func transitiveMembers(of group: String) -> [ObjectID] {
        var seen = Set<String>([group])
        var result = Set<ObjectID>()
        var stack = [group]
        while let current = stack.popLast() {
            let direct = state.members[current] ?? [:]
            for id in members(of: current) {
                result.insert(id)
                guard direct[id] == .group else { continue }
                let text = id.description
                if state.members[text] != nil || state.groups[text] != nil, seen.insert(text).inserted { stack.append(text) }
            }
        }
        result.remove(ObjectID(group))
        return result.sorted()
    }

    public var counts: (users: Int, groups: Int, memberships: Int) {
        if userIds == nil && groupIds == nil {
            return (state.users.count, state.groups.count, state.visibleMembershipCount)
        }
        let groups = self.groups
        return (users.count, groups.count, groups.reduce(0) { $0 + members(of: $1.id).count })
    }

    public static func property(_ name: String, of user: DirectoryUser) -> FilterValue {
        func s(_ v: String?) -> FilterValue { v.map(FilterValue.string) ?? .null }
        switch name {
        case "id": return .string(user.id)
        case "userPrincipalName": return s(user.userPrincipalName)
        case "displayName": return s(user.displayName)
        case "givenName": return s(user.givenName)
        case "surname": return s(user.surname)
        case "mail": return s(user.mail)
        case "accountEnabled": return user.accountEnabled.map(FilterValue.bool) ?? .null
        case "jobTitle": return s(user.jobTitle)
        case "department": return s(user.department)
        case "employeeId": return s(user.employeeId)
        case "mailNickname": return s(user.mailNickname)
        case "onPremisesImmutableId": return s(user.onPremisesImmutableId)
        default: return .null
        }
    }

    public static func property(_ name: String, of group: DirectoryGroup) -> FilterValue {
        func s(_ v: String?) -> FilterValue { v.map(FilterValue.string) ?? .null }
        switch name {
        case "id": return .string(group.id)
        case "displayName": return s(group.displayName)
        case "description": return s(group.description)
        case "mail": return s(group.mail)
        case "mailEnabled": return group.mailEnabled.map(FilterValue.bool) ?? .null
        case "mailNickname": return s(group.mailNickname)
        case "securityEnabled": return group.securityEnabled.map(FilterValue.bool) ?? .null
        default: return .null
        }
    }
}
