@testable import EntraLDAP
import Foundation
import Testing
import TestSupport

@Suite("LDAP client")
struct LDAPConnectionTests {
    @Test("plain ldap:// is allowed to loopback only; the rest needs StartTLS, ldaps:// or ldapi://")
    func transports() {
        #expect(LDAPConnection.transport(of: "ldap://127.0.0.1:389") == .loopbackPlain)
        #expect(LDAPConnection.transport(of: "ldap://localhost") == .loopbackPlain)
        #expect(LDAPConnection.transport(of: "ldap://[::1]:3389/") == .loopbackPlain)
        #expect(LDAPConnection.transport(of: "ldap://ldap.example.com") == .startTLS)
        #expect(LDAPConnection.transport(of: "ldap://127.example.com") == .startTLS)
        #expect(LDAPConnection.transport(of: "LDAPS://ldap.example.com") == .tls)
        #expect(LDAPConnection.transport(of: "ldapi://%2Frun%2Fslapd%2Fldapi") == .unixSocket)
        #expect(LDAPConnection.transport(of: "https://ldap.example.com") == nil)
    }

    @Test("filter values are escaped")
    func escaping() {
        #expect(LDAPConnection.filterValue("a*(b)\\") == "a\\2a\\28b\\29\\5c")
    }

    @Test("against slapd: bind, add, modify, modrdn, paged search, delete, and the server's refusals")
    func cycle() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let ldap = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        try ldap.bind(dn: Slapd.rootDN, password: Slapd.rootPassword)
        try ldap.add(dn: "ou=people,\(Slapd.suffix)", attributes: [("objectClass", ["organizationalUnit"]), ("ou", ["people"])])
        for i in 0..<7 {
            try ldap.add(dn: "uid=u\(i),ou=people,\(Slapd.suffix)", attributes: [
                ("objectClass", ["inetOrgPerson", "entraSyncObject"]), ("uid", ["u\(i)"]), ("cn", ["User \(i)"]), ("sn", ["U"]),
                ("entraObjectId", ["id-\(i)"]),
            ])
        }
        // Three pages of three: the paged results control is followed to the end.
        let found = try ldap.search(base: "ou=people,\(Slapd.suffix)", scope: .oneLevel, filter: "(entraObjectId=*)",
                                    attributes: ["uid", "entraObjectId"], pageSize: 3)
        #expect(found.count == 7)
        #expect(Set(found.compactMap { $0.first("entraObjectId") }) == Set((0..<7).map { "id-\($0)" }))

        try ldap.modify(dn: "uid=u1,ou=people,\(Slapd.suffix)", [.replace("cn", ["Renamed"]), .add("mail", ["u1@example.test"])])
        try ldap.rename(dn: "uid=u1,ou=people,\(Slapd.suffix)", newRDN: "uid=v1", newSuperior: nil)
        let renamed = try ldap.search(base: Slapd.suffix, scope: .subtree, filter: "(entraObjectId=id-1)", attributes: ["uid", "cn", "mail"])
        #expect(renamed.map(\.dn) == ["uid=v1,ou=people,\(Slapd.suffix)"])
        #expect(renamed.first?.attributes["uid"] == ["v1"])  // deleteoldrdn
        #expect(renamed.first?.first("mail") == "u1@example.test")

        let duplicate = #expect(throws: LDAPError.self) {
            try ldap.add(dn: "uid=u2,ou=people,\(Slapd.suffix)", attributes: [("objectClass", ["inetOrgPerson"]), ("uid", ["u2"]), ("cn", ["x"]), ("sn", ["x"])])
        }
        #expect(duplicate?.code == LDAPError.alreadyExists)
        #expect(duplicate?.isTargetFailure == false)
        let missing = #expect(throws: LDAPError.self) { try ldap.delete(dn: "uid=nobody,ou=people,\(Slapd.suffix)") }
        #expect(missing?.code == LDAPError.noSuchObject)
        let schema = #expect(throws: LDAPError.self) {
            try ldap.add(dn: "uid=bad,ou=people,\(Slapd.suffix)", attributes: [("objectClass", ["inetOrgPerson"]), ("uid", ["bad"]), ("cn", ["x"])])
        }
        #expect(schema?.diagnostic.contains("sn") == true, "the server's diagnostic names the missing attribute")

        try ldap.delete(dn: "uid=u0,ou=people,\(Slapd.suffix)")
        let left = try slapd.entries(base: "ou=people,\(Slapd.suffix)", filter: "(uid=*)", attributes: ["uid"])
        #expect(left.count == 6)
        #expect(left["uid=v1,ou=people,\(Slapd.suffix)"] != nil)
    }

    @Test("a wrong password is a target failure that names the DN and never the password")
    func wrongPassword() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let ldap = try LDAPConnection(uri: slapd.uri, caFile: nil, timeout: 5)
        let error = #expect(throws: LDAPError.self) { try ldap.bind(dn: Slapd.rootDN, password: "wrong-password-123") }
        #expect(error?.code == LDAPError.invalidCredentials)
        #expect(error?.isTargetFailure == true)
        #expect(error?.description.contains(Slapd.rootDN) == true)
        #expect(error?.description.contains("wrong-password-123") == false)
    }

    @Test("ldapi:// with SASL EXTERNAL binds as the process's own uid")
    func external() throws {
        let slapd = try Slapd()
        defer { slapd.stop() }
        let ldap = try LDAPConnection(uri: slapd.ldapiURI, caFile: nil, timeout: 5)
        try ldap.bindExternal()
        try ldap.add(dn: "ou=groups,\(Slapd.suffix)", attributes: [("objectClass", ["organizationalUnit"]), ("ou", ["groups"])])
        #expect(try slapd.entries(base: "ou=groups,\(Slapd.suffix)").count == 1)
    }

    @Test("nothing listening: a target failure, within the timeout")
    func unreachable() throws {
        let started = Date()
        let error = #expect(throws: LDAPError.self) {
            let ldap = try LDAPConnection(uri: "ldap://127.0.0.1:1", caFile: nil, timeout: 2)
            try ldap.bind(dn: "cn=x", password: "y")
        }
        #expect(error?.isTargetFailure == true)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("the host and port a TLS failure is probed at")
    func hostAndPort() {
        #expect(LDAPConnection.hostAndPort("ldaps://ldap.example.com", defaultPort: 636)! == ("ldap.example.com", 636))
        #expect(LDAPConnection.hostAndPort("ldaps://127.0.0.1:6360/", defaultPort: 636)! == ("127.0.0.1", 6360))
        #expect(LDAPConnection.hostAndPort("ldaps://[::1]:6360", defaultPort: 636)! == ("::1", 6360))
        #expect(LDAPConnection.hostAndPort("ldaps://[::1]", defaultPort: 636)! == ("::1", 636))
        #expect(LDAPConnection.hostAndPort("nonsense", defaultPort: 636) == nil)
    }
}
