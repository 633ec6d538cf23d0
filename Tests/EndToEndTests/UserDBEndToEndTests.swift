import EntraControl
import Foundation
import Testing

/// The daemon serving Linux users and groups on its io.systemd.UserDatabase socket, as nss-systemd
/// and userdbctl ask it: from memory, with ids that survive restarts.
@Suite("userdb end to end", .serialized)
struct UserDBEndToEndTests {
    struct Query: Encodable {
        var userName: String?
        var groupName: String?
        var uid: Int?
        var service = "io.entrasync"
    }

    func record(_ socket: String, _ method: String, _ query: Query) throws -> [String: Any]? {
        let client = try VarlinkClient(path: socket, timeout: 10)
        do {
            let bytes = try client.call("io.systemd.UserDatabase." + method, parameters: query)
            let reply = try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
            return reply["record"] as? [String: Any]
        } catch VarlinkClientError.remote(let name, _) where name == "io.systemd.UserDatabase.NoRecordFound" {
            return nil
        }
    }

    func memberships(_ socket: String, _ query: Query) throws -> [String] {
        let client = try VarlinkClient(path: socket, timeout: 10)
        var pairs: [String] = []
        do {
            try client.callMore("io.systemd.UserDatabase.GetMemberships", parameters: query) { bytes in
                let reply = try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
                pairs.append("\(reply["userName"] as! String):\(reply["groupName"] as! String)")
            }
        } catch VarlinkClientError.remote(let name, _) where name == "io.systemd.UserDatabase.NoRecordFound" {
            return []
        }
        return pairs
    }

