import EntraConfig
import EntraControl
import EntraDirectory
import EntraMirror
import EntraSync
import Foundation

/// Read-only queries over a profile's committed mirror, answered from memory. They show what the
/// exports show: the profile's scope, and soft-deleted users within `SoftDeleteGrace=` marked deleted.
extension ManagerService {
    func committed(_ name: String) throws -> SyncManager.Committed {
        if let committed = engine.committed(profile: name) { return committed }
        throw try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: name))
    }

    func history(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(HistoryRequest.self)
        let runs = try committed(request.profile).mirror.history.reversed().prefix(max(1, request.limit ?? 10)).map(RunInfo.init)
        replier.reply(HistoryReply(runs: Array(runs)))
    }

    func list(_ call: VarlinkCall, _ replier: VarlinkReplier, users: Bool) throws {
        let request = try call.decode(QueryRequest.self)
        let view = try committed(request.profile).view
        var filter: FilterExpression?
        if let text = request.filter, !text.isEmpty {
            do {
                filter = try FilterExpression.parse(text)
            } catch {
                throw try VarlinkError(name: ManagerProtocol.ErrorName.invalidFilter, parameters: ["message": "\(error)"])
            }
        }
        if users {
            let matches = { (user: DirectoryUser) in filter?.matches { ScopedView.property($0, of: user) } ?? true }
            replier.reply(rawParameters: DirectoryJSON.object(["users": DirectoryJSON.users(view.users.filter(matches),
                                                                                              deleted: view.deletedUsers.filter(matches))]))
        } else {
            let groups = view.groups.filter { group in filter?.matches { ScopedView.property($0, of: group) } ?? true }
            replier.reply(rawParameters: DirectoryJSON.object(["groups": DirectoryJSON.groups(view, groups: groups)]))
        }
    }

    func members(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(QueryRequest.self)
        let view = try committed(request.profile).view
        let key = (request.group ?? "").lowercased()
        guard let group = view.groups.first(where: { $0.id == key || $0.displayName?.lowercased() == key }) else {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.notFound, parameters: ["key": request.group ?? ""])
        }
        let ids = (request.transitive == true ? view.transitiveMembers(of: group.id) : view.members(of: group.id)).map(\.description)
        let users = ids.compactMap { view.state.users[$0] }
        let groups = ids.compactMap { view.state.groups[$0] }
        let others = ids.filter { view.state.users[$0] == nil && view.state.groups[$0] == nil }
        replier.reply(rawParameters: DirectoryJSON.object([
            "group": DirectoryJSON.group(view, group), "users": DirectoryJSON.users(users),
            "groups": DirectoryJSON.groups(view, groups: groups), "others": Array(try JSONEncoder().encode(others)),
        ]))
    }

    func show(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(QueryRequest.self)
        let view = try committed(request.profile).view
        let key = (request.key ?? "").lowercased()
        let matches = { (u: DirectoryUser) in
            u.id == key || u.userPrincipalName?.lowercased() == key || u.mail?.lowercased() == key || u.displayName?.lowercased() == key
        }
        let users = view.users.filter(matches)
        let deleted = view.deletedUsers.filter(matches)
        let groups = view.groups.filter { $0.id == key || $0.displayName?.lowercased() == key || $0.mail?.lowercased() == key }
        guard !users.isEmpty || !deleted.isEmpty || !groups.isEmpty else {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.notFound, parameters: ["key": request.key ?? ""])
        }
        // The uid (users) or gid (groups) each shown object holds ([Linux]), by object id.
        let ids = (users + deleted).map(\.id) + groups.map(\.id)
        let posixIds = Dictionary(ids.compactMap { id in view.state.posixIDs[id].map { (id, Int($0)) } }) { a, _ in a }
        replier.reply(rawParameters: DirectoryJSON.object(["users": DirectoryJSON.users(users, deleted: deleted),
                                                           "groups": DirectoryJSON.groups(view, groups: groups),
                                                           "posixIds": Array(try JSONEncoder().encode(posixIds))]))
    }

    /// Every POSIX id assignment of the profile, sorted by id (`entra-syncctl ids`).
    func posixIds(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(PosixIdsRequest.self)
        let ids = try committed(request.profile).mirror.posixIDs.byObject
        replier.reply(PosixIdsReply(ids: ids.sorted { $0.value < $1.value }.map { PosixId(object: $0.key, id: Int($0.value)) }))
    }
}
