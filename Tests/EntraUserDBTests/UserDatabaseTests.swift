@testable import EntraConfig
import EntraControl
import EntraDirectory
import EntraMirror
@testable import EntraUserDB
import Foundation
import EntraLock
import Testing

/// The mirror of a small tenant: two users (one disabled), a nested group with a cycle, a group out
/// of `IncludeGroups=`, and names that need sanitising or collide.
func sampleState(range: PosixIDRange = .default) -> MirrorState {
    var state = MirrorState()
    let users = [
        DirectoryUser(id: "00000000-0000-4000-8000-00000000000a", userPrincipalName: "Alice@contoso.com", displayName: "Alice Example",
                      accountEnabled: true, mailNickname: "alice"),
        DirectoryUser(id: "00000000-0000-4000-8000-00000000000b", userPrincipalName: "bob@contoso.com", displayName: "Bob",
                      accountEnabled: false, mailNickname: "bob"),
        DirectoryUser(id: "00000000-0000-4000-8000-00000000000c", userPrincipalName: "root@contoso.com", accountEnabled: true),
        DirectoryUser(id: "00000000-0000-4000-8000-00000000000d", userPrincipalName: "carol@contoso.com", accountEnabled: true),
    ]
    for user in users { state.apply(.upsertUser(user)) }
    state.apply(.softDeleteUser("00000000-0000-4000-8000-00000000000d"))
    state.apply(.upsertGroup(DirectoryGroup(id: "00000000-0000-4000-8000-0000000000f1", displayName: "Vault Users", description: "vault")))
    state.apply(.upsertGroup(DirectoryGroup(id: "00000000-0000-4000-8000-0000000000f2", displayName: "Vault Admins")))
    state.apply(.upsertGroup(DirectoryGroup(id: "00000000-0000-4000-8000-0000000000f3", displayName: "Elsewhere")))
    // Admins ⊂ Users ⊂ Admins (a cycle); bob is in Admins only, alice in Users; carol (soft-deleted) in Users.
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f1", member: "00000000-0000-4000-8000-0000000000f2", kind: .group))
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f2", member: "00000000-0000-4000-8000-0000000000f1", kind: .group))
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f2", member: "00000000-0000-4000-8000-00000000000b", kind: .user))
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f1", member: "00000000-0000-4000-8000-00000000000a", kind: .user))
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f1", member: "00000000-0000-4000-8000-00000000000d", kind: .user))
    state.apply(.addMember(group: "00000000-0000-4000-8000-0000000000f3", member: "00000000-0000-4000-8000-00000000000a", kind: .user))
    let all = (state.users.keys.map { $0 } + state.groups.keys.map { $0 } + ["00000000-0000-4000-8000-00000000000d"]).sorted()
    for m in state.posixIDs.assign(all, in: range) { state.apply(m) }
    return state
}

func sampleProfile(_ configure: (inout LinuxSettings) -> Void = { _ in }) -> Profile {
    var profile = Profile(name: "contoso", sourceFile: "/etc/entra-sync/contoso.conf", tenantId: "t", clientId: "c",
                          clientSecret: Secret("s"), secretSource: .inline, cloud: .global, loginEndpoint: "", graphEndpoint: "",
                          interval: 900, randomizedDelay: 0, requestTimeout: 60, syncUsers: true, syncGroups: true, maxAttempts: 3)
    var linux = LinuxSettings()
    linux.nameFrom = .upnLocal
    linux.includeGroups = ["Vault Users"]
    configure(&linux)
    profile.linux = linux
    return profile
}

let localAccounts = LocalAccounts(names: ["root", "daemon"], ids: [0, 1])

@Suite("Linux directory and userdb records")
struct LinuxDirectoryTests {
    @Test func usersGroupsAndNestedMemberships() throws {
        let state = sampleState()
        let dir = LinuxDirectory(state: state, profile: sampleProfile(), local: localAccounts)
        #expect(dir.users.map(\.name).sorted() == ["alice", "bob"])
        let alice = try #require(dir.user(name: "alice"))
        #expect(alice.uid == state.posixIDs["00000000-0000-4000-8000-00000000000a"])
        #expect(alice.gid == alice.uid && alice.homeDirectory == "/home/alice" && alice.realName == "Alice Example" && !alice.locked)
        #expect(dir.user(name: "bob")?.locked == true)
        // The soft-deleted user is not served; root is refused (a local name), never served.
        #expect(dir.user(name: "carol") == nil)
        #expect(dir.user(name: "root") == nil)
        #expect(dir.refused.map(\.name) == ["root"])
        // IncludeGroups= keeps Vault Users and what is nested in it; the cycle ends.
        let groups = dir.groups.filter { !$0.isUserGroup }.map(\.name).sorted()
        #expect(groups == ["vault-admins", "vault-users"])
        #expect(dir.group(name: "vault-users")?.members == ["alice", "bob"])
        #expect(dir.group(name: "vault-admins")?.members == ["alice", "bob"])
        #expect(dir.memberOf["alice"] == ["vault-admins", "vault-users"])
        // Each user has its own group, named and numbered like the user.
        #expect(dir.group(gid: alice.uid)?.name == "alice")
        #expect(LinuxDirectory.objects(of: state, profile: sampleProfile()).count == 5)
    }

