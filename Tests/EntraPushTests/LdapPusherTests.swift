import EntraConfig
import EntraDirectory
import EntraHTTP
import EntraLDAP
@testable import EntraMirror
@testable import EntraPush
import Foundation
import Logging
import Testing
import TestSupport

/// The LDAP push against a real slapd (started per test, see `Slapd`): what the directory holds
/// afterwards is read back with ldapsearch and compared with the mirror.
@Suite("LDAP push against slapd", .serialized)
struct LdapPusherTests {
    static let logger = Logger(label: "test")

    /// The journal of one target: the acknowledged mutations, optionally failing (a crash) after `limit` commits.
    final class Journal {
        var state = LdapTargetState()
        var records: [LdapMutation] = []
        var commits = 0
        var limit = Int.max
        struct Crash: Error {}

        func write(_ mutations: [LdapMutation]) throws {
            commits += 1
            if commits > limit { throw Crash() }
            for m in mutations {
                // Every record goes through the journal encoding, as in the daemon.
                guard case .ldap(let decoded) = try Mutation(record: Mutation.ldap(m).record) else { throw Crash() }
                records.append(decoded)
                state.apply(decoded)
            }
        }
    }

    static func target(_ slapd: Slapd, mode: LdapTarget.DeprovisionMode = .disable) -> LdapTarget {
        var t = LdapTarget(name: "corp", uri: slapd.uri, bind: .simple(dn: Slapd.rootDN, password: Secret(Slapd.rootPassword), file: slapd.passwordFile),
                           baseDN: Slapd.suffix)
        t.deprovisionMode = mode
        t.requestTimeout = 5
        return t
    }

    /// Five users and four groups: g1 ⊃ {u1, u2, g2}, g2 ⊃ {u3}, g3 ⊃ {u1}, g4 empty.
    static func mirror() -> MirrorState {
        var s = MirrorState()
        for (id, upn, name) in [("u1", "ada@contoso.com", "Ada Lovelace"), ("u2", "bob@contoso.com", "Bob"), ("u3", "cy@contoso.com", "Cy"),
                                ("u4", "di@contoso.com", "Di"), ("u5", "ed@contoso.com", "Ed")] {
            s.apply(.upsertUser(DirectoryUser(id: id, userPrincipalName: upn, displayName: name, surname: name.split(separator: " ").last.map(String.init),
                                              mail: upn, accountEnabled: true)))
        }
        for (id, name) in [("g1", "Engineering"), ("g2", "Ops"), ("g3", "Vault Users"), ("g4", "Nobody Yet")] {
            s.apply(.upsertGroup(DirectoryGroup(id: id, displayName: name)))
        }
        for (g, m, k) in [("g1", "u1", MemberKind.user), ("g1", "u2", .user), ("g1", "g2", .group), ("g2", "u3", .user), ("g3", "u1", .user)] {
            s.apply(.addMember(group: g, member: ObjectID(m), kind: k))
        }
        return s
    }

