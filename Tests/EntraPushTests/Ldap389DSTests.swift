import EntraConfig
import EntraDirectory
import EntraHTTP
import EntraLDAP
@testable import EntraMirror
@testable import EntraPush
import Foundation
import Testing

/// The basic cycle against a real 389 Directory Server, which `scripts/389ds-test.sh` creates (lib389,
/// temporary directories, a private mount namespace) and names in ENTRA_TEST_389DS_*; skipped without.
/// What the directory holds is read back with ldapsearch (ldap-utils), as a consumer would.
@Suite("LDAP push against 389 Directory Server", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["ENTRA_TEST_389DS_URI"] != nil, "run by scripts/389ds-test.sh"))
struct Ldap389DSTests {
    typealias Push = LdapPusherTests
    static let environment = ProcessInfo.processInfo.environment
    static let uri = environment["ENTRA_TEST_389DS_URI"] ?? ""
    static let bindDN = environment["ENTRA_TEST_389DS_BINDDN"] ?? ""
    static let passwordFile = environment["ENTRA_TEST_389DS_PASSWORD_FILE"] ?? ""
    static let suffix = environment["ENTRA_TEST_389DS_SUFFIX"] ?? ""
    /// 389 DS's access log (buffering off): one line per operation, `conn=N op=M ADD dn="..."`.
    static let accessLog = environment["ENTRA_TEST_389DS_ACCESS_LOG"] ?? ""

    static func target(_ mode: LdapTarget.DeprovisionMode) throws -> LdapTarget {
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        var t = LdapTarget(name: "ds389", uri: uri, bind: .simple(dn: bindDN, password: Secret(password), file: passwordFile), baseDN: suffix)
        t.deprovisionMode = mode
        t.requestTimeout = 10
        return t
    }

