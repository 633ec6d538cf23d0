import Foundation
import Testing
import TestSupport

/// The daemon provisions a real slapd (started by the test, see `Slapd`) from the simulated tenant.
@Suite("LDAP provisioning end to end", .serialized)
struct LdapEndToEndTests {
    /// An `[LDAP]` section (`[LDAP:NAME]` with `name`) binding as the root DN of `slapd`, plus `extra` lines.
    static func section(_ slapd: Slapd, name: String? = nil, extra: String = "") -> String {
        "\n[LDAP\(name.map { ":" + $0 } ?? "")]\nURI=\(slapd.uri)\nBindDN=\(Slapd.rootDN)\nBindPasswordFile=\(slapd.passwordFile)\nBaseDN=\(Slapd.suffix)\n" + extra
    }

    /// slapd, a tenant of 12 users and 2 groups, and a daemon that provisioned them: the target's status after that push.
    static func provisionedDaemon() throws -> (slapd: Slapd, sim: Simulator, daemon: DaemonHarness, status: [String: Any]) {
        let slapd = try Slapd()
        let sim = try Simulator(users: 12, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd))
        try daemon.start()
        return (slapd, sim, daemon, try daemon.waitForScim("contoso", command: "ldap"))
    }

    /// Every entry under the suffix that carries an entraObjectId: id → (DN, attributes as ldapsearch prints them).
    static func provisioned(_ slapd: Slapd) throws -> [String: (dn: String, lines: [String])] {
        var result: [String: (dn: String, lines: [String])] = [:]
        for (dn, lines) in try slapd.entries(filter: "(entraObjectId=*)", attributes: ["entraObjectId", "member", "uid", "cn", "entraAccountEnabled"]) {
            let id = lines.first { $0.hasPrefix("entraObjectId: ") }.map { String($0.dropFirst(15)) } ?? ""
            #expect(result[id] == nil, "\(id) is on two entries: \(dn) and \(result[id]?.dn ?? "")")
            result[id] = (dn, lines)
        }
        return result
    }

    /// The directory holds the daemon's mirror (its export), entry by entry: every user and group, UPNs,
    /// enabled flags and members (DeprovisionMode=delete: nothing else). Returns the mirror.
    @discardableResult
    static func expectMirrored(_ slapd: Slapd, _ daemon: DaemonHarness, target: [String: Any],
                               sourceLocation: SourceLocation = #_sourceLocation) throws -> Mirror {
        let mirror = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        let entries = try Self.provisioned(slapd)
        // Group names are not unique in Entra: the first of a name (by object id) gets cn=NAME, the
        // others are refused (the DN is taken) and listed as failed, without blocking anything else.
        var byName: [String: [String]] = [:]
        for (id, group) in mirror.groups { byName[(group.displayName ?? id).lowercased(), default: []].append(id) }
        let refused = Set(byName.values.flatMap { $0.sorted().dropFirst() })
        #expect(target["failed"] as? Int == refused.count, "\(target)", sourceLocation: sourceLocation)
        #expect(Set(entries.keys) == Set(mirror.users.keys).union(mirror.groups.keys).subtracting(refused), sourceLocation: sourceLocation)
        let dnOf = entries.mapValues { $0.dn.lowercased() }
        for (id, user) in mirror.users {
            #expect(entries[id]?.lines.contains("uid: \(user.userPrincipalName ?? "")") == true, "\(id)", sourceLocation: sourceLocation)
            #expect(entries[id]?.lines.contains("entraAccountEnabled: \(user.accountEnabled == false ? "FALSE" : "TRUE")") == true, "\(id)",
                    sourceLocation: sourceLocation)
        }
        for (id, group) in mirror.groups where !refused.contains(id) {
            let members = Set(entries[id]?.lines.filter { $0.hasPrefix("member: ") }.map { $0.dropFirst(8).lowercased() } ?? [])
            let wanted = Set(group.members.compactMap { dnOf[$0] })
            #expect(members == (wanted.isEmpty ? [dnOf[id]!] : wanted), "members of \(id)", sourceLocation: sourceLocation)
        }
        return mirror
    }

    @Test("after the first push, each run's push plans only the objects it changed, and the directory still matches the mirror entry by entry")
    func incrementalPushes() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let sim = try Simulator(users: 300, groups: 30, memberships: 900)
        let daemon = DaemonHarness()
        daemon.extraArguments = ["--log-level", "debug"]
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd, extra: "DeprovisionMode=delete\n"))
        try daemon.start()
        var status = try daemon.waitForScim("contoso", command: "ldap")
        #expect(!daemon.log.contains("desired ("), "the first push after a start plans every entry")
        let users = try ScimEndToEndTests.users(sim).map { $0["id"] as! String }
        for round in 1...3 {
            // Every kind of change the tenant's churn makes, and a rename (a new UPN is a new DN).
            try sim.admin("POST", "/_sim/churn", ["seed": round, "changes": 40])
            try sim.admin("PATCH", "/_sim/users/\(users[round])", ["userPrincipalName": "renamed\(round)@contoso.com"])
            _ = try daemon.runNow("contoso")
            status = try daemon.waitForScim("contoso", state: ["in-sync", "failing"], after: status, command: "ldap")
            try Self.expectMirrored(slapd, daemon, target: status)
        }
        let planned = daemon.log.components(separatedBy: "desired (").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        #expect(planned.count == 3, "each push after a run was incremental")
        #expect(planned.allSatisfy { $0 < 200 }, "\(planned): the objects changed and the groups that list them, not all 330")
    }

    @Test("the first load is killed with SIGKILL mid-push and resumes without duplicates; status shows the target; entries match the mirror")
    func provisionKillResume() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let sim = try Simulator(users: 1200, groups: 200, memberships: 2400, pageSize: 500)
        let daemon = DaemonHarness()
        // Paced, so that the push is still under way when the test sees it begin (a busy machine
        // may run the test's ldapsearch less often than a quick push takes).
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd, extra: "MaxRequestsPerSecond=400\n"))
        try daemon.start()  // returns after the sync; the push follows on its own queue
        try Harness.waitUntil("the push to be under way", timeout: 60, every: 0.01) {
            (try? slapd.entries(base: "ou=people,\(Slapd.suffix)", filter: "(uid=*)", attributes: ["1.1"]).count) ?? 0 >= 50
        }
        _ = try daemon.stop(SIGKILL)
        let partial = try Self.provisioned(slapd).count
        #expect(partial < 1400, "the push finished before the kill; nothing was tested")

        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd))
        try daemon.start()
        var target: [String: Any] = [:]
        try Harness.waitUntil("the LDAP target to be pushed after the restart", timeout: 120, every: 0.25) {
            target = (try daemon.status()["contoso"]?["ldapTargets"] as? [[String: Any]])?.first ?? [:]
            return ["in-sync", "failing"].contains(target["state"] as? String ?? "") && (target["pushes"] as? Int ?? 0) > 0
        }
        let mirror = try Self.expectMirrored(slapd, daemon, target: target)
        let status = try daemon.ctl(["status", "contoso"])
        #expect(status.stdout.contains("ldap default: \(target["state"] as? String ?? "")"), "\(status.stdout)")
        let metrics = try String(contentsOfFile: daemon.stateDirectory + "/contoso/metrics.prom", encoding: .utf8)
        #expect(metrics.contains("entra_sync_ldap_objects{profile=\"contoso\",target=\"default\",kind=\"users\"} \(mirror.users.count)"), "\(metrics)")
        #expect(!daemon.log.contains(Slapd.rootPassword), "the bind password is never logged")
    }

    @Test("entra-syncctl ldap: --plan is a dry run; MaxDeletions= holds deletions back until --allow-deletions approves them")
    func planAndDeletionGuard() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let sim = try Simulator(users: 20, groups: 2, memberships: 20)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd, name: "corp", extra: "DeprovisionMode=delete\nMaxDeletions=2\n"))
        try daemon.start()
        var status = try daemon.waitForScim("contoso", command: "ldap")
        #expect(status["name"] as? String == "corp" && status["endpoint"] as? String == slapd.uri)
        func people() throws -> Int { try slapd.entries(base: "ou=people,\(Slapd.suffix)", filter: "(uid=*)", attributes: ["1.1"]).count }
        #expect(try people() == 20)

        let users = try ScimEndToEndTests.users(sim).map { $0["id"] as! String }
        for id in users.prefix(3) { try sim.admin("DELETE", "/_sim/users/\(id)?permanent=true") }
        _ = try daemon.ctl(["run-now", "contoso", "--wait", "--allow-deletions", "3"])
        status = try daemon.waitForScim("contoso", state: ["pending"], after: status, command: "ldap")
        let held = (status["lastPush"] as? [String: Any])?["error"] as? String ?? ""
        #expect(held.contains("entra-syncctl ldap PROFILE corp --allow-deletions 3"), "\(held)")
        #expect(try people() == 20)

        let plan = try daemon.ctl(["ldap", "contoso", "corp", "--plan"])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("plan (3)"), "\(plan.stdout)")
        #expect(plan.stdout.components(separatedBy: "delete user uid=").count == 4, "\(plan.stdout)")
        #expect(try people() == 20, "--plan sends nothing")
        #expect(try daemon.ctl(["ldap", "contoso", "other"]).status != 0, "an unknown target is an error")

        let approved = try daemon.ctl(["ldap", "contoso", "--allow-deletions", "3"])
        #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")
        #expect(approved.stdout.contains("corp  \(slapd.uri)  in-sync"), "\(approved.stdout)")
        #expect(try people() == 17)
        let after = try daemon.ctl(["ldap", "contoso", "--plan"])
        #expect(after.stdout.contains("plan: nothing to send"), "\(after.stdout)")
    }

    @Test("a wrong bind password: the target is unavailable, the password is never logged; fixed and reloaded, it is provisioned at once")
    func wrongPasswordFixedByReload() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let sim = try Simulator(users: 12, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        let password = daemon.directory + "/ldap.pw"
        try FileManager.default.createDirectory(atPath: daemon.directory, withIntermediateDirectories: true)
        try "wrong-ldap-password".write(toFile: password, atomically: true, encoding: .utf8)
        chmod(password, 0o600)
        try daemon.writeProfile("contoso", simulator: sim, extra: """

            [LDAP]
            URI=\(slapd.uri)
            BindDN=\(Slapd.rootDN)
            BindPasswordFile=\(password)
            BaseDN=\(Slapd.suffix)
            """)
        try daemon.start()
        let status = try daemon.waitForScim("contoso", state: ["unavailable"], command: "ldap")
        let error = (status["lastPush"] as? [String: Any])?["error"] as? String ?? ""
        #expect(error.contains("Invalid credentials") && error.contains("LDAP result 49"), "\(error)")
        #expect(try slapd.entries(filter: "(entraObjectId=*)", attributes: ["1.1"]).isEmpty)

        try Slapd.rootPassword.write(toFile: password, atomically: true, encoding: .utf8)
        #expect(try daemon.ctl(["reload"]).status == 0)
        _ = try daemon.waitForScim("contoso", after: status, timeout: 30, command: "ldap")
        #expect(try Self.provisioned(slapd).count == 14)
        #expect(!daemon.log.contains("wrong-ldap-password") && !daemon.log.contains(Slapd.rootPassword), "bind secrets are never logged")
    }

    @Test("drift repair is journaled: a restart does not repeat it (status shows when it ran); run-now --full puts back an entry deleted by hand and a changed attribute")
    func fullSyncRepairsDrift() throws {
        let (slapd, sim, daemon, status) = try Self.provisionedDaemon()
        defer {
            slapd.stop()
            withExtendedLifetime(sim) {}  // the tenant serves the daemon until the end
        }
        let before = try Self.provisioned(slapd)
        let (victim, entry) = try #require(before.first { $0.value.dn.lowercased().hasPrefix("uid=") })
        try slapd.tool("ldapdelete", [entry.dn])
        // An enabled user (the simulator disables some): its flag is turned off by hand.
        let other = try #require(before.first {
            $0.key != victim && $0.value.dn.lowercased().hasPrefix("uid=") && $0.value.lines.contains("entraAccountEnabled: TRUE")
        }?.value.dn)
        try slapd.tool("ldapmodify", [], input: "dn: \(other)\nchangetype: modify\nreplace: entraAccountEnabled\nentraAccountEnabled: FALSE\n")

        // First contact read the directory back; that time is journaled, so the push after a restart
        // (ReconcileInterval=1d not elapsed) does not read it back again: the drift stays until --full.
        let firstContact = try #require(status["lastReconcile"] as? String, "\(status)")
        _ = try daemon.stop()
        try daemon.start()
        #expect(try daemon.ctl(["run-now", "contoso", "--wait"]).status == 0, "a delta sync, and the push after it")
        let restarted = try daemon.waitForScim("contoso", command: "ldap")
        #expect(restarted["lastReconcile"] as? String == firstContact, "\(restarted)")
        #expect(try Self.provisioned(slapd)[victim] == nil, "no drift repair after the restart")
        #expect(!daemon.log.contains("changed or deleted by hand"))
        #expect(try daemon.ctl(["ldap", "contoso"]).stdout.contains("last drift repair: \(firstContact)"))
        #expect(try daemon.ctl(["status", "contoso"]).stdout.contains("; drift repair \(firstContact)"))
        let metrics = try String(contentsOfFile: daemon.stateDirectory + "/contoso/metrics.prom", encoding: .utf8)
        #expect(metrics.contains("entra_sync_ldap_last_reconcile_timestamp_seconds{profile=\"contoso\",target=\"default\"} 1"), "\(metrics)")

        #expect(try daemon.ctl(["run-now", "contoso", "--full", "--wait"]).status == 0)
        _ = try daemon.waitForScim("contoso", after: restarted, command: "ldap")
        let after = try Self.provisioned(slapd)
        #expect(after[victim]?.dn == entry.dn, "the deleted entry is back")
        #expect(after.first { $0.value.dn == other }?.value.lines.contains("entraAccountEnabled: TRUE") == true)
        #expect(daemon.log.contains("changed or deleted by hand"))
    }

    @Test("Attribute.NAME= changed by a reload: the values are modified in place (same entryUUIDs, nothing created); an attribute no longer managed keeps its value")
    func attributeOverridesByReload() throws {
        let (slapd, sim, daemon, status) = try Self.provisionedDaemon()
        defer { slapd.stop() }
        func people() throws -> [String: [String]] {
            try slapd.entries(base: "ou=people,\(Slapd.suffix)", filter: "(uid=*)", attributes: ["uid", "mail", "title", "departmentNumber", "entryUUID"])
        }
        let before = try people()
        #expect(before.count == 12 && before.values.allSatisfy { !$0.contains { $0.hasPrefix("departmentNumber") } })
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(slapd, extra: """
            Attribute.mail=userPrincipalName
            Attribute.departmentNumber=department
            Attribute.title=
            MaxRequestsPerSecond=20

            """))
        #expect(try daemon.ctl(["reload"]).status == 0)
        let pushed = try daemon.waitForScim("contoso", after: status, command: "ldap")
        let last = pushed["lastPush"] as? [String: Any] ?? [:]
        #expect(last["created"] as? Int == 0 && last["updated"] as? Int == 12, "every user gains departmentNumber: \(last)")
        let after = try people()
        #expect(Set(after.keys) == Set(before.keys), "no entry renamed, added or removed")
        for (dn, lines) in after {
            let uid = lines.first { $0.hasPrefix("uid: ") }.map { String($0.dropFirst(5)) } ?? "?"
            #expect(lines.contains("mail: \(uid)"), "\(dn): \(lines)")
            #expect(lines.contains { $0.hasPrefix("departmentNumber: ") }, "\(dn)")
            for kept in ["entryUUID", "title"] {
                #expect(lines.filter { $0.hasPrefix(kept) } == before[dn]?.filter { $0.hasPrefix(kept) }, "\(dn) \(kept)")
            }
        }
    }
}