    @Test func namesAreSanitisedAndCollisionsGetASuffix() throws {
        #expect(LinuxDirectory.sanitize("Zoë Doe:admin") == "zo__doe_admin")
        #expect(LinuxDirectory.sanitize("-x") == "_-x")
        #expect(LinuxDirectory.sanitize("12345") == "_12345")
        var state = sampleState()
        let twin = DirectoryUser(id: "00000000-0000-4000-8000-0000000000ab", userPrincipalName: "alice@fabrikam.com", accountEnabled: true)
        state.apply(.upsertUser(twin))
        for m in state.posixIDs.assign([twin.id], in: .default) { state.apply(m) }
        let dir = LinuxDirectory(state: state, profile: sampleProfile(), local: localAccounts)
        let names = Set(dir.users.map(\.name))
        #expect(names.contains("alice"))
        // The lower id keeps the name; the other is named after its object id.
        let loser = state.posixIDs[twin.id]! < state.posixIDs["00000000-0000-4000-8000-00000000000a"]! ? "00000000-0000-4000-8000-00000000000a" : twin.id
        #expect(dir.users.first { $0.objectId == loser }?.name == "alice-" + loser.prefix(8))
    }

    @Test func localIdsAndUnassignedObjectsAreNotServed() throws {
        let state = sampleState()
        let aliceUID = try #require(state.posixIDs["00000000-0000-4000-8000-00000000000a"])
        let dir = LinuxDirectory(state: state, profile: sampleProfile(), local: LocalAccounts(names: [], ids: [aliceUID]))
        #expect(dir.user(name: "alice") == nil)
        #expect(dir.refused.contains { $0.name == "alice" && $0.reason.contains("local account") })
        var fresh = state
        fresh.apply(.upsertUser(DirectoryUser(id: "00000000-0000-4000-8000-0000000000ee", userPrincipalName: "dave@contoso.com")))
        #expect(LinuxDirectory(state: fresh, profile: sampleProfile(), local: localAccounts).user(name: "dave") == nil)
        // Without [Linux] nothing is served.
        var none = sampleProfile()
        none.linux = nil
        #expect(LinuxDirectory(state: state, profile: none, local: localAccounts).users.isEmpty)
    }
}

/// Calls the service as the varlink server would and collects the replies.
func call(_ db: UserDatabase, _ method: String, _ parameters: [String: Any], more: Bool = false) -> (replies: [[String: Any]], error: String?) {
    let collected = Locked<[[UInt8]]>([])
    let replier = VarlinkReplier(oneway: false) { bytes, _ in collected.withLock { $0.append(bytes) } }
    let body = try! JSONSerialization.data(withJSONObject: parameters)
    db.handle(VarlinkCall(method: "io.systemd.UserDatabase." + method, parameters: Array(body), more: more,
                          peer: PeerCredentials(pid: 1, uid: 1000, gid: 1000)), replier)
    var replies: [[String: Any]] = []
    var error: String?
    for var message in collected.withLock({ $0 }) {
        if message.last == 0 { message.removeLast() }
        let object = try! JSONSerialization.jsonObject(with: Data(message)) as! [String: Any]
        if let name = object["error"] as? String { error = name }
        if let p = object["parameters"] as? [String: Any], object["error"] == nil { replies.append(p) }
    }
    return (replies, error)
}

@Suite("io.systemd.UserDatabase")
struct UserDatabaseTests {
    let state = sampleState()
    var db: UserDatabase {
        let dir = LinuxDirectory(state: state, profile: sampleProfile(), local: localAccounts)
        return UserDatabase(service: "io.entrasync") { [dir] }
    }

    @Test func userRecordByNameAndByUid() throws {
        let reply = try #require(call(db, "GetUserRecord", ["userName": "alice", "service": "io.entrasync"]).replies.first)
        #expect(reply["incomplete"] as? Bool == false)
        let record = try #require(reply["record"] as? [String: Any])
        let uid = try #require(record["uid"] as? Int)
        #expect(uid == Int(state.posixIDs["00000000-0000-4000-8000-00000000000a"]!))
        #expect(record["gid"] as? Int == uid)
        #expect(record["userName"] as? String == "alice" && record["realName"] as? String == "Alice Example")
        #expect(record["homeDirectory"] as? String == "/home/alice" && record["shell"] as? String == "/bin/bash")
        #expect(record["disposition"] as? String == "regular" && record["service"] as? String == "io.entrasync")
        #expect(record["locked"] as? Bool == false)
        #expect(record["memberOf"] as? [String] == ["vault-admins", "vault-users"])
        // Nothing private, nothing Entra-internal.
        #expect(Set(record.keys) == ["userName", "uid", "gid", "realName", "homeDirectory", "shell", "disposition", "locked", "memberOf", "service"])
        let byUID = try #require(call(db, "GetUserRecord", ["uid": uid, "service": "io.entrasync"]).replies.first?["record"] as? [String: Any])
        #expect(byUID["userName"] as? String == "alice")
        let bob = try #require(call(db, "GetUserRecord", ["userName": "bob", "service": "io.entrasync"]).replies.first?["record"] as? [String: Any])
        #expect(bob["locked"] as? Bool == true)
    }

