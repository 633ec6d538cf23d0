import EntraConfig
import EntraDirectory
import Testing
@testable import EntraMirror

/// Schema=activedirectory's mapping, sAMAccountName derivation and collision rule, pure.
@Suite("Active Directory plan")
struct ActiveDirectoryPlanTests {
    static var target: LdapTarget {
        var t = LdapTarget(name: "corp", uri: "ldaps://dc.example.test", bind: .external, baseDN: "DC=example,DC=test")
        t.schema = .activedirectory
        t.userRDN = .cn
        return t
    }

    static func desired(_ users: [DirectoryUser], groups: [DirectoryGroup] = [], target: LdapTarget = ActiveDirectoryPlanTests.target,
                        members: [(String, String, MemberKind)] = []) -> LdapDesired {
        var s = MirrorState()
        for u in users { s.apply(.upsertUser(u)) }
        for g in groups { s.apply(.upsertGroup(g)) }
        for (g, m, k) in members { s.apply(.addMember(group: g, member: ObjectID(m), kind: k)) }
        return LdapDesired(view: ScopedView(state: s, scope: Scope()), target: target)
    }

    @Test("a sAMAccountName drops the characters AD forbids and leading/trailing dots and spaces, and keeps 20 characters")
    func accountName() {
        #expect(ActiveDirectory.accountName("ada") == "ada")
        #expect(ActiveDirectory.accountName("a\"d/a\\[b]c:d;e|f=g,h+i*j?k<l>m@n") == "adabcdefghijklmn")
        #expect(ActiveDirectory.accountName(" .ada.lovelace. ") == "ada.lovelace")
        #expect(ActiveDirectory.accountName("bartholomew.fitzgerald-smythe") == "bartholomew.fitzgera")
        #expect(ActiveDirectory.accountName("abcdefghijklmnopqrs.tuv") == "abcdefghijklmnopqrs", "no trailing dot after the cut")
        #expect(ActiveDirectory.accountName("…\u{7}") == "…")
        #expect(ActiveDirectory.accountName("@@@") == "")
    }

    @Test("collisions: the smallest object id keeps the name, the others get a suffix from their id; acknowledged names never change")
    func collisions() {
        let bases = ["b7f0c2aa-1111": "ada", "a1e2d3c4-2222": "ADA", "c9c9c9c9-3333": "ada", "d0d0": "bartholomew.fitzgera", "e1e1e1e1": "bartholomew.fitzgera",
                     "f00d": ""]
        let names = ActiveDirectory.accountNames(bases, kept: [:])
        #expect(names["a1e2d3c4-2222"] == "ADA")
        #expect(names["b7f0c2aa-1111"] == "ada-b7f0")
        #expect(names["c9c9c9c9-3333"] == "ada-c9c9")
        #expect(names["d0d0"] == "bartholomew.fitzgera")
        #expect(names["e1e1e1e1"] == "bartholomew.fit-e1e1", "cut to fit 20 with the suffix")
        #expect(names["f00d"] == "f00d", "an empty name: the id's letters and digits")
        #expect(Set(names.values.map { $0.lowercased() }).count == bases.count)
        #expect(names.values.allSatisfy { $0.count <= 20 })
        #expect(ActiveDirectory.accountNames(bases, kept: [:]) == names, "deterministic")

        // b7f0… was provisioned first as "ada": it keeps it, a1e2… (new) gets the suffix.
        let later = ActiveDirectory.accountNames(bases, kept: ["b7f0c2aa-1111": "ada", "gone": "zed"])
        #expect(later["b7f0c2aa-1111"] == "ada" && later["a1e2d3c4-2222"] == "ADA-a1e2" && later["gone"] == nil)
        // Same four letters at the start of two ids: the longer suffix decides.
        let twins = ActiveDirectory.accountNames(["abcd1111": "x", "abcd2222": "x", "abcd3333": "x"], kept: [:])
        #expect(twins == ["abcd1111": "x", "abcd2222": "x-abcd", "abcd3333": "x-abcd33"])
    }

