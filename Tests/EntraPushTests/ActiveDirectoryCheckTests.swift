import EntraConfig
import EntraLDAP
@testable import EntraPush
import Foundation
import Testing
import TestSupport

/// `entra-syncctl check`'s LDAP steps against the Samba AD domain controller of scripts/samba-ad-test.sh.
@Suite("LDAP target check against Samba AD", .serialized, .enabled(if: SambaDC.available))
struct ActiveDirectoryCheckTests {
    static func summary(_ steps: [LdapTargetCheck.Step]) -> [String] { steps.map { "\($0.name) \($0.ok ? "ok" : "FAILED")" } }

    static func probes(_ dc: SambaDC) throws -> String {
        try dc.tool("ldapsearch", ["-LLL", "-b", SambaDC.suffix, "(cn=entra-sync-check-*)", "1.1"])
    }

    @Test("a usable DC passes connect (TLS), bind, base and write, with Posix=yes too, and keeps no probe; a wrong password and a reader fail with the fix")
    func check() throws {
        let dc = try #require(SambaDC.current)
        var target = ActiveDirectoryPusherTests.target("check")
        try ActiveDirectoryPusherTests.wipe(target)
        defer { try? ActiveDirectoryPusherTests.wipe(target) }
        let steps = LdapTargetCheck.run(target)
        #expect(Self.summary(steps) == ["connect ok", "bind ok", "base ok", "write ok"], "\(steps)")
        #expect(steps[0].text.contains("TLS (ldaps), certificate verified"))
        #expect(steps[2].text.contains("\(target.usersDN) is created at the first push"))
        target.posix = true
        #expect(Self.summary(LdapTargetCheck.run(target)).last == "write ok")
        #expect(try !Self.probes(dc).contains("dn: "), "the probes are deleted")

        // Samba 4.17's schema (Windows Server 2012 R2) has no msDS-ExternalDirectoryObjectId.
        var external = target
        external.posix = false
        external.idAttribute = "msDS-ExternalDirectoryObjectId"
        let lacking = LdapTargetCheck.run(external)
        #expect(Self.summary(lacking).last == "write FAILED", "\(lacking)")
        #expect(lacking.last?.fix?.contains("schema lacks msDS-ExternalDirectoryObjectId: set IdAttribute=") == true, "\(lacking)")

        var wrong = target
        wrong.bind = .simple(dn: SambaDC.adminDN, password: Secret("not-the-password"), file: "/etc/entra-sync/ad.pw")
        let refused = LdapTargetCheck.run(wrong)
        #expect(Self.summary(refused) == ["connect ok", "bind FAILED"])
        #expect(refused.last?.fix?.contains("password in /etc/entra-sync/ad.pw") == true, "\(refused)")

        // An ordinary domain user may read the domain, not create accounts.
        let password = "Reader-Pass-42#x"
        let encoded = Data("\"\(password)\"".utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }).base64EncodedString()
        try dc.tool("ldapadd", [], input: """
            dn: \(target.usersDN)
            objectClass: organizationalUnit

            dn: CN=reader,\(target.usersDN)
            objectClass: user
            sAMAccountName: check-reader
            userAccountControl: 512
            unicodePwd:: \(encoded)

            """)
        var reader = target
        reader.bind = .simple(dn: "CN=reader,\(target.usersDN)", password: Secret(password), file: "/etc/entra-sync/reader.pw")
        let denied = LdapTargetCheck.run(reader)
        #expect(Self.summary(denied) == ["connect ok", "bind ok", "base ok", "write FAILED"], "\(denied)")
        #expect(denied.last?.fix?.contains("delegate control of \(target.usersDN)") == true, "\(denied)")
    }
}
