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

/// Schema=activedirectory against a real Samba AD domain controller (scripts/samba-ad-test.sh
/// starts it and sets ENTRA_SAMBA_DC; skipped without). What the DC holds afterwards is read back
/// with a paged search and compared with the mirror. Each test works under its own OUs.
@Suite("Active Directory push against Samba AD", .serialized, .enabled(if: SambaDC.available))
struct ActiveDirectoryPusherTests {
    typealias Journal = LdapPusherTests.Journal
    static let logger = Logger(label: "test")
    static var dc: SambaDC { SambaDC.current! }

    static func target(_ tag: String, mode: LdapTarget.DeprovisionMode = .disable) -> LdapTarget {
        var t = LdapTarget(name: "ad", uri: dc.uri, bind: .simple(dn: SambaDC.adminDN, password: Secret(dc.password), file: dc.passwordFile),
                           baseDN: SambaDC.suffix)
        t.schema = .activedirectory
        t.userRDN = .cn
        t.caFile = dc.caFile
        t.usersDN = "OU=\(tag)-people,\(SambaDC.suffix)"
        t.groupsDN = "OU=\(tag)-groups,\(SambaDC.suffix)"
        t.deprovisionMode = mode
        if mode == .move { t.disabledDN = "OU=\(tag)-disabled,\(SambaDC.suffix)" }
        t.requestTimeout = 10
        return t
    }

    /// Removes what a test leaves under its OUs (the domain is shared, and sAMAccountNames are unique in it).
    static func wipe(_ target: LdapTarget) throws {
        for dn in [target.usersDN, target.groupsDN, target.disabledDN].compactMap({ $0 }) { try dc.wipe(dn) }
    }

    /// Ada, Bob, Cy, Di; g1 Engineering ⊃ {u1, u2, g2}, g2 Ops ⊃ {u3}, g3 Nobody Yet (empty).
    static func mirror() -> MirrorState {
        var s = MirrorState()
        for (id, upn, name) in [("u1", "ada@contoso.com", "Ada Lovelace"), ("u2", "bob@contoso.com", "Bob"), ("u3", "cy@contoso.com", "Cy"),
                                ("u4", "di@contoso.com", "Di")] {
            s.apply(.upsertUser(DirectoryUser(id: id, userPrincipalName: upn, displayName: name, surname: name.split(separator: " ").last.map(String.init),
                                              mail: upn, accountEnabled: true)))
        }
        for (id, name) in [("g1", "Engineering"), ("g2", "Ops"), ("g3", "Nobody Yet")] { s.apply(.upsertGroup(DirectoryGroup(id: id, displayName: name))) }
        for (g, m, k) in [("g1", "u1", MemberKind.user), ("g1", "u2", .user), ("g1", "g2", .group), ("g2", "u3", .user)] {
            s.apply(.addMember(group: g, member: ObjectID(m), kind: k))
        }
        return s
    }

    static func desired(_ m: MirrorState, _ target: LdapTarget) -> LdapDesired {
        LdapDesired(view: ScopedView(state: m, scope: Scope()), target: target)
    }

    static func push(_ target: LdapTarget, _ journal: Journal, _ desired: LdapDesired, reconcile: Bool = false) -> PushSummary {
        let pusher = LdapPusher(target: target, state: journal.state, logger: logger, cancel: CancellationFlag()) { try journal.write($0) }
        pusher.reconcile = reconcile
        return pusher.push(desired: desired, deletionLimit: nil, retryAll: false)
    }

    static let idAttribute = ActiveDirectory.idAttribute

    /// Every entry under the domain that carries an object id, read back with a paged search (pages of 2).
    static func readBack(_ idAttribute: String = ActiveDirectory.idAttribute) throws -> [String: LDAPConnection.Entry] {
        let ldap = try LDAPConnection(uri: dc.uri, caFile: dc.caFile, timeout: 10)
        try ldap.bind(dn: SambaDC.adminDN, password: dc.password)
        let entries = try ldap.search(base: SambaDC.suffix, scope: .subtree, filter: "(\(idAttribute)=*)",
                                      attributes: ["*", "objectGUID", "pwdLastSet", "groupType", "memberOf"], pageSize: 2)
        let byId = Dictionary(grouping: entries) { $0.first(idAttribute)! }
        #expect(byId.values.allSatisfy { $0.count == 1 }, "an object id appears on more than one entry")
        return byId.mapValues { $0[0] }
    }

