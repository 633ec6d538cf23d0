import EntraConfig
import EntraLDAP
@testable import EntraMirror
@testable import EntraPush
import Foundation
import Testing
import TestSupport

/// `ldap://` to a host that is not loopback always goes through StartTLS: slapd on an address of a
/// private network namespace (`scripts/ldap-starttls-test.sh` makes one and sets
/// ENTRA_TEST_LDAP_NONLOOPBACK to the address; without it these tests are skipped).
@Suite("LDAP StartTLS to a non-loopback address", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["ENTRA_TEST_LDAP_NONLOOPBACK"] != nil, "run by scripts/ldap-starttls-test.sh"))
struct LdapStartTLSTests {
    typealias Push = LdapPusherTests
    static let address = ProcessInfo.processInfo.environment["ENTRA_TEST_LDAP_NONLOOPBACK"] ?? "192.0.2.10"

    /// slapd's log lines since `offset` that mention a bind.
    static func binds(_ slapd: Slapd, after offset: Int = 0) -> [Substring] {
        slapd.accessLog().dropFirst(offset).split(separator: "\n").filter { $0.contains(" BIND dn=") }
    }

    @Test("ldap:// to a non-loopback host with the test CA: StartTLS first, the bind encrypted, every entry provisioned")
    func startTLS() throws {
        let slapd = try Slapd(tls: true, host: Self.address, accessLog: true)
        defer { slapd.stop() }
        var target = Push.target(slapd)
        target.caFile = slapd.caFile
        #expect(target.uri == "ldap://\(Self.address):\(slapd.port)" && LDAPConnection.transport(of: target.uri) == .startTLS)
        let desired = Push.desired(Push.mirror(), target)
        let journal = Push.Journal()
        let pushed = Push.push(target, journal, desired)
        #expect(pushed.result == .succeeded, "\(pushed.error ?? "")")
        let log = slapd.accessLog()
        #expect(log.contains("EXT oid=1.3.6.1.4.1.1466.20037"), "StartTLS was asked for")
        let binds = Self.binds(slapd).filter { $0.contains("mech=SIMPLE") }
        #expect(binds.count == 1 && binds.allSatisfy { !$0.contains(" ssf=0") }, "the bind went over TLS: \(binds)")
        // Read back with ldapsearch (ldap-utils), as a consumer would.
        let entries = try slapd.entries(filter: "(entraObjectId=*)", attributes: ["1.1"])
        #expect(Set(entries.keys.map(LdapDN.normalized)) == Set((desired.users.values.map(\.dn) + desired.groups.values.map(\.dn)).map(LdapDN.normalized)))
        #expect(LdapTargetCheck.run(target).first?.text.contains("StartTLS, certificate verified") == true)
    }

    @Test("a certificate that does not verify: the push fails clearly and no bind is sent")
    func untrustedCertificate() throws {
        let slapd = try Slapd(tls: true, host: Self.address, accessLog: true)
        defer { slapd.stop() }
        for caFile in [slapd.otherCAFile, nil] {
            var target = Push.target(slapd)
            target.caFile = caFile
            let journal = Push.Journal()
            let refused = Push.push(target, journal, Push.desired(Push.mirror(), target))
            #expect(refused.result == .failed)
            #expect(refused.error?.contains("StartTLS with \(target.uri) failed") == true && refused.error?.contains("certificate was not accepted") == true,
                    "\(refused.error ?? "")")
            #expect(journal.state.users.isEmpty && !journal.state.adopted)
            let check = LdapTargetCheck.run(target)
            #expect(check.map(\.ok) == [false] && check.first?.fix?.contains("CAFile") == true, "\(check)")
        }
        #expect(slapd.accessLog().contains("EXT oid=1.3.6.1.4.1.1466.20037"), "StartTLS was asked for")
        #expect(Self.binds(slapd).isEmpty, "nothing was bound in clear")
    }

    @Test("a server that does not offer StartTLS: the push fails clearly and no bind is sent in clear")
    func noStartTLS() throws {
        let slapd = try Slapd(host: Self.address, accessLog: true)
        defer { slapd.stop() }
        let target = Push.target(slapd)
        let journal = Push.Journal()
        let refused = Push.push(target, journal, Push.desired(Push.mirror(), target))
        #expect(refused.result == .failed)
        #expect(refused.error?.contains("does not offer StartTLS") == true && refused.error?.contains("no bind was sent") == true, "\(refused.error ?? "")")
        #expect(!(refused.error ?? "").contains(Slapd.rootPassword))
        #expect(journal.state.users.isEmpty)
        let check = LdapTargetCheck.run(target)
        #expect(check.first?.fix?.contains("ldaps://") == true, "\(check)")
        #expect(slapd.accessLog().contains("EXT oid=1.3.6.1.4.1.1466.20037"))
        #expect(Self.binds(slapd).isEmpty, "nothing was bound in clear")
    }
}