    @Test("users are `user` entries named by cn with UPN, sAMAccountName, userAccountControl and the object id; groups are `group` entries")
    func mapping() throws {
        let ada = DirectoryUser(id: "u1", userPrincipalName: "ada.lovelace@contoso.com", displayName: "Ada Lovelace", givenName: "Ada", surname: "Lovelace",
                                mail: "ada@contoso.com", accountEnabled: true, jobTitle: "Countess", employeeId: "E1")
        let bob = DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", accountEnabled: false)
        let d = Self.desired([ada, bob], groups: [DirectoryGroup(id: "g1", displayName: "Engineering, Core", description: "core"),
                                                  DirectoryGroup(id: "g2", displayName: "Empty")],
                             members: [("g1", "u1", .user), ("g1", "g2", .group)])
        #expect(d.dialect == .activeDirectory)
        let u1 = try #require(d.users["u1"])
        #expect(u1.dn == "CN=Ada Lovelace,ou=people,DC=example,DC=test")
        #expect(u1.attributes == ["cn": ["Ada Lovelace"], "userprincipalname": ["ada.lovelace@contoso.com"], "samaccountname": ["ada.lovelace"],
                                  "displayname": ["Ada Lovelace"], "givenname": ["Ada"], "sn": ["Lovelace"], "mail": ["ada@contoso.com"],
                                  "title": ["Countess"], "employeeid": ["E1"], "useraccountcontrol": ["512"], "msds-cloudextensionattribute1": ["u1"]])
        let u2 = try #require(d.users["u2"])
        #expect(u2.dn == "CN=bob@contoso.com,ou=people,DC=example,DC=test" && u2.attributes["useraccountcontrol"] == ["514"])
        #expect(u2.attributes["sn"] == nil, "AD does not require sn")
        let g1 = try #require(d.groups["g1"])
        #expect(g1.dn == "CN=Engineering\\, Core,ou=groups,DC=example,DC=test")
        #expect(g1.attributes == ["cn": ["Engineering, Core"], "samaccountname": ["Engineering Core"], "description": ["core"],
                                  "msds-cloudextensionattribute1": ["g1"]])
        #expect(d.members(of: "g1") == ["u1", "g2"])
        #expect(d.members(of: "g2").isEmpty == true, "an empty group stays empty")
        #expect(LdapDialect.activeDirectory.classes(u1.attributes, isGroup: false) == ["user"])
        #expect(LdapDialect.activeDirectory.classes(g1.attributes, isGroup: true) == ["group", "msDS-CloudExtensions"],
                "the cloud extension attributes need their auxiliary class on groups")
        var external = Self.target
        external.idAttribute = "msDS-ExternalDirectoryObjectId"
        #expect(LdapDialect(external).classes(g1.attributes, isGroup: true) == ["group"])
        #expect(LdapDialect(external).groupAttributes.contains("msds-externaldirectoryobjectid"))
    }

    @Test("entries of one name: the one holding the DN (else the smallest object id) keeps CN=NAME, the others are CN=NAME (SAMACCOUNTNAME)")
    func sameNames() {
        let users = [DirectoryUser(id: "b1", userPrincipalName: "sam@contoso.com", displayName: "Sam"),
                     DirectoryUser(id: "a1", userPrincipalName: "sam.two@contoso.com", displayName: "Sam")]
        let d = Self.desired(users, groups: [DirectoryGroup(id: "g2", displayName: "Ops"), DirectoryGroup(id: "g1", displayName: "ops")])
        let people = "ou=people,DC=example,DC=test"
        #expect(d.users["a1"]?.dn == "CN=Sam,\(people)")
        #expect(d.users["b1"]?.dn == "CN=Sam (sam),\(people)" && d.users["b1"]?.attributes["cn"] == ["Sam (sam)"])
        #expect(d.users["b1"]?.attributes["displayname"] == ["Sam"])
        #expect(d.groups["g1"]?.dn == "CN=ops,ou=groups,DC=example,DC=test" && d.groups["g1"]?.attributes["samaccountname"] == ["ops"])
        #expect(d.groups["g2"]?.dn == "CN=Ops (Ops-g2),ou=groups,DC=example,DC=test", "\(String(describing: d.groups["g2"]))")

        // b1 was provisioned as CN=Sam first: it keeps the DN.
        var state = LdapTargetState()
        state.apply(.entry(target: "corp", id: "b1", isGroup: false, link: LdapEntryLink(dn: "CN=Sam,\(people)", attributes: ["samaccountname": ["sam"]])))
        let settled = d.settled(state)
        #expect(settled.users["b1"]?.dn == "CN=Sam,\(people)" && settled.users["a1"]?.dn == "CN=Sam (sam.two),\(people)")
        #expect(settled.settled(state).users == settled.users, "settling twice changes nothing")
        let long = String(repeating: "x", count: 70)
        let cut = Self.desired([DirectoryUser(id: "c1", userPrincipalName: "a@contoso.com", displayName: long),
                                DirectoryUser(id: "c2", userPrincipalName: "b@contoso.com", displayName: long)])
        #expect(cut.users["c1"]?.attributes["cn"] == [String(repeating: "x", count: 64)])
        #expect(cut.users["c2"]?.attributes["cn"] == [String(repeating: "x", count: 60) + " (b)"])
    }

    @Test("Posix=yes adds uidNumber, gidNumber, unixHomeDirectory and loginShell to users and gidNumber to groups")
    func posix() {
        var s = MirrorState()
        s.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com")))
        s.apply(.upsertGroup(DirectoryGroup(id: "g1", displayName: "Ops")))
        for m in s.posixIDs.assign(["u1", "g1"], in: PosixIDRange(first: 70_000, last: 79_999)) { s.apply(m) }
        var target = Self.target
        target.posix = true
        target.homeDirectory = "/home/%l"
        let d = LdapDesired(view: ScopedView(state: s, scope: Scope()), target: target)
        let uid = String(s.posixIDs["u1"]!)
        #expect(d.users["u1"]?.attributes["uidnumber"] == [uid] && d.users["u1"]?.attributes["gidnumber"] == [uid])
        #expect(d.users["u1"]?.attributes["unixhomedirectory"] == ["/home/ada"] && d.users["u1"]?.attributes["loginshell"] == ["/bin/bash"])
        #expect(d.users["u1"]?.attributes["homedirectory"] == nil)
        #expect(d.groups["g1"]?.attributes["gidnumber"] == [String(s.posixIDs["g1"]!)])
    }

    @Test("settled: a UPN change keeps the acknowledged sAMAccountName; disabling keeps the account's other flags; the plan disables by userAccountControl")
    func settledAndDeprovision() {
        let ada = DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com", displayName: "Ada", accountEnabled: true)
        let first = Self.desired([ada])
        var state = LdapTargetState()
        var adopted = first.users["u1"]!
        adopted.attributes["useraccountcontrol"] = ["66048"]  // an adopted account with DONT_EXPIRE_PASSWORD
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: adopted))

        var renamed = ada
        renamed.userPrincipalName = "ada.king@contoso.com"
        renamed.accountEnabled = false
        let next = Self.desired([renamed]).settled(state)
        #expect(next.users["u1"]?.attributes["samaccountname"] == ["ada"], "not renamed")
        #expect(next.users["u1"]?.attributes["useraccountcontrol"] == ["66050"])
        let plan = LdapPlan(desired: next, state: state, mode: .disable).operations
        #expect(plan == [.modify(id: "u1", isGroup: false, attributes: next.users["u1"]!.attributes)])

        // Gone from Entra: disabled once (userAccountControl), then left alone.
        #expect(LdapPlan(desired: LdapDesired(view: ScopedView(state: MirrorState(), scope: Scope()), target: Self.target), state: state,
                         mode: .disable).operations == [.deprovisionUser(id: "u1")])
        var disabled = state
        disabled.apply(.entry(target: "corp", id: "u1", isGroup: false, link: LdapEntryLink(dn: adopted.dn, attributes: next.users["u1"]!.attributes)))
        let empty = LdapDesired(view: ScopedView(state: MirrorState(), scope: Scope()), target: Self.target)
        #expect(LdapPlan(desired: empty, state: disabled, mode: .disable).operations.isEmpty)
        #expect(ActiveDirectory.control("546", enabled: true) == "512", "PASSWD_NOTREQD goes: no empty password on an enabled account")
        #expect(ActiveDirectory.control(nil, enabled: false) == "514")
        let disabling = LdapDialect.activeDirectory.disabling(adopted.attributes)
        #expect(disabling.name == "userAccountControl" && disabling.value == "66050")
    }
}
