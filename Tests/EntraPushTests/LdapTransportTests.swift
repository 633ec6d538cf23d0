import EntraConfig
import EntraDirectory
import EntraLDAP
@testable import EntraMirror
@testable import EntraPush
import Foundation
import Testing
import TestSupport

/// The LDAP push over TLS with a test CA, and a directory that goes down and comes back (real slapd).
@Suite("LDAP transport against slapd", .serialized)
struct LdapTransportTests {
    typealias Push = LdapPusherTests

    @Test("ldaps:// with CAFile= naming the test CA provisions; another CA or none fails with a certificate error that check turns into a fix")
    func tlsWithTestCA() throws {
        let slapd = try Slapd(tls: true)
        defer { slapd.stop() }
        var target = Push.target(slapd)
        target.uri = slapd.tlsURI
        target.caFile = slapd.caFile
        let mirror = Push.mirror()
        let desired = Push.desired(mirror, target)
        let journal = Push.Journal()
        let pushed = Push.push(target, journal, desired)
        #expect(pushed.result == .succeeded, "\(pushed.error ?? "")")
        try Push.expectMatches(slapd, desired)
        #expect(LdapTargetCheck.run(target).first?.text.contains("TLS (ldaps), certificate verified") == true)

        for (caFile, fix) in [(slapd.otherCAFile, "not signed by CAFile= \(slapd.otherCAFile)"), (nil, "set CAFile=")] as [(String?, String)] {
            var untrusted = target
            untrusted.caFile = caFile
            let other = Push.Journal()
            let refused = Push.push(untrusted, other, desired)
            #expect(refused.result == .failed, "\(caFile ?? "no CAFile")")
            #expect(refused.error?.contains("TLS handshake with \(slapd.tlsURI) failed") == true, "\(refused.error ?? "")")
            #expect(refused.error?.contains("certificate was not accepted") == true, "a clear error, not just 'Can't contact': \(refused.error ?? "")")
            #expect(other.state.users.isEmpty, "nothing was sent")
            let check = LdapTargetCheck.run(untrusted)
            #expect(check.map(\.ok) == [false], "\(check)")
            #expect(check.first?.fix?.contains(fix) == true, "\(check)")
        }
    }

    @Test("the directory goes down mid-life: the push fails without touching the state, and the next one after it is back finishes the work")
    func downThenBack() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let target = Push.target(slapd)
        let journal = Push.Journal()
        var mirror = Push.mirror()
        #expect(Push.push(target, journal, Push.desired(mirror, target)).result == .succeeded)

        slapd.down()
        mirror.apply(.upsertUser(DirectoryUser(id: "u6", userPrincipalName: "fay@contoso.com", displayName: "Fay", accountEnabled: true)))
        mirror.apply(.addMember(group: "g4", member: ObjectID("u6"), kind: .user))
        let desired = Push.desired(mirror, target)
        let before = journal.state
        let failed = Push.push(target, journal, desired)
        #expect(failed.result == .failed && failed.error?.contains("Can't contact LDAP server") == true, "\(failed.error ?? "")")
        #expect(journal.state.users == before.users && journal.state.groups == before.groups, "nothing acknowledged while down")
        #expect(journal.state.lastPush?.result == .failed)

        try slapd.up()
        let back = Push.push(target, journal, desired)
        #expect(back.result == .succeeded && back.created == 1 && back.memberAdds == 1, "\(back)")
        try Push.expectMatches(slapd, desired)
    }
}