    /// `ldapsearch -LLL` under `base` (bound as the directory manager): DN (lowercased) → attribute lines.
    static func ldapsearch(base: String, filter: String, _ attributes: [String]) throws -> [String: [String]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldapsearch")
        p.arguments = ["-x", "-H", uri, "-D", bindDN, "-y", passwordFile, "-LLL", "-o", "ldif-wrap=no", "-b", base, filter] + attributes
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 || p.terminationStatus == 32, "ldapsearch exited \(p.terminationStatus)")
        var result: [String: [String]] = [:]
        for block in text.components(separatedBy: "\n\n") {
            let lines = block.split(separator: "\n").map(String.init)
            guard let first = lines.first, first.hasPrefix("dn: ") else { continue }
            result[LdapDN.normalized(String(first.dropFirst(4)))] = Array(lines.dropFirst()).sorted()
        }
        return result
    }

    /// Fails unless 389 DS holds exactly `desired` (DNs, managed attributes, member DNs), plus `disabled` users.
    static func expectHolds(_ desired: LdapDesired, disabled: Set<String> = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let names = Set(LdapPusher.userAttributes + LdapPusher.groupAttributes)
        let held = try ldapsearch(base: suffix, filter: "(entraObjectId=*)", ["*"])
        var byId: [String: (dn: String, attributes: [String: [String]])] = [:]
        for (dn, lines) in held {
            var attributes: [String: [String]] = [:]
            for line in lines {
                guard let colon = line.range(of: ": ") else { continue }
                attributes[line[..<colon.lowerBound].lowercased(), default: []].append(String(line[colon.upperBound...]))
            }
            let id = attributes["entraobjectid"]?.first ?? ""
            #expect(byId[id] == nil, "\(id) is on two entries", sourceLocation: sourceLocation)
            byId[id] = (dn, attributes)
        }
        let want = desired.users.merging(desired.groups) { a, _ in a }
        #expect(Set(byId.keys) == Set(want.keys).union(disabled), sourceLocation: sourceLocation)
        for (id, entry) in want {
            guard let found = byId[id] else { continue }
            #expect(found.dn == LdapDN.normalized(entry.dn), "\(id)", sourceLocation: sourceLocation)
            let managed = found.attributes.filter { names.contains($0.key) }.mapValues { $0.sorted() }
            #expect(managed == entry.attributes.dictionary.mapValues { $0.sorted() }, "\(id)", sourceLocation: sourceLocation)
            if desired.groups[id] != nil {
                let members = Set((found.attributes["member"] ?? []).map(LdapDN.normalized))
                let expected = desired.members(of: id).isEmpty ? [found.dn] : Set(desired.members(of: id).compactMap { want[$0].map { LdapDN.normalized($0.dn) } })
                #expect(members == expected, "members of \(id)", sourceLocation: sourceLocation)
            }
        }
        for id in disabled {
            #expect(byId[id]?.attributes["entraaccountenabled"] == ["FALSE"], "\(id) disabled", sourceLocation: sourceLocation)
            #expect(!held.values.contains { $0.contains { $0.lowercased() == "member: \(byId[id]?.dn ?? "-")" } }, "\(id) left its groups", sourceLocation: sourceLocation)
        }
    }

    /// The access log's operations of one kind (`ADD`, `MODRDN`, `DEL`...) since `offset` characters.
    static func logged(_ kind: String, after offset: Int) -> [Substring] {
        let log = (try? String(contentsOfFile: accessLog, encoding: .utf8)) ?? ""
        return log.dropFirst(offset).split(separator: "\n").filter { $0.contains(" \(kind) dn=") }
    }

    static var logSize: Int { ((try? String(contentsOfFile: accessLog, encoding: .utf8)) ?? "").count }

    @Test("create, update, rename, disable, membership, nested group and deprovision, read back with ldapsearch; renames are modrdn, nothing is created twice")
    func basicCycle() throws {
        let target = try Self.target(.disable)
        let check = LdapTargetCheck.run(target)
        #expect(!check.contains { !$0.ok }, "\(check)")
        let journal = Push.Journal()
        var mirror = Push.mirror()
        var desired = Push.desired(mirror, target)
        let first = Push.push(target, journal, desired)
        #expect(first.result == .succeeded && first.created == 9, "\(first.error ?? "") \(journal.state.failures)")
        try Self.expectHolds(desired)
        #expect(Push.push(target, journal, desired).operations == 0, "in step")

        let before = Self.logSize
        Push.change(&mirror)
        mirror.apply(.addMember(group: "g4", member: ObjectID("g2"), kind: .group))  // a nested group
        desired = Push.desired(mirror, target)
        let change = Push.push(target, journal, desired)
        #expect(change.result == .succeeded && change.failed == 0, "\(change.error ?? "") \(journal.state.failures)")
        #expect(change.created == 1 && change.deprovisioned == 2, "u6 added; u5 disabled, g3 deleted: \(change)")
        try Self.expectHolds(desired, disabled: ["u5"])
        #expect(try Self.ldapsearch(base: Self.suffix, filter: "(uid=bob@contoso.com)", ["1.1"]).isEmpty)
        #expect(try Self.ldapsearch(base: Self.suffix, filter: "(entraObjectId=u3)", ["entraAccountEnabled"]).values.first == ["entraAccountEnabled: FALSE"])
        if !Self.accessLog.isEmpty {
            #expect(Self.logged("ADD", after: before).count == 1, "only fay is added: \(Self.logged("ADD", after: before))")
            #expect(Self.logged("MODRDN", after: before).count == 2, "bob and Ops are renamed in place")
        }
        #expect(Push.push(target, journal, desired).operations == 0)

        // Deprovisioning by delete: the disabled user and the others go.
        let deleting = try Self.target(.delete)
        mirror.apply(.removeUser("u4"))
        let smaller = Push.desired(mirror, deleting)
        let deleted = Push.push(deleting, journal, smaller)
        #expect(deleted.result == .succeeded && deleted.deprovisioned == 2, "u4 and u5: \(deleted)")
        try Self.expectHolds(smaller)
        #expect(try Self.ldapsearch(base: Self.suffix, filter: "(|(entraObjectId=u4)(entraObjectId=u5))", ["1.1"]).isEmpty)

        // Drift repair works the same: an attribute changed by hand is put back.
        let admin = try LDAPConnection(uri: Self.uri, caFile: nil, timeout: 10)
        try admin.bind(dn: Self.bindDN, password: String(contentsOfFile: Self.passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        try admin.modify(dn: try #require(journal.state.users["u1"]?.dn), [.replace("title", ["Hacker"])])
        let repaired = Push.push(deleting, journal, smaller, reconcile: true)
        #expect(repaired.result == .succeeded && repaired.updated == 1, "\(repaired)")
        try Self.expectHolds(smaller)
    }
}
