import EntraConfig
import EntraDirectory
import EntraHTTP
import EntraLDAP
@testable import EntraMirror
@testable import EntraPush
import Foundation
import Testing
import TestSupport

/// Attribute overrides, MaxRequestsPerSecond=, a 10,000-member group and the drift-repair time,
/// against a real slapd (see `Slapd`); its `stats` log counts what reached the server.
@Suite("LDAP push: attribute overrides, rate limit, large groups, drift-repair time", .serialized)
struct LdapPushLimitsTests {
    typealias Push = LdapPusherTests

    static func map(_ overrides: [(String, String)], rdn: String = "uid") -> LdapAttributeMap {
        LdapAttributeMap(overrides: overrides.map { (attribute: $0.0, field: $0.1) }, rdn: rdn) { attribute, message in
            Issue.record("Attribute.\(attribute): \(message)")
        }
    }

    /// The operations slapd answered, one `RESULT` line each (a search page included), with when (seconds).
    static func answered(_ log: String) -> [Double] {
        log.split(separator: "\n").filter { $0.contains(" RESULT tag=") }.compactMap { line in
            // "6b0e3047.380dd5e3 0x7f... conn=..." : seconds and nanoseconds in hex.
            let stamp = line.prefix { $0 != " " }.split(separator: ".")
            guard stamp.count == 2, let s = UInt64(stamp[0], radix: 16), let ns = UInt64(stamp[1], radix: 16) else { return nil }
            return Double(s) + Double(ns) / 1e9
        }
    }