    /// Fails unless the DC holds exactly the desired entries (DN, managed attributes, member DNs);
    /// `disabled`: users kept with ACCOUNTDISABLE and in no group.
    static func expectMatches(_ desired: LdapDesired, disabled: Set<String> = [], except: Set<String> = [],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let byId = try readBack(desired.dialect.idAttribute)
        let want = desired.users.merging(desired.groups) { a, _ in a }.filter { !except.contains($0.key) }
        #expect(Set(byId.keys).subtracting(disabled) == Set(want.keys), sourceLocation: sourceLocation)
        let dnOf = want.mapValues { LdapDN.normalized($0.dn) }
        let managed = Set(desired.dialect.userAttributes + desired.dialect.groupAttributes)
        for (id, entry) in want {
            guard let found = byId[id] else { continue }
            #expect(LdapDN.normalized(found.dn) == dnOf[id], "\(id)", sourceLocation: sourceLocation)
            #expect(found.attributes.filter { managed.contains($0.key) } == entry.attributes.dictionary, "\(id)", sourceLocation: sourceLocation)
            if desired.groups[id] != nil {
                let members = Set((found.attributes["member"] ?? []).map(LdapDN.normalized))
                #expect(members == Set(desired.members(of: id).compactMap { dnOf[$0] }), "members of \(id)", sourceLocation: sourceLocation)
                #expect(found.first("groupType") == ActiveDirectory.globalSecurityGroup, sourceLocation: sourceLocation)
            } else {
                #expect(found.first("pwdLastSet").map { $0 != "0" } == true, "\(id) was given a password", sourceLocation: sourceLocation)
            }
        }
        for id in disabled {
            #expect(ActiveDirectory.isDisabled(byId[id]?.first("userAccountControl")), "\(id) disabled", sourceLocation: sourceLocation)
            #expect(byId[id]?.attributes["memberof"] == nil, "\(id) left its groups", sourceLocation: sourceLocation)
        }
    }

