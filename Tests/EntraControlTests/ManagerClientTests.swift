import Foundation
import EntraLock
import Testing
@testable import EntraControl

/// The typed client against a stand-in daemon on a real socket: each function calls its method
/// with its request, decodes its reply, and every error the protocol names comes back typed.
@Suite("manager client", .serialized)
struct ManagerClientTests {
    let dir: String
    var path: String { dir + "/control.sock" }

    init() {
        dir = VarlinkTests.temporaryDirectory("mct")
    }

    final class Calls: Sendable {
        let methods = Locked<[String]>([])
    }

    /// Answers every method with an empty reply of its type, or with the error the request's
    /// profile names; records the calls.
    func daemon(_ calls: Calls = Calls()) throws -> VarlinkServer {
        let info = VarlinkServiceInfo(vendor: "t", product: "p", version: "1", url: "u",
                                      interfaces: [ManagerProtocol.interface: ManagerProtocol.description])
        let server = try VarlinkServer(path: path, info: info) { call, replier in
            let parameters = (try? JSONSerialization.jsonObject(with: Data(call.parameters))) as? [String: Any] ?? [:]
            calls.methods.withLock { $0.append(call.method) }
            let profile = parameters["profile"] as? String ?? ""
            func error(_ name: String, _ fields: [String: String]) {
                let data = try! JSONSerialization.data(withJSONObject: fields)
                replier.fail(VarlinkError(name: name, rawParameters: Array(data)))
            }
            switch profile {
            case "missing": return error(ManagerProtocol.ErrorName.noSuchProfile, ["profile": profile])
            case "broken": return error(ManagerProtocol.ErrorName.profileNotRunnable, ["profile": profile, "reason": "config error"])
            case "denied": return error(ManagerProtocol.ErrorName.permissionDenied, ["adminGroup": "ops"])
            case "stopping": return error(ManagerProtocol.ErrorName.shuttingDown, [:])
            case "filter": return error(ManagerProtocol.ErrorName.invalidFilter, ["message": "column 3: expected eq"])
            case "nobody": return error(ManagerProtocol.ErrorName.notFound, ["key": "nobody"])
            case "many": return replier.fail(.invalidParameter("profile"))
            case "future": return error("io.entrasync.Manager.Later", ["what": "new"])
            default: break
            }
            let empty = switch call.method {
            case ManagerProtocol.Method.status: #"{"profiles":[]}"#
            case ManagerProtocol.Method.runNow, ManagerProtocol.Method.history: #"{"runs":[]}"#
            case ManagerProtocol.Method.reload: #"{"added":["a"],"removed":[],"changed":[],"errors":[]}"#
            case ManagerProtocol.Method.resync: #"{"profile":"p","keptJournal":"journal.discarded-1"}"#
            case ManagerProtocol.Method.scim, ManagerProtocol.Method.scimPush: #"{"targets":[]}"#
            case ManagerProtocol.Method.posixIds: #"{"ids":[{"object":"o","id":70000}]}"#
            default: #"{"users":[]}"#
            }
            replier.reply(rawParameters: Array(empty.utf8))
        }
        server.start()
        return server
    }

    @Test("each function calls its method and decodes its reply")
    func methods() throws {
        let calls = Calls()
        let server = try daemon(calls)
        defer { server.stop() }
        let client = try ManagerClient(path: path)
        #expect(try client.status().profiles.isEmpty)
        #expect(try client.runNow(RunNowRequest(profile: "p", wait: true)).runs.isEmpty)
        #expect(try client.reload().added == ["a"])
        #expect(try client.history(profile: "p", limit: 3).runs.isEmpty)
        #expect(try client.resync(ResyncRequest(profile: "p", discardState: true)).keptJournal == "journal.discarded-1")
        #expect(try client.scim(ScimRequest(profile: "p")).targets.isEmpty)
        #expect(try client.scimPush(ScimRequest(profile: "p", retry: true)).targets.isEmpty)
        #expect(try client.posixIds(profile: "p").ids == [PosixId(object: "o", id: 70_000)])
        for query in [ManagerClient.Query.users, .groups, .members, .show] {
            #expect(String(decoding: try client.query(query, QueryRequest(profile: "p")), as: UTF8.self) == #"{"users":[]}"#)
        }
        let M = ManagerProtocol.Method.self
        #expect(calls.methods.withLock { $0 } == [M.status, M.runNow, M.reload, M.history, M.resync, M.scim, M.scimPush,
                                         M.posixIds, M.users, M.groups, M.members, M.show])
    }

    @Test("the protocol's errors come back typed")
    func errors() throws {
        let server = try daemon()
        defer { server.stop() }
        let client = try ManagerClient(path: path)
        let expected: [(String, ManagerError)] = [
            ("missing", .noSuchProfile("missing")),
            ("broken", .profileNotRunnable(profile: "broken", reason: "config error")),
            ("denied", .permissionDenied(adminGroup: "ops")),
            ("stopping", .shuttingDown),
            ("filter", .invalidFilter("column 3: expected eq")),
            ("nobody", .notFound("nobody")),
            ("many", .invalidParameter("profile")),
            ("future", .other(name: "io.entrasync.Manager.Later", parameters: #"{"what":"new"}"#)),
        ]
        for (profile, error) in expected {
            #expect(throws: error) { try client.runNow(RunNowRequest(profile: profile)) }
            #expect(throws: error) { try client.query(.users, QueryRequest(profile: profile)) }
        }
    }

    @Test("no daemon: a transport error that names the socket")
    func noDaemon() {
        do {
            _ = try ManagerClient(path: path + ".absent", timeout: 1)
            Issue.record("connected to nothing")
        } catch {
            guard case .transport(let text) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(text.contains(path + ".absent"))
        }
    }
}
