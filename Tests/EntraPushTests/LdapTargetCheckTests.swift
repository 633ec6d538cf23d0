import EntraConfig
import EntraLDAP
@testable import EntraPush
import Foundation
import Testing
import TestSupport

/// `entra-syncctl check`'s LDAP steps against a real slapd: each failure names its fix.
@Suite("LDAP target check against slapd", .serialized)
struct LdapTargetCheckTests {
    static func target(_ slapd: Slapd, dn: String = Slapd.rootDN, password: String = Slapd.rootPassword, file: String? = nil,
                       base: String = Slapd.suffix, uri: String? = nil) -> LdapTarget {
        var t = LdapTarget(name: "corp", uri: uri ?? slapd.uri, bind: .simple(dn: dn, password: Secret(password), file: file ?? slapd.passwordFile),
                           baseDN: base)
        t.requestTimeout = 5
        return t
    }

    static func summary(_ steps: [LdapTargetCheck.Step]) -> [String] { steps.map { "\($0.name) \($0.ok ? "ok" : "FAILED")" } }

    @Test("a usable target passes connect, bind, base and write, and leaves no probe behind; Posix=yes probes posixAccount too")
    func usable() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        var target = Self.target(slapd)
        let steps = LdapTargetCheck.run(target)
        #expect(Self.summary(steps) == ["connect ok", "bind ok", "base ok", "write ok"], "\(steps)")
        #expect(steps[0].text.contains("plain, loopback only"))
        #expect(steps[2].text.contains("ou=people,\(Slapd.suffix) is created at the first push"))
        #expect(try slapd.entries(filter: "(uid=entra-sync-check-*)", attributes: ["1.1"]).isEmpty, "the probe is deleted")
        target.posix = true
        #expect(Self.summary(LdapTargetCheck.run(target)).last == "write ok")
    }

    @Test("a wrong password, a wrong BaseDN, a server that is down and a bind DN without write access each fail with the fix")
    func failures() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let wrong = LdapTargetCheck.run(Self.target(slapd, password: "not-the-password", file: "/etc/entra-sync/corp.pw"))
        #expect(Self.summary(wrong) == ["connect ok", "bind FAILED"])
        #expect(wrong.last?.fix?.contains("password in /etc/entra-sync/corp.pw") == true, "\(wrong)")
        #expect(!wrong.map { "\($0)" }.joined().contains("not-the-password"), "the password is never shown")

        let base = LdapTargetCheck.run(Self.target(slapd, base: "dc=nowhere,dc=test"))
        #expect(Self.summary(base) == ["connect ok", "bind ok", "base FAILED"])
        #expect(base.last?.fix?.contains("create dc=nowhere,dc=test") == true)

        let down = LdapTargetCheck.run(Self.target(slapd, uri: "ldap://127.0.0.1:\(LoopbackPort.free() ?? 1)"))
        #expect(Self.summary(down) == ["connect FAILED"])
        #expect(down.last?.fix?.contains("running and reachable") == true, "\(down)")

        // A reader: slapd's default ACL lets every bound DN read, only the root DN write.
        let admin = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        try admin.bind(dn: Slapd.rootDN, password: Slapd.rootPassword)
        try admin.add(dn: "cn=reader,\(Slapd.suffix)", attributes: [("objectClass", ["person"]), ("cn", ["reader"]), ("sn", ["reader"]),
                                                                   ("userPassword", ["reader-pass"])])
        let reader = LdapTargetCheck.run(Self.target(slapd, dn: "cn=reader,\(Slapd.suffix)", password: "reader-pass"))
        #expect(Self.summary(reader) == ["connect ok", "bind ok", "base ok", "write FAILED"], "\(reader)")
        #expect(reader.last?.fix?.contains("grant cn=reader,\(Slapd.suffix) write access") == true, "\(reader)")
    }
}