    @Test("create, update (attributes, modrdn, UPN), disable, group membership and nested groups, deprovision by disabling; a second push sends nothing")
    func provisionAndChange() throws {
        let target = Self.target("cycle")
        try Self.wipe(target)
        defer { try? Self.wipe(target) }
        let journal = Journal()
        var mirror = Self.mirror()
        var desired = Self.desired(mirror, target)
        let first = Self.push(target, journal, desired)
        #expect(first.result == .succeeded && first.failed == 0, "\(first.error ?? "") \(journal.state.failures)")
        #expect(first.created == 7)
        try Self.expectMatches(desired)
        let ada = try #require(try Self.readBack()["u1"])
        #expect(ada.first("userAccountControl") == "512" && ada.first("sAMAccountName") == "ada", "enabled: a password nobody knows was set")
        #expect(try Self.readBack()["g3"]?.attributes["member"] == nil, "an empty group stays empty")
        #expect(Self.push(target, journal, desired).operations == 0)

        mirror.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada.king@contoso.com", displayName: "Ada King", surname: "King",
                                               mail: "ada@contoso.com", accountEnabled: true, jobTitle: "Countess", employeeId: "1815")))
        mirror.apply(.upsertUser(DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", displayName: "Bob", surname: "Bob",
                                               mail: "bob@contoso.com", accountEnabled: false)))
        mirror.apply(.upsertUser(DirectoryUser(id: "u5", userPrincipalName: "ed@contoso.com", displayName: "Ed", accountEnabled: true)))
        mirror.apply(.removeUser("u4"))
        mirror.apply(.upsertGroup(DirectoryGroup(id: "g2", displayName: "Operations", description: "on call")))
        mirror.apply(.addMember(group: "g3", member: ObjectID("u5"), kind: .user))
        mirror.apply(.removeMember(group: "g1", member: ObjectID("g2")))
        mirror.apply(.addMember(group: "g3", member: ObjectID("g1"), kind: .group))
        mirror.apply(.removeMember(group: "g2", member: ObjectID("u3")))
        mirror.apply(.addMember(group: "g2", member: ObjectID("u4"), kind: .user))  // u4 is gone: not a member
        desired = Self.desired(mirror, target)
        let change = Self.push(target, journal, desired)
        #expect(change.result == .succeeded && change.failed == 0, "\(change.error ?? "") \(journal.state.failures)")
        #expect(change.created == 1 && change.deprovisioned == 1)
        try Self.expectMatches(desired.settled(journal.state), disabled: ["u4"])
        let after = try Self.readBack()
        #expect(after["u1"]?.dn.lowercased() == "cn=ada king,\(target.usersDN.lowercased())")
        #expect(after["u1"]?.first("objectGUID") == ada.first("objectGUID"), "renamed by modrdn, not re-created")
        #expect(after["u1"]?.first("sAMAccountName") == "ada", "the acknowledged sAMAccountName is kept when the UPN changes")
        #expect(after["u1"]?.first("userPrincipalName") == "ada.king@contoso.com" && after["u1"]?.first("employeeID") == "1815")
        #expect(after["u2"]?.first("userAccountControl") == "514", "disabled in Entra, disabled in AD")
        #expect(after["u4"]?.first("userAccountControl") == "514", "gone from Entra: disabled")
        #expect(after["g2"]?.first("sAMAccountName") == "Ops" && after["g2"]?.first("cn") == "Operations", "a renamed group keeps its account name")
        #expect(Self.push(target, journal, desired).operations == 0, "in step")

        // Back in Entra: enabled again, back in its group.
        mirror.apply(.upsertUser(DirectoryUser(id: "u4", userPrincipalName: "di@contoso.com", displayName: "Di", surname: "Di", mail: "di@contoso.com",
                                               accountEnabled: true)))
        mirror.apply(.addMember(group: "g2", member: ObjectID("u4"), kind: .user))
        desired = Self.desired(mirror, target)
        let restored = Self.push(target, journal, desired)
        #expect(restored.result == .succeeded && restored.failed == 0, "\(restored.error ?? "") \(journal.state.failures)")
        try Self.expectMatches(desired.settled(journal.state))
        #expect(try Self.readBack()["u4"]?.first("userAccountControl") == "512")
    }

    @Test("a crash after any acknowledged operation resumes without duplicates: adds found by their id, member values already there taken as done")
    func crashResumes() throws {
        let target = Self.target("crash")
        try Self.wipe(target)
        defer { try? Self.wipe(target) }
        let desired = Self.desired(Self.mirror(), target)
        let journal = Journal()
        var crashes = 0
        // Each push dies after the DC acknowledged an operation the journal never heard of.
        for _ in 0..<40 {
            journal.limit = journal.commits + 2
            let summary = Self.push(target, journal, desired)
            journal.limit = .max
            if summary.result == .succeeded { break }
            #expect(summary.result == .failed && summary.error?.contains("journal") == true, "\(summary)")
            #expect(journal.state.failures.isEmpty, "a resumed operation is never refused: \(journal.state.failures.values.map(\.detail))")
            crashes += 1
        }
        #expect(crashes >= 3)
        let last = Self.push(target, journal, desired)
        #expect(last.result == .succeeded && last.operations == 0, "\(last)")
        try Self.expectMatches(desired)
    }

    @Test("sAMAccountName collisions: two users of one local part, a long name, a foreign account holding a name (refused with the DC's message)")
    func accountNameCollisions() throws {
        let target = Self.target("names")
        try Self.wipe(target)
        defer { try? Self.wipe(target) }
        var mirror = MirrorState()
        let b = "b2a7c3d4-0000-0000-0000-000000000001", a = "a91f0e2d-0000-0000-0000-000000000002"
        mirror.apply(.upsertUser(DirectoryUser(id: b, userPrincipalName: "sam@contoso.com", displayName: "Sam Contoso", accountEnabled: true)))
        mirror.apply(.upsertUser(DirectoryUser(id: a, userPrincipalName: "sam@fabrikam.com", displayName: "Sam Fabrikam", accountEnabled: true)))
        mirror.apply(.upsertUser(DirectoryUser(id: "c1", userPrincipalName: "maximilian.alexander-lindqvist@contoso.com", displayName: "Max",
                                               accountEnabled: true)))
        mirror.apply(.upsertGroup(DirectoryGroup(id: "g1", displayName: "sam")))
        let journal = Journal()
        let first = Self.push(target, journal, Self.desired(mirror, target))
        #expect(first.result == .succeeded && first.failed == 0, "\(first.error ?? "") \(journal.state.failures)")
        let held = try Self.readBack()
        #expect(held[a]?.first("sAMAccountName") == "sam", "the smaller object id gets the name")
        #expect(held[b]?.first("sAMAccountName") == "sam-b2a7")
        #expect(held["c1"]?.first("sAMAccountName") == "maximilian.alexander", "20 characters")
        #expect(held["g1"]?.first("sAMAccountName") == "sam-g1", "users and groups share one namespace")

        // An account entra-sync does not manage takes "zed" after first contact: the new Entra user is refused, the others go on.
        try Self.dc.tool("ldapadd", [], input: """
            dn: CN=Zed Local,\(target.usersDN)
            objectClass: user
            sAMAccountName: zed

            """)
        mirror.apply(.upsertUser(DirectoryUser(id: "d1", userPrincipalName: "zed@contoso.com", displayName: "Zed", accountEnabled: true)))
        mirror.apply(.upsertUser(DirectoryUser(id: "e1", userPrincipalName: "yan@contoso.com", displayName: "Yan", accountEnabled: true)))
        let desired = Self.desired(mirror, target)
        let second = Self.push(target, journal, desired)
        #expect(second.result == .partial && second.created == 1, "\(second)")
        let refusal = try #require(journal.state.failures["d1"])
        #expect(refusal.status == Int(LDAPError.alreadyExists) && refusal.detail.contains("zed"), "the DC's message: \(refusal.detail)")
        try Self.expectMatches(desired.settled(journal.state), except: ["d1"])
        #expect(try Self.dc.tool("ldapsearch", ["-LLL", "-b", target.usersDN, "(sAMAccountName=zed)", "cn"]).contains("cn: Zed Local"),
                "the foreign account is untouched")

        // A UPN change that would derive another name does not rename a provisioned account.
        mirror.apply(.upsertUser(DirectoryUser(id: b, userPrincipalName: "samuel@contoso.com", displayName: "Sam Contoso", accountEnabled: true)))
        let renamed = Self.push(target, journal, Self.desired(mirror, target))
        #expect(renamed.updated == 1 && renamed.created == 0, "\(renamed) \(journal.state.failures)")
        #expect(try Self.readBack()[b]?.first("sAMAccountName") == "sam-b2a7")
    }

    @Test("DeprovisionMode=delete removes users and groups; move puts a user under DisabledDN=, disabled, out of its groups")
    func deprovision() throws {
        for mode in [LdapTarget.DeprovisionMode.delete, .move] {
            let target = Self.target("dep-\(mode.rawValue)", mode: mode)
            try Self.wipe(target)
            defer { try? Self.wipe(target) }
            let journal = Journal()
            var mirror = Self.mirror()
            #expect(Self.push(target, journal, Self.desired(mirror, target)).result == .succeeded)
            let guid = try Self.readBack()["u1"]?.first("objectGUID")
            mirror.apply(.removeUser("u1"))
            mirror.apply(.removeGroup("g2"))
            let desired = Self.desired(mirror, target)
            let summary = Self.push(target, journal, desired)
            #expect(summary.result == .succeeded && summary.failed == 0 && summary.deprovisioned == 2, "\(mode): \(summary) \(journal.state.failures)")
            if mode == .delete {
                try Self.expectMatches(desired)
            } else {
                try Self.expectMatches(desired, disabled: ["u1"])
                let parked = try #require(try Self.readBack()["u1"])
                #expect(parked.dn.lowercased() == "cn=ada lovelace,\(target.disabledDN!.lowercased())" && parked.first("objectGUID") == guid)
            }
            #expect(Self.push(target, journal, desired).operations == 0)
        }
    }

    @Test("first contact adopts accounts by userPrincipalName and groups by cn, stamps the object id, keeps their sAMAccountName and flags")
    func adoption() throws {
        let target = Self.target("adopt")
        try Self.wipe(target)
        defer { try? Self.wipe(target) }
        let password = Data("\"Adopted-Pass-42#x\"".utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }).base64EncodedString()
        try Self.dc.tool("ldapadd", [], input: """
            dn: \(target.usersDN)
            objectClass: organizationalUnit

            dn: \(target.groupsDN)
            objectClass: organizationalUnit

            dn: CN=A. Lovelace,\(target.usersDN)
            objectClass: user
            sAMAccountName: alovelace
            userPrincipalName: ada@contoso.com
            telephoneNumber: +1 555 0100
            userAccountControl: 66048
            unicodePwd:: \(password)

            dn: CN=Zed,\(target.usersDN)
            objectClass: user
            sAMAccountName: zed-adopt

            dn: CN=Di,\(target.usersDN)
            objectClass: user
            sAMAccountName: di-nopass
            userPrincipalName: di@contoso.com

            dn: CN=Ops,\(target.groupsDN)
            objectClass: group
            sAMAccountName: ops-adopt
            member: CN=Zed,\(target.usersDN)

            """)
        func guid() throws -> String? {
            try Self.dc.tool("ldapsearch", ["-LLL", "-b", target.usersDN, "(sAMAccountName=alovelace)", "objectGUID"])
                .split(separator: "\n").first { $0.hasPrefix("objectGUID") }.map(String.init)
        }
        let before = try #require(try guid())
        let journal = Journal()
        let desired = Self.desired(Self.mirror(), target)
        let summary = Self.push(target, journal, desired)
        #expect(summary.result == .succeeded && summary.failed == 0, "\(summary.error ?? "") \(journal.state.failures)")
        #expect(summary.created == 4, "ada, Di and Ops were adopted")
        #expect(try Self.readBack()["u4"]?.first("userAccountControl") == "512",
                "an account made without a password (546: PASSWD_NOTREQD) loses that flag (Samba lets it be enabled; Windows refuses until it has a password)")
        let held = try Self.readBack()
        #expect(held["u1"]?.first("sAMAccountName") == "alovelace" && held["u1"]?.first("userAccountControl") == "66048")
        #expect(held["u1"]?.dn.lowercased() == "cn=ada lovelace,\(target.usersDN.lowercased())", "renamed to the Entra name")
        #expect(held["u1"]?.first("telephoneNumber") == "+1 555 0100", "attributes entra-sync does not manage are kept")
        #expect(try guid() == before, "adopted, not re-created")
        #expect(held["g2"]?.first("sAMAccountName") == "ops-adopt")
        let members = Set((held["g2"]?.attributes["member"] ?? []).map { $0.lowercased() })
        #expect(members == ["cn=zed,\(target.usersDN.lowercased())", held["u3"]!.dn.lowercased()], "the foreign member stays")
        #expect(try Self.dc.tool("ldapsearch", ["-LLL", "-b", target.usersDN, "(sAMAccountName=zed-adopt)", Self.idAttribute]).contains(Self.idAttribute) == false,
                "an account not in Entra is not stamped")
        #expect(Self.push(target, journal, desired).operations == 0)
    }

    @Test("Posix=yes: uidNumber, gidNumber, unixHomeDirectory, loginShell on users, gidNumber on groups; IdAttribute=; drift by hand is put back")
    func posixAndDrift() throws {
        var target = Self.target("posix")
        target.idAttribute = "msDS-cloudExtensionAttribute7"
        try Self.wipe(target)
        defer { try? Self.wipe(target) }
        var mirror = Self.mirror()
        for m in mirror.posixIDs.assign(["g1", "g2", "g3", "u1", "u2", "u3", "u4"], in: PosixIDRange(first: 70_000, last: 79_999)) { mirror.apply(m) }
        target.posix = true
        target.homeDirectory = "/home/%l"
        target.loginShell = "/bin/zsh"
        let desired = Self.desired(mirror, target)
        let journal = Journal()
        let first = Self.push(target, journal, desired)
        #expect(first.result == .succeeded && first.failed == 0, "\(first.error ?? "") \(journal.state.failures)")
        try Self.expectMatches(desired)
        let ada = try #require(try Self.readBack(target.idAttribute!)["u1"])
        #expect(try Self.readBack()["u1"] == nil, "the object id is in IdAttribute=, not in the default attribute")
        let id = String(try #require(mirror.posixIDs["u1"]))
        #expect(ada.first("uidNumber") == id && ada.first("gidNumber") == id && ada.first("unixHomeDirectory") == "/home/ada" && ada.first("loginShell") == "/bin/zsh")
        #expect(try Self.readBack(target.idAttribute!)["g1"]?.first("gidNumber") == String(try #require(mirror.posixIDs["g1"])))

        try Self.dc.tool("ldapmodify", [], input: """
            dn: \(ada.dn)
            changetype: modify
            replace: loginShell
            loginShell: /bin/false
            -
            replace: userAccountControl
            userAccountControl: 514

            """)
        let repaired = Self.push(target, journal, desired, reconcile: true)
        #expect(repaired.result == .succeeded && repaired.updated == 1, "\(repaired) \(journal.state.failures)")
        try Self.expectMatches(desired)
    }
}