    @Test func errorsCarryTheInterfacesNames() {
        #expect(call(db, "GetUserRecord", ["userName": "nobody-here", "service": "io.entrasync"]).error == "io.systemd.UserDatabase.NoRecordFound")
        #expect(call(db, "GetUserRecord", ["userName": "root", "service": "io.entrasync"]).error == "io.systemd.UserDatabase.NoRecordFound")
        #expect(call(db, "GetUserRecord", ["userName": "alice", "service": "io.systemd.Multiplexer"]).error == "io.systemd.UserDatabase.BadService")
        #expect(call(db, "GetUserRecord", ["userName": "alice"]).error == "io.systemd.UserDatabase.BadService")
        let bobUID = Int(state.posixIDs["00000000-0000-4000-8000-00000000000b"]!)
        #expect(call(db, "GetUserRecord", ["userName": "alice", "uid": bobUID, "service": "io.entrasync"]).error
                == "io.systemd.UserDatabase.ConflictingRecordFound")
        #expect(call(db, "GetUserRecord", ["userName": "alice", "uidMax": 1000, "service": "io.entrasync"]).error
                == "io.systemd.UserDatabase.NonMatchingRecordFound")
        #expect(call(db, "GetUserRecord", ["service": "io.entrasync"]).error == "org.varlink.service.ExpectedMore")
        #expect(call(db, "GetGroupRecord", ["groupName": "elsewhere", "service": "io.entrasync"]).error == "io.systemd.UserDatabase.NoRecordFound")
        #expect(call(db, "Nope", ["service": "io.entrasync"]).error == "org.varlink.service.MethodNotFound")
    }

    @Test func enumerationAndMembershipsStreamWithMore() throws {
        let users = call(db, "GetUserRecord", ["service": "io.entrasync"], more: true)
        #expect(users.error == nil)
        #expect(users.replies.compactMap { ($0["record"] as? [String: Any])?["userName"] as? String }.sorted() == ["alice", "bob"])
        let groups = call(db, "GetGroupRecord", ["service": "io.entrasync"], more: true)
        #expect(groups.replies.compactMap { ($0["record"] as? [String: Any])?["groupName"] as? String }.sorted()
                == ["alice", "bob", "vault-admins", "vault-users"])
        let group = try #require(call(db, "GetGroupRecord", ["groupName": "vault-users", "service": "io.entrasync"]).replies.first?["record"] as? [String: Any])
        #expect(group["members"] as? [String] == ["alice", "bob"] && group["description"] as? String == "vault")
        func pairs(_ p: [String: Any]) -> [String] {
            call(db, "GetMemberships", p.merging(["service": "io.entrasync"]) { a, _ in a }, more: true).replies.map {
                "\($0["userName"] as! String):\($0["groupName"] as! String)"
            }
        }
        #expect(pairs(["userName": "bob"]) == ["bob:vault-admins", "bob:vault-users"])
        #expect(pairs(["groupName": "vault-admins"]) == ["alice:vault-admins", "bob:vault-admins"])
        #expect(pairs([:]).count == 4)
        #expect(call(db, "GetMemberships", ["userName": "bob", "groupName": "vault-users", "service": "io.entrasync"]).replies.count == 1)
        #expect(call(db, "GetMemberships", ["userName": "nobody", "service": "io.entrasync"], more: true).error == "io.systemd.UserDatabase.NoRecordFound")
    }

    /// The first profile serving a name wins; the other profile's user is not served, not even by uid.
    @Test func twoProfilesNeverServeOneNameTwice() throws {
        let other = PosixIDRange(first: 100_000, last: 199_999)
        let second = LinuxDirectory(state: sampleState(range: other), profile: sampleProfile(), local: localAccounts)
        let first = LinuxDirectory(state: state, profile: sampleProfile(), local: localAccounts)
        let db = UserDatabase(service: "io.entrasync") { [first, second] }
        let shadowed = try #require(second.user(name: "alice")?.uid)
        #expect(call(db, "GetUserRecord", ["uid": Int(shadowed), "service": "io.entrasync"]).error == "io.systemd.UserDatabase.NoRecordFound")
        #expect(call(db, "GetUserRecord", ["service": "io.entrasync"], more: true).replies.count == 2)
    }
}