    /// The lines of slapd's log about modifications of `dn`, one per MOD request.
    static func modifications(_ log: String, of dn: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(" MOD dn=\"\(dn)\"") }.count
    }

    @Test("Attribute.NAME= overrides: a changed mapping re-pushes the values by modify (entries keep their entryUUID); an unmanaged attribute is left as it is, even by drift repair")
    func attributeOverrides() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Push.target(slapd)
        var mirror = Push.mirror()
        mirror.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com", displayName: "Ada Lovelace", surname: "Lovelace",
                                               mail: "ada.lovelace@contoso.com", accountEnabled: true, jobTitle: "Countess", department: "Analytical Engines",
                                               mailNickname: "ada")))
        let journal = Push.Journal()
        #expect(Push.push(target, journal, Push.desired(mirror, target)).result == .succeeded)
        let uuids = try Self.entryUUIDs(slapd)
        #expect(uuids.count == 9)

        target.userAttributes = Self.map([("mail", "userPrincipalName"), ("title", ""), ("departmentNumber", "department")])
        let managed = LdapDesired.managedAttributes(for: target.userAttributes).sorted()
        let desired = Push.desired(mirror, target)
        let remapped = Push.push(target, journal, desired)
        #expect(remapped.result == .succeeded && remapped.created == 0 && remapped.deprovisioned == 0, "\(remapped)")
        #expect(remapped.updated == 1 && remapped.requests == 2, "one modify (ada's mail and departmentNumber) after the bind: \(remapped)")
        try Push.expectMatches(slapd, desired, userAttributes: managed)
        let ada = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["mail", "title", "departmentNumber"]).values.first ?? []
        #expect(ada == ["departmentNumber: Analytical Engines", "mail: ada@contoso.com", "title: Countess"], "title is no longer managed and keeps its value: \(ada)")
        #expect(Push.push(target, journal, desired).operations == 0)

        // By hand: the unmanaged title and the managed departmentNumber. Drift repair puts back only the second.
        try slapd.tool("ldapmodify", [], input: """
            dn: uid=ada@contoso.com,ou=people,\(Slapd.suffix)
            changetype: modify
            replace: title
            title: Queen
            -
            replace: departmentNumber
            departmentNumber: Looms

            """)
        let repaired = Push.push(target, journal, desired, reconcile: true)
        #expect(repaired.result == .succeeded && repaired.updated == 1, "\(repaired)")
        let after = try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["title", "departmentNumber"]).values.first ?? []
        #expect(after == ["departmentNumber: Analytical Engines", "title: Queen"], "\(after)")

        // uid from mailNickname (the others have none: they keep the UPN): ada is renamed, not re-created.
        target.userAttributes = Self.map([("mail", "userPrincipalName"), ("title", ""), ("departmentNumber", "department"), ("uid", "mailNickname")])
        let byNickname = Push.desired(mirror, target)
        let renamed = Push.push(target, journal, byNickname)
        #expect(renamed.result == .succeeded && renamed.created == 0 && renamed.updated == 1, "\(renamed)")
        try Push.expectMatches(slapd, byNickname, userAttributes: managed)
        #expect(try slapd.entries(filter: "(entraObjectId=u1)", attributes: ["1.1"]).keys.first == "uid=ada,ou=people,\(Slapd.suffix)")
        #expect(try Self.entryUUIDs(slapd) == uuids, "every entry is the one first created")
    }

    /// Object id → entryUUID of every provisioned entry.
    static func entryUUIDs(_ slapd: Slapd) throws -> [String: String] {
        var result: [String: String] = [:]
        for lines in try slapd.entries(filter: "(entraObjectId=*)", attributes: ["entraObjectId", "entryUUID"]).values {
            let value = { (name: String) in lines.first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) } }
            if let id = value("entraObjectId"), let uuid = value("entryUUID") { result[id] = uuid }
        }
        return result
    }

    @Test("MaxRequestsPerSecond=: slapd's log shows no more operations in any second than the rate plus the burst; the push takes at least as long as the rate says")
    func rateLimit() throws {
        let slapd = try Slapd(accessLog: true)
        defer { slapd.stop() }
        var target = Push.target(slapd)
        target.maxRequestsPerSecond = 40
        var mirror = Push.mirror()
        for i in 0..<60 {
            mirror.apply(.upsertUser(DirectoryUser(id: "x\(i)", userPrincipalName: "x\(i)@contoso.com", displayName: "X \(i)", accountEnabled: true)))
            mirror.apply(.addMember(group: "g4", member: ObjectID("x\(i)"), kind: .user))
        }
        let desired = Push.desired(mirror, target)
        let started = ProcessInfo.processInfo.systemUptime
        let summary = Push.push(target, Push.Journal(), desired)
        let elapsed = ProcessInfo.processInfo.systemUptime - started
        // slapd logs an answer just after sending it: wait (bounded) for the last line.
        var times = Self.answered(slapd.accessLog())
        for _ in 0..<100 where times.count < summary.requests {
            usleep(20_000)
            times = Self.answered(slapd.accessLog())
        }
        #expect(summary.result == .succeeded, "\(summary.error ?? "")")
        try Push.expectMatches(slapd, desired)
        let burst = 4.0  // a tenth of a second's worth
        #expect(summary.requests > 70, "\(summary)")
        #expect(elapsed >= (Double(summary.requests) - burst - 1) / 40 * 0.95, "\(summary.requests) operations in \(elapsed) s")
        #expect(elapsed < Double(summary.requests) / 40 + 5, "paced, not stalled: \(elapsed) s")
        // What the server saw: every operation, and in any one second no more than the client may send
        // (40 + the burst of 4 + 1), give or take a few the server answered late.
        #expect(times.count == summary.requests, "slapd answered \(times.count) operations, the push counted \(summary.requests)")
        let busiest = times.map { start in times.filter { $0 >= start && $0 < start + 1 }.count }.max() ?? 0
        #expect(busiest <= 50 && busiest >= 30, "at most \(busiest) operations in one second")
    }

    @Test("a 10,000-member group: loaded in chunks of 1,000 values (the first in its add); a few member changes later are one small modify, not a replace")
    func largeGroupDeltas() throws {
        let slapd = try Slapd(accessLog: true)
        defer { slapd.stop() }
        let target = Push.target(slapd)
        var mirror = MirrorState()
        mirror.apply(.upsertGroup(DirectoryGroup(id: "big", displayName: "Everyone")))
        for i in 0..<10_002 {
            let id = String(format: "u%05d", i)
            mirror.apply(.upsertUser(DirectoryUser(id: id, userPrincipalName: "\(id)@contoso.com", displayName: "User \(i)", accountEnabled: true)))
            if i < 10_000 { mirror.apply(.addMember(group: "big", member: ObjectID(id), kind: .user)) }
        }
        let journal = Push.Journal()
        let groupDN = "cn=Everyone,ou=groups,\(Slapd.suffix)"
        let first = Push.push(target, journal, Push.desired(mirror, target))
        #expect(first.result == .succeeded && first.created == 10_003 && first.memberAdds == 10_000, "\(first)")
        // The group's add carries its first 1,000 members; the other 9,000 follow in modifies of 1,000.
        #expect(Self.modifications(slapd.accessLog(), of: groupDN) == 9, "10,000 values: the add's 1,000, then 9 requests of 1,000")
        #expect(first.bytesSent > 400_000, "\(first.bytesSent)")

        // Three members leave, two join.
        for id in ["u00007", "u04242", "u09999"] { mirror.apply(.removeMember(group: "big", member: ObjectID(id))) }
        for id in ["u10000", "u10001"] { mirror.apply(.addMember(group: "big", member: ObjectID(id), kind: .user)) }
        let logBefore = slapd.accessLog()
        let desired = Push.desired(mirror, target)
        let delta = Push.push(target, journal, desired)
        #expect(delta.result == .succeeded && delta.memberAdds == 2 && delta.memberRemoves == 3 && delta.created == 0, "\(delta)")
        #expect(delta.requests == 2, "the bind and one modify: \(delta)")
        #expect(delta.bytesSent < 1_000, "DNs of five members, not ten thousand: \(delta.bytesSent) bytes")
        var log = String(slapd.accessLog().dropFirst(logBefore.count))
        for _ in 0..<100 where Self.answered(log).count < delta.requests {
            usleep(20_000)
            log = String(slapd.accessLog().dropFirst(logBefore.count))
        }
        #expect(Self.modifications(log, of: groupDN) == 1 && log.contains("MOD attr=member"), "\(log)")
        #expect(Self.answered(log).count == 2)
        let members = try slapd.entries(base: groupDN, filter: "(objectClass=*)", attributes: ["member"]).values.first ?? []
        #expect(members.count == 9_999 && members.contains("member: uid=u10001@contoso.com,ou=people,\(Slapd.suffix)")
            && !members.contains("member: uid=u04242@contoso.com,ou=people,\(Slapd.suffix)"))
    }

    @Test("the time of the last drift repair is journaled: first contact sets it, a push without drift repair keeps it, a drift repair moves it")
    func reconcileTimeJournaled() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Push.target(slapd)
        let journal = Push.Journal()
        let desired = Push.desired(Push.mirror(), target)
        let before = Date().timeIntervalSince1970
        #expect(Push.push(target, journal, desired).result == .succeeded)
        let firstContact = try #require(journal.state.lastReconcile, "first contact reads the directory back")
        #expect(firstContact >= before && firstContact <= Date().timeIntervalSince1970)
        #expect(Push.push(target, journal, desired).result == .succeeded)
        #expect(journal.state.lastReconcile == firstContact)
        #expect(journal.records.contains(.reconciled(target: "corp", at: firstContact)))
        usleep(10_000)
        #expect(Push.push(target, journal, desired, reconcile: true).result == .succeeded)
        #expect(try #require(journal.state.lastReconcile) > firstContact)
    }
}
