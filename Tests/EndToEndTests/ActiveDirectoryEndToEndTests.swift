import Foundation
import Testing
import TestSupport

/// The daemon provisions the Samba AD domain controller of scripts/samba-ad-test.sh from the
/// simulated tenant (Schema=activedirectory); skipped without it.
@Suite("Active Directory provisioning end to end", .serialized, .enabled(if: SambaDC.available))
struct ActiveDirectoryEndToEndTests {
    @Test("users with UPN, a unique sAMAccountName and userAccountControl, groups with their members, from the simulator; check passes; no secret logged")
    func provision() throws {
        let dc = try #require(SambaDC.current)
        let people = "OU=e2e-people,\(SambaDC.suffix)", groups = "OU=e2e-groups,\(SambaDC.suffix)"
        for dn in [people, groups] { try dc.wipe(dn) }
        defer { for dn in [people, groups] { try? dc.wipe(dn) } }
        let sim = try Simulator(users: 60, groups: 8, memberships: 90)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: """

            [LDAP:ad]
            URI=\(dc.uri)
            BindDN=\(SambaDC.adminDN)
            BindPasswordFile=\(dc.passwordFile)
            CAFile=\(dc.caFile)
            BaseDN=\(SambaDC.suffix)
            UsersDN=\(people)
            GroupsDN=\(groups)
            Schema=activedirectory
            """)
        let check = try Harness.run(Harness.binary("entra-syncctl"), ["check", "contoso", "--config-dir", daemon.configDirectory])
        for step in ["connect", "bind", "base", "write"] { #expect(check.stdout.contains("ldap     OK     \(step): [LDAP:ad]"), "\(step): \(check.stdout)") }

        try daemon.start()
        let status = try daemon.waitForScim("contoso", state: ["in-sync", "failing"], command: "ldap")
        #expect(status["state"] as? String == "in-sync" && status["failed"] as? Int == 0, "\(status)")
        let mirror = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        var byId: [String: (dn: String, lines: [String])] = [:]
        for (dn, lines) in try dc.entries(filter: "(msDS-cloudExtensionAttribute1=*)",
                                          attributes: ["msDS-cloudExtensionAttribute1", "userPrincipalName", "sAMAccountName", "userAccountControl", "member"]) {
            let id = lines.first { $0.hasPrefix("msDS-cloudExtensionAttribute1: ") }.map { String($0.dropFirst(31)) } ?? ""
            #expect(byId[id] == nil, "\(id) is on two entries")
            byId[id] = (dn, lines)
        }
        #expect(Set(byId.keys) == Set(mirror.users.keys).union(mirror.groups.keys))
        var accountNames = Set<String>()
        for (id, user) in mirror.users {
            let lines = byId[id]?.lines ?? []
            #expect(lines.contains("userPrincipalName: \(user.userPrincipalName ?? "")"), "\(id)")
            #expect(lines.contains("userAccountControl: \(user.accountEnabled == false ? 514 : 512)"), "\(id): \(lines)")
            let name = lines.first { $0.hasPrefix("sAMAccountName: ") }.map { String($0.dropFirst(16)) } ?? ""
            #expect(!name.isEmpty && name.count <= 20 && accountNames.insert(name.lowercased()).inserted, "\(id): \(name)")
        }
        let dnOf = byId.mapValues { $0.dn.lowercased() }
        for (id, group) in mirror.groups {
            let members = Set(byId[id]?.lines.filter { $0.hasPrefix("member: ") }.map { $0.dropFirst(8).lowercased() } ?? [])
            #expect(members == Set(group.members.compactMap { dnOf[$0] }), "members of \(id)")
        }
        #expect(!daemon.log.contains(dc.password), "the bind password is never logged")
    }
}
