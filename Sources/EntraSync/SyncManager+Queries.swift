import EntraConfig
import EntraControl
import EntraGraph
import Foundation

/// Read-only queries over a profile's mirror, answered from memory.
extension SyncManager {
    func handleQuery(_ call: VarlinkCall, _ replier: VarlinkReplier) throws -> Bool {
        switch call.method {
        case ManagerProtocol.Method.history:
            let request = try call.decode(HistoryRequest.self)
            guard let runner = try runnerOrFail(request.profile, replier) else { return true }
            let runs = runner.mirror.history.reversed().prefix(max(1, request.limit ?? 10)).map(ProfileRunner.runInfo)
            replier.reply(HistoryReply(runs: Array(runs)))
        case ManagerProtocol.Method.users, ManagerProtocol.Method.groups:
            let request = try call.decode(QueryRequest.self)
            guard let runner = try runnerOrFail(request.profile, replier) else { return true }
            var filter: FilterExpression?
            if let text = request.filter, !text.isEmpty {
                do {
                    filter = try FilterExpression.parse(text)
                } catch {
                    replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.invalidFilter, parameters: ["message": "\(error)"]))
                    return true
                }
            }
            let view = ScopedView(state: runner.mirror, scope: runner.profile.scope)
            var out = Array(call.method == ManagerProtocol.Method.users ? #"{"users":"#.utf8 : #"{"groups":"#.utf8)
            if call.method == ManagerProtocol.Method.users {
                let users = view.users.filter { user in filter?.matches { ScopedView.property($0, of: user) } ?? true }
                out += ExportWriter.usersJSON(users)
            } else {
                let groups = view.groups.filter { group in filter?.matches { ScopedView.property($0, of: group) } ?? true }
                out += ExportWriter.groupsJSON(view, groups: groups)
            }
            out += Array("}".utf8)
            replier.reply(rawParameters: out)
        case ManagerProtocol.Method.members:
            let request = try call.decode(QueryRequest.self)
            guard let runner = try runnerOrFail(request.profile, replier) else { return true }
            let view = ScopedView(state: runner.mirror, scope: runner.profile.scope)
            let key = (request.group ?? "").lowercased()
            guard let group = view.groups.first(where: { $0.id == key || $0.displayName?.lowercased() == key }) else {
                replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.notFound, parameters: ["key": request.group ?? ""]))
                return true
            }
            let ids = (request.transitive == true ? view.transitiveMembers(of: group.id) : view.members(of: group.id)).map(\.description)
            let users = ids.compactMap { view.state.users[$0] }
            let groups = ids.compactMap { view.state.groups[$0] }
            let others = ids.filter { view.state.users[$0] == nil && view.state.groups[$0] == nil }
            var out = Array(#"{"group":"#.utf8)
            out += ExportWriter.groupsJSON(view, groups: [group]).dropFirst(2).dropLast(3)  // the one object of "[\n{...}\n]\n"
            out += Array(#","users":"#.utf8) + ExportWriter.usersJSON(users)
            out += Array(#","groups":"#.utf8) + ExportWriter.groupsJSON(view, groups: groups)
            out += Array(#","others":"#.utf8) + Array((try JSONEncoder().encode(others)))
            out += Array("}".utf8)
            replier.reply(rawParameters: out)
        case ManagerProtocol.Method.show:
            let request = try call.decode(QueryRequest.self)
            guard let runner = try runnerOrFail(request.profile, replier) else { return true }
            let view = ScopedView(state: runner.mirror, scope: runner.profile.scope)
            let key = (request.key ?? "").lowercased()
            let users = view.users.filter {
                $0.id == key || $0.userPrincipalName?.lowercased() == key || $0.mail?.lowercased() == key || $0.displayName?.lowercased() == key
            }
            let groups = view.groups.filter { $0.id == key || $0.displayName?.lowercased() == key || $0.mail?.lowercased() == key }
            guard !users.isEmpty || !groups.isEmpty else {
                replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.notFound, parameters: ["key": request.key ?? ""]))
                return true
            }
            let out = Array(#"{"users":"#.utf8) + ExportWriter.usersJSON(users) + Array(#","groups":"#.utf8)
                + ExportWriter.groupsJSON(view, groups: groups) + Array("}".utf8)
            replier.reply(rawParameters: out)
        default:
            return false
        }
        return true
    }

    func runnerOrFail(_ name: String, _ replier: VarlinkReplier) throws -> ProfileRunner? {
        if let runner = runner(named: name) { return runner }
        replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: name)))
        return nil
    }
}
