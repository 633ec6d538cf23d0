import EntraConfig
import EntraDirectory
import EntraGraph

/// What a target should hold: the profile's scoped mirror, mapped to SCIM.
public struct ScimDesired: Sendable {
    public var users: [String: ScimUserAttributes] = [:]
    /// Users in scope that cannot be sent, with why (e.g. UserNameFrom=mail and no mail).
    public var unsendable: [String: String] = [:]
    public var groups: [String: (displayName: String, members: [String])] = [:]

    public init() {}

    /// Maps a scoped view: users to `User` (userName from `target.userNameFrom`, active from accountEnabled),
    /// groups to `Group` with the members that are themselves pushed.
    public init(view: ScopedView, target: ScimTarget) {
        if target.users {
            for user in view.users {
                let userName = target.userNameFrom == .mail ? user.mail : user.userPrincipalName
                guard let userName, !userName.isEmpty else {
                    unsendable[user.id] = target.userNameFrom == .mail
                        ? "the user has no mail; UserNameFrom=mail needs one" : "the user has no userPrincipalName"
                    continue
                }
                users[user.id] = Self.attributes(user, userName: userName)
            }
        }
        guard target.groups else { return }
        let groupIds = Set(view.groups.map(\.id))
        for group in view.groups {
            let members = view.members(of: group.id).map(\.description).filter { users[$0] != nil || groupIds.contains($0) }
            groups[group.id] = (group.displayName ?? group.id, members)
        }
    }

    public static func attributes(_ user: DirectoryUser, userName: String) -> ScimUserAttributes {
        ScimUserAttributes(userName: userName, displayName: user.displayName, givenName: user.givenName, familyName: user.surname,
                           email: user.mail, active: user.accountEnabled ?? true)
    }
}

/// One operation a push sends, in Entra ids; the executor resolves target ids as it goes.
public enum ScimOperation: Sendable, Equatable {
    case createUser(id: String, ScimUserAttributes)
    case updateUser(id: String, from: ScimUserAttributes, to: ScimUserAttributes)
    /// Deactivate (PATCH active=false) or DELETE, per DeprovisionMode=.
    case deprovisionUser(id: String)
    case createGroup(id: String, displayName: String)
    case renameGroup(id: String, displayName: String)
    case changeMembers(group: String, add: [String], remove: [String])
    case deleteGroup(id: String)

    public var objectId: String {
        switch self {
        case .createUser(let id, _), .updateUser(let id, _, _), .deprovisionUser(let id), .createGroup(let id, _),
             .renameGroup(let id, _), .deleteGroup(let id):
            id
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

/// The minimal operations that bring a target from what it acknowledged to what it should hold.
///
/// Order: users created or changed, then groups created or renamed, then membership changes, then
/// group deletions, then user deprovisioning: members exist before they are added, and are
/// removed from groups before they go.
public struct ScimPlan: Sendable {
    public var operations: [ScimOperation] = []

    public init(desired: ScimDesired, state: ScimTargetState, mode: ScimTarget.DeprovisionMode) {
        var users: [ScimOperation] = []
        for (id, attributes) in desired.users {
            if let link = state.users[id] {
                if link.pushed != attributes { users.append(.updateUser(id: id, from: link.pushed, to: attributes)) }
            } else {
                users.append(.createUser(id: id, attributes))
            }
        }
        var deprovision: [ScimOperation] = []
        for (id, link) in state.users where desired.users[id] == nil {
            if mode == .delete || link.pushed.active { deprovision.append(.deprovisionUser(id: id)) }
        }
        var groups: [ScimOperation] = []
        var members: [ScimOperation] = []
        for (id, group) in desired.groups {
            let link = state.groups[id]
            if link == nil {
                groups.append(.createGroup(id: id, displayName: group.displayName))
            } else if link!.displayName != group.displayName {
                groups.append(.renameGroup(id: id, displayName: group.displayName))
            }
            let acknowledged = link?.members ?? []
            let add = group.members.filter { !acknowledged.contains($0) }
            var remove: [String] = []
            if !acknowledged.isEmpty {
                let wanted = Set(group.members)
                remove = acknowledged.filter { !wanted.contains($0) }.sorted()
            }
            if !add.isEmpty || !remove.isEmpty { members.append(.changeMembers(group: id, add: add, remove: remove)) }
        }
        let deletes = state.groups.keys.filter { desired.groups[$0] == nil }.sorted().map { ScimOperation.deleteGroup(id: $0) }
        func sorted(_ ops: [ScimOperation]) -> [ScimOperation] { ops.sorted { $0.objectId < $1.objectId } }
        operations = sorted(users) + sorted(groups) + sorted(members) + deletes + sorted(deprovision)
    }

    public var deletions: Int { operations.reduce(0) { $0 + ($1.isDeletion ? 1 : 0) } }
}

/// SCIM PATCH operations that turn `from` into `to`: only the attributes that differ.
public enum ScimPatch {
    public static func operations(from: ScimUserAttributes, to: ScimUserAttributes) -> [[String: Any]] {
        var ops: [[String: Any]] = []
        func set(_ path: String, _ old: String?, _ new: String?) {
            guard old != new else { return }
            if let new { ops.append(["op": "replace", "path": path, "value": new]) } else { ops.append(["op": "remove", "path": path]) }
        }
        set("userName", from.userName, to.userName)
        set("displayName", from.displayName, to.displayName)
        set("name.givenName", from.givenName, to.givenName)
        set("name.familyName", from.familyName, to.familyName)
        if from.email != to.email {
            if let email = to.email {
                ops.append(["op": "replace", "path": "emails", "value": [["value": email, "type": "work", "primary": true]]])
            } else {
                ops.append(["op": "remove", "path": "emails"])
            }
        }
        if from.active != to.active { ops.append(["op": "replace", "path": "active", "value": to.active]) }
        return ops
    }

    /// The `User` resource a POST creates.
    public static func user(id: String, _ a: ScimUserAttributes) -> [String: Any] {
        var body: [String: Any] = ["schemas": [ScimSchema.user], "externalId": id, "userName": a.userName, "active": a.active]
        if let v = a.displayName { body["displayName"] = v }
        var name: [String: Any] = [:]
        if let v = a.givenName { name["givenName"] = v }
        if let v = a.familyName { name["familyName"] = v }
        if !name.isEmpty { body["name"] = name }
        if let v = a.email { body["emails"] = [["value": v, "type": "work", "primary": true]] }
        return body
    }
}

public enum ScimSchema {
    public static let user = "urn:ietf:params:scim:schemas:core:2.0:User"
    public static let group = "urn:ietf:params:scim:schemas:core:2.0:Group"
    public static let patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    public static let bulkRequest = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
}