    /// One change of every kind on `mirror()`: create (u6), update (u1), rename (u2, g2), disable (u3),
    /// delete (u5, g3), membership add (u6 to g4) and remove (u2 from g1).
    static func change(_ mirror: inout MirrorState) {
        mirror.apply(.upsertUser(DirectoryUser(id: "u6", userPrincipalName: "fay@contoso.com", displayName: "Fay", accountEnabled: true)))
        mirror.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com", displayName: "Ada Lovelace", surname: "Lovelace",
                                               mail: nil, accountEnabled: true, jobTitle: "Countess")))
        mirror.apply(.upsertUser(DirectoryUser(id: "u2", userPrincipalName: "robert@contoso.com", displayName: "Bob", surname: "Bob",
                                               mail: "bob@contoso.com", accountEnabled: true)))
        mirror.apply(.upsertUser(DirectoryUser(id: "u3", userPrincipalName: "cy@contoso.com", displayName: "Cy", surname: "Cy",
                                               mail: "cy@contoso.com", accountEnabled: false)))
        mirror.apply(.removeUser("u5"))
        mirror.apply(.upsertGroup(DirectoryGroup(id: "g2", displayName: "Operations")))
        mirror.apply(.removeGroup("g3"))
        mirror.apply(.addMember(group: "g4", member: ObjectID("u6"), kind: .user))
        mirror.apply(.removeMember(group: "g1", member: ObjectID("u2")))
    }

    static func desired(_ m: MirrorState, _ target: LdapTarget) -> LdapDesired {
        LdapDesired(view: ScopedView(state: m, scope: Scope()), target: target)
    }

    static func push(_ target: LdapTarget, _ journal: Journal, _ desired: LdapDesired, deletionLimit: Int? = nil,
                     cancel: CancellationFlag = CancellationFlag(), reconcile: Bool = false, inFlight: ((Int) -> Void)? = nil) -> PushSummary {
        let pusher = LdapPusher(target: target, state: journal.state, logger: logger, cancel: cancel) { try journal.write($0) }
        pusher.reconcile = reconcile
        let summary = pusher.push(desired: desired, deletionLimit: deletionLimit, retryAll: false)
        inFlight?(pusher.mostInFlight)
        return summary
    }

    /// Fails unless the directory holds exactly the desired entries: every entry with an
    /// entraObjectId, its DN, its managed attributes and (groups) its member DNs.
    static func expectMatches(_ slapd: Slapd, _ desired: LdapDesired, except: Set<String> = [], disabled: Set<String> = [],
                              foreignMembers: [String: Set<String>] = [:], userAttributes: [String] = LdapPusher.userAttributes,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ldap = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        try ldap.bind(dn: Slapd.rootDN, password: Slapd.rootPassword)
        let entries = try ldap.search(base: Slapd.suffix, scope: .subtree, filter: "(entraObjectId=*)", attributes: ["*"], pageSize: 2)
        let byId = Dictionary(grouping: entries) { $0.first("entraObjectId")! }
        #expect(byId.values.allSatisfy { $0.count == 1 }, "an object id appears on more than one entry", sourceLocation: sourceLocation)
        let want = desired.users.merging(desired.groups) { a, _ in a }.filter { !except.contains($0.key) }
        #expect(Set(byId.keys).subtracting(disabled) == Set(want.keys), sourceLocation: sourceLocation)
        let dnOf = want.mapValues { LdapDN.normalized($0.dn) }
        for (id, entry) in want {
            guard let found = byId[id]?.first else { continue }
            #expect(LdapDN.normalized(found.dn) == dnOf[id], "\(id)", sourceLocation: sourceLocation)
            let names = desired.groups[id] != nil ? LdapPusher.groupAttributes : userAttributes
            let managed = found.attributes.filter { names.contains($0.key) }
            #expect(managed == entry.attributes.dictionary, "\(id)", sourceLocation: sourceLocation)
            if desired.groups[id] != nil {
                let members = Set((found.attributes["member"] ?? []).map(LdapDN.normalized))
                let foreign = Set((foreignMembers[id] ?? []).map(LdapDN.normalized))
                let expected = desired.members(of: id).isEmpty && foreign.isEmpty ? [LdapDN.normalized(found.dn)]
                    : Set(desired.members(of: id).compactMap { dnOf[$0] }).union(foreign)
                #expect(members == expected, "members of \(id)", sourceLocation: sourceLocation)
            }
        }
        for id in disabled {
            #expect(byId[id]?.first?.first("entraAccountEnabled") == "FALSE", "\(id) disabled", sourceLocation: sourceLocation)
            let memberOf = entries.filter { ($0.attributes["member"] ?? []).contains(byId[id]?.first?.dn ?? "-") }
            #expect(memberOf.isEmpty, "\(id) left its groups", sourceLocation: sourceLocation)
        }
    }

    @Test("first load creates the containers and every entry; a second push sends nothing; then a change cycle with modrdn")
    func provisionAndChange() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Self.target(slapd)
        let journal = Journal()
        var mirror = Self.mirror()
        var desired = Self.desired(mirror, target)
        var mostInFlight = 0
        let first = Self.push(target, journal, desired) { mostInFlight = $0 }
        #expect(first.result == .succeeded, "\(first.error ?? "")")
        #expect(first.created == 9)
        #expect(mostInFlight == 5, "the users' adds went out before their answers came back (then the groups')")
        // Each group is added with its members that exist by then, in the same request: the bind, two
        // container checks and adds, two adoption searches, 9 adds, and one modify for g1's nested g2
        // (added alongside g1, so not yet acknowledged when g1 went out).
        #expect(first.memberAdds == 5 && first.requests == 17, "\(first)")
        try Self.expectMatches(slapd, desired)
        #expect(try slapd.entries(base: "ou=groups,\(Slapd.suffix)", filter: "(cn=Nobody Yet)", attributes: ["member"]).values.first
            == ["member: cn=Nobody Yet,ou=groups,\(Slapd.suffix)"], "an empty group holds its own DN")

        let again = Self.push(target, journal, desired)
        #expect(again.result == .succeeded && again.operations == 0 && again.requests == 1, "only the bind: \(again)")

        let uuid = try slapd.entries(filter: "(entraObjectId=u2)", attributes: ["entryUUID"]).values.first
        Self.change(&mirror)
        desired = Self.desired(mirror, target)
        let change = Self.push(target, journal, desired)
        #expect(change.result == .succeeded, "\(change.error ?? "")")
        #expect(change.created == 1 && change.deprovisioned == 2)  // u5 disabled, g3 deleted
        try Self.expectMatches(slapd, desired, disabled: ["u5"])
        #expect(try slapd.entries(filter: "(entraObjectId=u2)", attributes: ["entryUUID"]).values.first == uuid, "renamed by modrdn, not recreated")
        #expect(try slapd.entries(filter: "(uid=bob@contoso.com)").isEmpty)
        #expect(try slapd.entries(base: "ou=groups,\(Slapd.suffix)", filter: "(cn=Nobody Yet)", attributes: ["member"]).values.first
            == ["member: uid=fay@contoso.com,ou=people,\(Slapd.suffix)"], "the placeholder left when a real member came")
        #expect(Self.push(target, journal, desired).operations == 0)
    }

    @Test("a crash after any acknowledged operation resumes without duplicates or errors")
    func crashResumes() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Self.target(slapd)
        let desired = Self.desired(Self.mirror(), target)
        let journal = Journal()
        var crashes = 0
        // Cut the journal after 2 commits of each push: each push dies after the directory acknowledged
        // operations the journal never heard of (the worst moment: a window of pipelined adds or
        // member changes, or one operation), through adds, member changes and the end.
        for _ in 0..<40 {
            journal.limit = journal.commits + 2
            let summary = Self.push(target, journal, desired)
            journal.limit = .max
            if summary.result == .succeeded { break }
            #expect(summary.result == .failed && summary.error?.contains("journal") == true)
            #expect(journal.state.failures.isEmpty, "a resumed operation is never refused: \(journal.state.failures.values.map(\.detail))")
            crashes += 1
        }
        #expect(crashes >= 3)
        let last = Self.push(target, journal, desired)
        #expect(last.result == .succeeded, "\(last.error ?? "")")
        try Self.expectMatches(slapd, desired)
        #expect(try slapd.entries(filter: "(|(objectClass=inetOrgPerson)(objectClass=groupOfNames))").count == 9)
    }

    @Test("a stopping daemon ends the push before the next operation; the next push finishes it")
    func stopping() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Self.target(slapd)
        let desired = Self.desired(Self.mirror(), target)
        let journal = Journal()
        let stop = CancellationFlag()
        // Stop once the first user's add is acknowledged: the adds in flight are answered and
        // journaled, nothing more is sent (the groups).
        let cancelling = LdapPusher(target: target, state: journal.state, logger: Self.logger, cancel: stop) { mutations in
            try journal.write(mutations)
            if mutations.contains(where: { if case .entry = $0 { true } else { false } }) { stop.cancel() }
        }
        let stopped = cancelling.push(desired: desired, deletionLimit: nil, retryAll: false)
        #expect(stopped.result == .failed && stopped.error?.contains("stopping") == true)
        #expect(journal.state.users.count == 5 && journal.state.groups.isEmpty, "\(journal.state.users.count) users, \(journal.state.groups.count) groups")
        #expect(journal.state.lastPush?.result == .failed)
        let resumed = Self.push(target, journal, desired)
        #expect(resumed.result == .succeeded && resumed.created == 4, "the groups, and no user twice: \(resumed)")
        try Self.expectMatches(slapd, desired)
    }

    @Test("a refused entry is recorded with the server's message and blocks no other; deletions beyond MaxDeletions wait")
    func refusedAndHeld() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Self.target(slapd, mode: .delete)
        var mirror = Self.mirror()
        // Same group name twice (the second DN is taken), and a mail that IA5String refuses.
        mirror.apply(.upsertGroup(DirectoryGroup(id: "g9", displayName: "Ops")))
        mirror.apply(.upsertUser(DirectoryUser(id: "u7", userPrincipalName: "jo@contoso.com", displayName: "Jö", mail: "jö@contoso.com")))
        let desired = Self.desired(mirror, target)
        let journal = Journal()
        let summary = Self.push(target, journal, desired)
        #expect(summary.result == .partial)
        #expect(Set(journal.state.failures.keys) == ["u7", "g9"])
        #expect(journal.state.failures["g9"]?.status == Int(LDAPError.alreadyExists))
        #expect(journal.state.failures["u7"]?.detail.isEmpty == false)
        #expect(journal.state.failures["u7"]?.nextAttempt ?? 0 > Date().timeIntervalSince1970 + 30, "retried with backoff")
        try Self.expectMatches(slapd, desired, except: ["u7", "g9"])
        // Within the backoff the refused entries are not sent again.
        #expect(Self.push(target, journal, desired).requests == 1)

        mirror.apply(.removeUser("u4"))
        mirror.apply(.removeUser("u5"))
        mirror.apply(.removeGroup("g4"))
        let smaller = Self.desired(mirror, target)
        let held = Self.push(target, journal, smaller, deletionLimit: 2)
        #expect(held.result == .partial && held.error?.contains("held back") == true)
        #expect(try slapd.entries(filter: "(entraObjectId=u4)").count == 1)
        let approved = Self.push(target, journal, smaller, deletionLimit: 3)
        #expect(approved.deprovisioned == 3)
        #expect(try slapd.entries(filter: "(|(entraObjectId=u4)(entraObjectId=u5)(entraObjectId=g4))").isEmpty)
    }

    @Test("first contact adopts entries by uid and cn, stamps the object id, and leaves foreign entries alone")
    func adoption() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        try slapd.tool("ldapadd", [], input: """
            dn: ou=people,\(Slapd.suffix)
            objectClass: organizationalUnit
            ou: people

            dn: ou=groups,\(Slapd.suffix)
            objectClass: organizationalUnit
            ou: groups

            dn: uid=ada@contoso.com,ou=people,\(Slapd.suffix)
            objectClass: inetOrgPerson
            uid: ada@contoso.com
            cn: Ada (old)
            sn: L
            telephoneNumber: +1 555 0100

            dn: uid=zed@contoso.com,ou=people,\(Slapd.suffix)
            objectClass: inetOrgPerson
            uid: zed@contoso.com
            cn: Zed
            sn: Z

            dn: cn=Ops,ou=groups,\(Slapd.suffix)
            objectClass: groupOfNames
            cn: Ops
            member: uid=zed@contoso.com,ou=people,\(Slapd.suffix)

            """)
        let uuid = try slapd.entries(filter: "(uid=ada@contoso.com)", attributes: ["entryUUID"]).values.first
        let target = Self.target(slapd)
        let desired = Self.desired(Self.mirror(), target)
        let journal = Journal()
        let summary = Self.push(target, journal, desired)
        #expect(summary.result == .succeeded, "\(summary.error ?? "")")
        // zed is not in Entra: its entry and its membership of Ops are left as they were.
        try Self.expectMatches(slapd, desired, foreignMembers: ["g2": ["uid=zed@contoso.com,ou=people,\(Slapd.suffix)"]])
        #expect(try slapd.entries(filter: "(uid=ada@contoso.com)", attributes: ["entryUUID"]).values.first == uuid, "adopted, not recreated")
        #expect(try slapd.entries(filter: "(uid=ada@contoso.com)", attributes: ["telephoneNumber"]).values.first == ["telephoneNumber: +1 555 0100"],
                "attributes entra-sync does not manage are kept")
        #expect(summary.created == 7, "ada and Ops were adopted")
        #expect(try slapd.entries(filter: "(uid=zed@contoso.com)", attributes: ["cn"]).values.first == ["cn: Zed"])
    }

    @Test("an unreachable directory or a refused bind fails the push without touching the state; the password is never in the error")
    func targetFailures() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Self.target(slapd)
        target.bind = .simple(dn: Slapd.rootDN, password: Secret("not-the-password"), file: "/dev/null")
        let journal = Journal()
        let desired = Self.desired(Self.mirror(), target)
        let refused = Self.push(target, journal, desired)
        #expect(refused.result == .failed && refused.error?.contains("Invalid credentials") == true)
        #expect(refused.error?.contains("not-the-password") == false)
        #expect(journal.state.users.isEmpty && !journal.state.adopted)
        slapd.stop()
        let down = Self.push(Self.target(slapd), journal, desired)
        #expect(down.result == .failed)
        #expect(journal.state.lastPush?.result == .failed)
    }

    static func posixEntry(_ slapd: Slapd, _ id: String) throws -> LDAPConnection.Entry? {
        let ldap = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        try ldap.bind(dn: Slapd.rootDN, password: Slapd.rootPassword)
        return try ldap.search(base: Slapd.suffix, scope: .subtree, filter: "(entraObjectId=\(id))",
                               attributes: ["objectClass", "uidNumber", "gidNumber", "homeDirectory", "loginShell", "member"]).first
    }

    @Test("Posix=yes: users become posixAccount and groups posixGroup with the profile's POSIX ids, converted in place and back")
    func posixEntries() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Self.target(slapd)
        let journal = Journal()
        var mirror = Self.mirror()
        let plain = Self.push(target, journal, Self.desired(mirror, target))
        #expect(plain.result == .succeeded, "\(plain.error ?? "")")
        #expect(try Self.posixEntry(slapd, "u1")?.attributes["uidnumber"] == nil)

        // The ids [Linux] assigns (and the userdb serves); Posix= turned on for a populated directory.
        for m in mirror.posixIDs.assign(["g1", "g2", "g3", "g4", "u1", "u2", "u3", "u4", "u5"], in: PosixIDRange(first: 70_000, last: 79_999)) {
            mirror.apply(m)
        }
        target.posix = true
        target.homeDirectory = "/home/%l"
        target.loginShell = "/bin/zsh"
        let desired = Self.desired(mirror, target)
        let converted = Self.push(target, journal, desired)
        #expect(converted.result == .succeeded && converted.failed == 0, "\(converted.error ?? "") \(journal.state.failures)")
        try Self.expectMatches(slapd, desired)
        let ada = try #require(try Self.posixEntry(slapd, "u1"))
        let adaID = try #require(mirror.posixIDs["u1"])
        #expect(Set((ada.attributes["objectclass"] ?? []).map { $0.lowercased() }).isSuperset(of: ["inetorgperson", "posixaccount", "entrasyncobject"]))
        #expect(ada.first("uidNumber") == String(adaID) && ada.first("gidNumber") == String(adaID), "the same id the userdb serves")
        #expect(ada.first("homeDirectory") == "/home/ada" && ada.first("loginShell") == "/bin/zsh")
        let engineering = try #require(try Self.posixEntry(slapd, "g1"))
        #expect(Set((engineering.attributes["objectclass"] ?? []).map { $0.lowercased() }) == ["posixgroup", "entrasyncobject"])
        #expect(engineering.first("gidNumber") == String(try #require(mirror.posixIDs["g1"])))
        #expect(engineering.attributes["member"]?.count == 3, "members kept as DNs: u1, u2 and the nested g2")

        let again = Self.push(target, journal, desired)
        #expect(again.result == .succeeded && again.operations == 0, "\(again)")

        // A first load with Posix=yes (a fresh directory) gives the same entries.
        let fresh = try Slapd()
        defer { fresh.stop() }
        var freshTarget = Self.target(fresh)
        freshTarget.posix = true
        freshTarget.homeDirectory = "/home/%l"
        freshTarget.loginShell = "/bin/zsh"
        let first = Self.push(freshTarget, Journal(), Self.desired(mirror, freshTarget))
        #expect(first.result == .succeeded && first.created == 9, "\(first.error ?? "")")
        try Self.expectMatches(fresh, Self.desired(mirror, freshTarget))

        // Off again: the POSIX attributes and classes go.
        target.posix = false
        let off = Self.desired(mirror, target)
        let back = Self.push(target, journal, off)
        #expect(back.result == .succeeded && back.failed == 0, "\(back.error ?? "") \(journal.state.failures)")
        try Self.expectMatches(slapd, off)
        let plainAda = try #require(try Self.posixEntry(slapd, "u1"))
        #expect(plainAda.attributes["uidnumber"] == nil && !(plainAda.attributes["objectclass"] ?? []).map { $0.lowercased() }.contains("posixaccount"))
    }

    @Test("UserRDN=cn: a first load names users by cn; switching a populated directory from uid renames every user in place")
    func userRDN() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Self.target(slapd)
        let journal = Journal()
        let mirror = Self.mirror()
        #expect(Self.push(target, journal, Self.desired(mirror, target)).result == .succeeded)
        let uuid = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["entryUUID"]).values.first
        target.userRDN = .cn
        let desired = Self.desired(mirror, target)
        let switched = Self.push(target, journal, desired)
        #expect(switched.result == .succeeded && switched.failed == 0, "\(switched.error ?? "") \(journal.state.failures)")
        try Self.expectMatches(slapd, desired)
        let ada = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["entryUUID", "uid"])
        #expect(ada.keys.first?.lowercased() == "cn=ada lovelace,ou=people,\(Slapd.suffix)")
        #expect(ada.values.first?.contains("uid: ada@contoso.com") == true, "the uid modrdn dropped is back")
        #expect(ada.values.first?.first { $0.hasPrefix("entryUUID") } == uuid?.first, "renamed, not re-created")
        #expect(Self.push(target, journal, desired).operations == 0)
    }

    @Test("DeprovisionMode=move: a user who leaves goes under DisabledDN= (created), disabled and out of its groups; restored, it comes back")
    func moveToDisabledDN() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Self.target(slapd, mode: .move)
        target.disabledDN = "ou=disabled,\(Slapd.suffix)"
        let journal = Journal()
        var mirror = Self.mirror()
        #expect(Self.push(target, journal, Self.desired(mirror, target)).result == .succeeded)
        let uuid = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["entryUUID"]).values.first
        let ada = mirror.users["u1"]!
        mirror.apply(.removeUser("u1"))
        let desired = Self.desired(mirror, target)
        let moved = Self.push(target, journal, desired)
        #expect(moved.result == .succeeded && moved.deprovisioned == 1, "\(moved.error ?? "")")
        try Self.expectMatches(slapd, desired, disabled: ["u1"])
        let parked = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["entryUUID", "entraAccountEnabled"])
        #expect(parked.keys.first?.lowercased() == "uid=ada@contoso.com,ou=disabled,\(Slapd.suffix)", "\(parked)")
        #expect(parked.values.first?.contains("entraAccountEnabled: FALSE") == true)
        #expect(parked.values.first?.first { $0.hasPrefix("entryUUID") } == uuid?.first, "moved, not re-created")
        #expect(Self.push(target, journal, desired).operations == 0, "a moved user is not moved again")

        mirror.apply(.upsertUser(ada))
        mirror.apply(.addMember(group: "g3", member: ObjectID("u1"), kind: .user))
        let restored = Self.desired(mirror, target)
        let back = Self.push(target, journal, restored)
        #expect(back.result == .succeeded && back.failed == 0, "\(back.error ?? "")")
        try Self.expectMatches(slapd, restored)
        #expect(try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["entryUUID"]).values.first == uuid)
    }

    @Test("drift repair: entries changed, deleted or stripped of members by hand are put back when the directory is read back; others are left alone")
    func reconcile() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Self.target(slapd)
        let journal = Journal()
        let desired = Self.desired(Self.mirror(), target)
        #expect(Self.push(target, journal, desired).result == .succeeded)

        let admin = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        try admin.bind(dn: Slapd.rootDN, password: Slapd.rootPassword)
        let people = "ou=people,\(Slapd.suffix)", groups = "ou=groups,\(Slapd.suffix)"
        try admin.modify(dn: "uid=ada@contoso.com,\(people)", [.replace("mail", ["hacked@example.org"]), .replace("entraAccountEnabled", ["FALSE"])])
        try admin.delete(dn: "uid=bob@contoso.com,\(people)")
        try admin.modify(dn: "cn=Engineering,\(groups)", [.delete("member", ["uid=ada@contoso.com,\(people)"])])
        try admin.add(dn: "uid=local,\(people)", attributes: [("objectClass", ["inetOrgPerson"]), ("uid", ["local"]), ("cn", ["Local"]), ("sn", ["Local"]),
                                                             ("mail", ["local@example.org"])])

        let blind = Self.push(target, journal, desired)
        #expect(blind.operations == 0, "without reading back, the drift is not seen (so the next check means something)")

        let repaired = Self.push(target, journal, desired, reconcile: true)
        #expect(repaired.result == .succeeded && repaired.failed == 0, "\(repaired.error ?? "") \(journal.state.failures)")
        #expect(repaired.created == 1 && repaired.updated == 1 && repaired.memberAdds >= 1, "\(repaired)")
        try Self.expectMatches(slapd, desired)
        #expect(try slapd.entries(filter: "(uid=local)", attributes: ["mail"]).values.first == ["mail: local@example.org"], "an entry without entraObjectId is never touched")
        #expect(Self.push(target, journal, desired, reconcile: true).operations == 0, "in step again")
    }
}