    @Test("users, groups and nested memberships are served, follow the tenant, and keep their ids across a restart")
    func servesTheMirror() throws {
        let sim = try Simulator(users: 5, groups: 2, memberships: 4)
        let parent = try sim.admin("POST", "/_sim/groups", ["displayName": "Vault Users", "securityEnabled": true]) as! [String: Any]
        let child = try sim.admin("POST", "/_sim/groups", ["displayName": "Vault Admins", "securityEnabled": true]) as! [String: Any]
        let alice = try sim.admin("POST", "/_sim/users", ["displayName": "Alice Example", "userPrincipalName": "alice@contoso.com",
                                                        "accountEnabled": true]) as! [String: Any]
        let bob = try sim.admin("POST", "/_sim/users", ["displayName": "Bob", "userPrincipalName": "bob@contoso.com",
                                                      "accountEnabled": false]) as! [String: Any]
        let root = try sim.admin("POST", "/_sim/users", ["displayName": "Sneaky", "userPrincipalName": "root@contoso.com",
                                                       "accountEnabled": true]) as! [String: Any]
        let parentId = parent["id"] as! String, childId = child["id"] as! String
        let aliceId = alice["id"] as! String, bobId = bob["id"] as! String
        try sim.admin("POST", "/_sim/groups/\(parentId)/members", ["id": childId])
        try sim.admin("POST", "/_sim/groups/\(childId)/members", ["id": parentId])  // a cycle
        try sim.admin("POST", "/_sim/groups/\(childId)/members", ["id": aliceId])
        try sim.admin("POST", "/_sim/groups/\(parentId)/members", ["id": bobId])
        _ = root

        let daemon = DaemonHarness()
        let socket = daemon.directory + "/userdb/io.entrasync"
        daemon.extraArguments = ["--userdb-socket", socket]
        try daemon.writeProfile("contoso", simulator: sim, extra: """

            [Linux]
            NameFrom=upn-local
            IncludeGroups=Vault Users
            HomeDirectory=/home/%u
            Shell=/bin/zsh
            """)
        try daemon.start()
        try Harness.waitUntil("alice on the userdb socket", timeout: 20) { try record(socket, "GetUserRecord", Query(userName: "alice")) != nil }

        let a = try #require(try record(socket, "GetUserRecord", Query(userName: "alice")))
        let uid = try #require(a["uid"] as? Int)
        #expect(uid >= 0x7001_0000 && uid <= 0x73FF_FFFF)
        #expect(a["gid"] as? Int == uid && a["realName"] as? String == "Alice Example")
        #expect(a["homeDirectory"] as? String == "/home/alice" && a["shell"] as? String == "/bin/zsh")
        #expect(a["service"] as? String == "io.entrasync" && a["disposition"] as? String == "regular" && a["locked"] as? Bool == false)
        #expect(try record(socket, "GetUserRecord", Query(uid: uid))?["userName"] as? String == "alice")
        #expect(try record(socket, "GetUserRecord", Query(userName: "bob"))?["locked"] as? Bool == true)
        // A name the host already has is never served.
        #expect(try record(socket, "GetUserRecord", Query(userName: "root")) == nil)
        // Nested groups, cycle included: alice is in Vault Admins, which is in Vault Users.
        #expect(try memberships(socket, Query(userName: "alice")) == ["alice:vault-admins", "alice:vault-users"])
        #expect(try memberships(socket, Query(groupName: "vault-users")) == ["alice:vault-users", "bob:vault-users"])
        let group = try #require(try record(socket, "GetGroupRecord", Query(groupName: "vault-users")))
        #expect(group["members"] as? [String] == ["alice", "bob"])
        let groupGID = try #require(group["gid"] as? Int)
        // The user's own group carries the user's number.
        #expect(try record(socket, "GetGroupRecord", Query(groupName: "alice"))?["gid"] as? Int == uid)

        // A removed membership and a deleted user disappear after the next sync.
        try sim.admin("DELETE", "/_sim/groups/\(parentId)/members/\(bobId)")
        try sim.admin("DELETE", "/_sim/users/\(bobId)")
        _ = try daemon.runNow("contoso")
        #expect(try memberships(socket, Query(groupName: "vault-users")) == ["alice:vault-users"])
        #expect(try record(socket, "GetUserRecord", Query(userName: "bob")) == nil)
        let linux = try #require(try daemon.status()["contoso"]?["linux"] as? [String: Any])
        let servedUsers = try #require(linux["users"] as? Int)
        #expect(servedUsers >= 1 && linux["groups"] as? Int == servedUsers + 2)  // each user's own group + the two Vault groups
        #expect((linux["refused"] as? [String])?.contains("root: the name is a local account's") == true, "\(linux)")
        #expect(try daemon.ctl(["status"]).stdout.contains("  not served: root: the name is a local account's"))
        let show = try daemon.ctl(["show", "contoso", aliceId]).stdout
        let shown = try JSONSerialization.jsonObject(with: Data(show.utf8)) as! [String: Any]
        #expect((shown["posixIds"] as? [String: Int])?[aliceId] == uid, "\(show)")

        // Restart with a journal compacted to a snapshot: every id stays.
        #expect(try daemon.stop() == 0)
        daemon.extraArguments += ["--compact-factor", "0", "--compact-min-bytes", "0"]
        try daemon.start()
        _ = try daemon.runNow("contoso", full: true)
        try Harness.waitUntil("alice after the restart", timeout: 20) { try record(socket, "GetUserRecord", Query(userName: "alice")) != nil }
        #expect(try record(socket, "GetUserRecord", Query(userName: "alice"))?["uid"] as? Int == uid)
        #expect(try record(socket, "GetGroupRecord", Query(groupName: "vault-users"))?["gid"] as? Int == groupGID)
        #expect(daemon.log.contains("journal compacted"))

        // [Linux] removed by a reload: nothing is served any more.
        try daemon.writeProfile("contoso", simulator: sim)
        #expect(try daemon.ctl(["reload"]).status == 0)
        try Harness.waitUntil("alice to be gone after the reload", timeout: 20) { try record(socket, "GetUserRecord", Query(userName: "alice")) == nil }
        #expect(try daemon.status()["contoso"]?["linux"] == nil)
        #expect(try daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test("a pinned user gets its pinned uid; `entra-syncctl ids` is the pins file that gives a second host the same ids")
    func pinsAndTheIdsCommand() throws {
        let sim = try Simulator(users: 6, groups: 2, memberships: 4)
        let alice = try sim.admin("POST", "/_sim/users", ["displayName": "Alice Example", "userPrincipalName": "alice@contoso.com",
                                                        "accountEnabled": true]) as! [String: Any]
        let aliceId = alice["id"] as! String
        let pinned = 123_456
        func linux(_ pins: String) -> String { "\n[Linux]\nNameFrom=upn-local\nIdRange=100000-199999\nIdPinsFile=\(pins)\n" }

        // Host one: alice pinned (the object id in capitals, as an admin may paste it), everyone else hashed.
        let first = DaemonHarness()
        let firstSocket = first.directory + "/userdb/io.entrasync"
        first.extraArguments = ["--userdb-socket", firstSocket]
        try first.write("contoso.pins", "# alice\n\(aliceId.uppercased()) \(pinned)\n")
        try first.writeProfile("contoso", simulator: sim, extra: linux(first.configDirectory + "/contoso.pins"))
        try first.start()
        try Harness.waitUntil("alice on host one", timeout: 20) { try record(firstSocket, "GetUserRecord", Query(userName: "alice")) != nil }
        #expect(try record(firstSocket, "GetUserRecord", Query(userName: "alice"))?["uid"] as? Int == pinned)
        let ids = try first.ctl(["ids", "contoso"])
        #expect(ids.status == 0, "\(ids.stderr)")
        let lines = ids.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count >= 7 + 2, "\(ids.stdout)")  // 7 users, 2 groups
        #expect(lines.contains("\(aliceId) \(pinned)"), "\(ids.stdout)")
        #expect(try first.stop() == 0)

        // Host two: a fresh state, the same tenant, host one's `ids` output as its pins file.
        let second = DaemonHarness()
        let secondSocket = second.directory + "/userdb/io.entrasync"
        second.extraArguments = ["--userdb-socket", secondSocket]
        try second.write("contoso.pins", ids.stdout)
        try second.writeProfile("contoso", simulator: sim, extra: linux(second.configDirectory + "/contoso.pins"))
        try second.start()
        try Harness.waitUntil("alice on host two", timeout: 20) { try record(secondSocket, "GetUserRecord", Query(userName: "alice")) != nil }
        #expect(try record(secondSocket, "GetUserRecord", Query(userName: "alice"))?["uid"] as? Int == pinned)
        // Every user and group holds the id it holds on host one.
        #expect(try second.ctl(["ids", "contoso"]).stdout == ids.stdout)
        #expect(!second.log.contains("not its pinned id"), "\(second.log.suffix(2000))")

        // A pins file with a bad line stops the profile with the file and line named.
        try second.write("contoso.pins", ids.stdout + "\(aliceId) 5\n")
        _ = try second.ctl(["reload"])
        let status = try second.status()["contoso"]
        let error = status?["error"] as? String ?? ""
        #expect(error.contains("contoso.pins:\(ids.stdout.split(separator: "\n").count + 1): IdPinsFile:"), "\(status ?? [:])")
        #expect(try second.stop() == 0)
    }
}
