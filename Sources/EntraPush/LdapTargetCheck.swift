import EntraConfig
import EntraLDAP
import EntraMirror
import Foundation

/// `entra-syncctl check` for one LDAP target: connect, TLS, bind, base DN, and write permission
/// by adding and deleting a probe entry under the managed DN. Stops at the first failure, which
/// names the fix. Nothing is journaled; the probe carries no Entra object id anyone else has.
public enum LdapTargetCheck {
    public struct Step: Sendable, Equatable {
        /// "connect", "tls", "bind", "base", "write".
        public var name: String
        public var ok: Bool
        public var text: String
        public var fix: String?
    }

    public static func run(_ target: LdapTarget) -> [Step] {
        var steps: [Step] = []
        func fail(_ name: String, _ error: LDAPError, _ fix: String) -> [Step] {
            steps + [Step(name: name, ok: false, text: "[LDAP:\(target.name)] \(error)", fix: fix)]
        }
        let ldap: LDAPConnection
        do {
            ldap = try LDAPConnection(uri: target.uri, caFile: target.caFile, timeout: target.requestTimeout)
            try ldap.connect()
        } catch {
            return fail("connect", error, connectFix(error, target))
        }
        let secured: String
        switch LDAPConnection.transport(of: target.uri) {
        case .tls: secured = "TLS (ldaps), certificate verified"
        case .startTLS: secured = "StartTLS, certificate verified"
        case .unixSocket: secured = "local socket (ldapi)"
        default: secured = "plain, loopback only"
        }
        steps.append(Step(name: "connect", ok: true, text: "[LDAP:\(target.name)] \(target.uri): \(secured)"))
        do {
            switch target.bind {
            case .simple(let dn, let password, _): try ldap.bind(dn: dn, password: password.value)
            case .external: try ldap.bindExternal()
            }
            steps.append(Step(name: "bind", ok: true, text: "[LDAP:\(target.name)] bound as \(boundAs(target))"))
        } catch {
            return fail("bind", error, bindFix(error, target))
        }
        let parent: String
        do {
            _ = try ldap.search(base: target.baseDN, scope: .base, filter: "(objectClass=*)", attributes: ["1.1"])
            parent = exists(ldap, target.usersDN) ? target.usersDN : target.baseDN
            steps.append(Step(name: "base", ok: true, text: "[LDAP:\(target.name)] \(target.baseDN) exists"
                              + (parent == target.baseDN ? "; \(target.usersDN) is created at the first push" : "")))
        } catch {
            let fix = error.code == LDAPError.noSuchObject
                ? "create \(target.baseDN) in the directory, or set BaseDN= to the directory's suffix"
                : "check that \(boundAs(target)) may read \(target.baseDN) (olcAccess)"
            return fail("base", error, fix)
        }
        let (probe, attributes) = Self.probe(target, parent: parent, tag: UUID().uuidString.prefix(8).lowercased())
        do {
            if target.schema == .activedirectory {
                // As a push adds a user: enabled, with a random password (so the right to set one is tested too).
                var secret = LdapPusher.unicodePassword()
                defer { for i in secret.indices { secret[i] = 0 } }
                try ldap.add(dn: probe, attributes: attributes, secret: ("unicodePwd", secret))
            } else {
                try ldap.add(dn: probe, attributes: attributes)
            }
        } catch {
            return fail("write", error, writeFix(error, target, parent: parent))
        }
        do {
            try ldap.delete(dn: probe)
        } catch {
            return fail("write", error, "delete \(probe) by hand, and grant \(boundAs(target)) delete rights under \(parent)")
        }
        steps.append(Step(name: "write", ok: true, text: "[LDAP:\(target.name)] added and deleted a probe entry under \(parent)"))
        return steps
    }

    /// The probe entry: a user as the target's schema writes one, with every attribute class it needs.
    static func probe(_ target: LdapTarget, parent: String, tag: String) -> (dn: String, attributes: [(String, [String])]) {
        if target.schema == .activedirectory {
            var attributes: [(String, [String])] = [("objectClass", ["user"]), ("sAMAccountName", ["entra-check-\(tag.prefix(8))"]),
                                                    (LdapDialect(target).idAttribute, ["entra-sync-check"]), ("userAccountControl", ["512"])]
            if target.posix { attributes += [("uidNumber", ["4294967294"]), ("gidNumber", ["4294967294"]), ("unixHomeDirectory", ["/nonexistent"])] }
            return ("CN=entra-sync-check-\(tag),\(parent)", attributes)
        }
        var attributes: [(String, [String])] = [("objectClass", ["inetOrgPerson", "entraSyncObject"] + (target.posix ? [LdapDesired.posixUserClass] : [])),
                                                ("cn", ["entra-sync check"]), ("sn", ["check"]), ("entraObjectId", ["entra-sync-check"])]
        if target.posix { attributes += [("uidNumber", ["4294967294"]), ("gidNumber", ["4294967294"]), ("homeDirectory", ["/nonexistent"])] }
        return ("uid=entra-sync-check-\(tag),\(parent)", attributes)
    }

    private static func boundAs(_ target: LdapTarget) -> String {
        if case .simple(let dn, _, _) = target.bind { return dn }
        return "the daemon's user (SASL EXTERNAL)"
    }

    private static func exists(_ ldap: LDAPConnection, _ dn: String) -> Bool {
        (try? ldap.search(base: dn, scope: .base, filter: "(objectClass=*)", attributes: ["1.1"])) != nil
    }

    static func connectFix(_ error: LDAPError, _ target: LdapTarget) -> String {
        let text = (error.operation + " " + error.diagnostic).lowercased()
        if text.contains("does not offer starttls") {
            return "the directory does not offer StartTLS: give it a certificate (OpenLDAP: olcTLSCertificateFile= and olcTLSCertificateKeyFile=), or use an ldaps:// URI"
        }
        if text.contains("certificate") || text.contains("tls") || text.contains("ssl") {
            return target.caFile == nil
                ? "the directory's certificate is not trusted: set CAFile= to the PEM file of the CA that signed it"
                : "the directory's certificate is not signed by CAFile= \(target.caFile!), or does not name the host in URI=: give the right CA, or connect by the name in the certificate"
        }
        return "is the directory running and reachable at \(target.uri)? Check the host, the port and the firewall"
    }

    static func bindFix(_ error: LDAPError, _ target: LdapTarget) -> String {
        switch target.bind {
        case .simple(let dn, _, let file) where error.code == LDAPError.invalidCredentials:
            return "the directory refused \(dn) with the password in \(file): fix BindDN= or the password file, then entra-syncctl reload"
        case .external:
            return "the directory does not map the daemon's uid to an identity: add an olcAuthzRegexp for SASL EXTERNAL, or use BindDN= with BindPasswordFile="
        default:
            return "see the directory's log for why the bind was refused"
        }
    }

    static func writeFix(_ error: LDAPError, _ target: LdapTarget, parent: String) -> String {
        if target.schema == .activedirectory {
            switch error.code {
            case 50:
                return "delegate control of \(parent) to \(boundAs(target)): create, delete and manage user accounts (reset passwords included) and groups, and write "
                    + "\(LdapDialect(target).idAttribute) (Active Directory Users and Computers: Delegate Control; Samba: samba-tool dsacl set)"
            case 16, 17, 21, 65:  // Samba: noSuchAttribute; Windows: undefinedAttributeType
                return "the directory's schema lacks \(LdapDialect(target).idAttribute)" + (target.posix ? " or the RFC 2307 attributes (uidNumber, unixHomeDirectory)" : "")
                    + ": set IdAttribute= to an attribute it has (msDS-cloudExtensionAttribute1 is in every schema since Windows Server 2012)"
                    + (target.posix ? "; for Posix=yes, Samba must be provisioned with --use-rfc2307" : "")
            case 19, 53:  // constraintViolation, unwillingToPerform: the password was refused
                return "the domain controller refused the new user's random password (36 characters, four kinds): check the domain's password policy "
                    + "(samba-tool domain passwordsettings show; a minimum length above 36?) and that the connection is encrypted"
            default:
                return "see the domain controller's log for why it refused an add under \(parent)"
            }
        }
        switch error.code {
        case 50:  // insufficientAccessRights
            return "grant \(boundAs(target)) write access under \(target.baseDN) (OpenLDAP: olcAccess: to dn.subtree=\"\(target.baseDN)\" by dn.exact=\"\(boundAs(target))\" write)"
        case 17, 21, 65:  // undefinedAttributeType, invalidAttributeSyntax (an unknown class), objectClassViolation
            return "load entra-sync's schema (ldapadd -Y EXTERNAL -H ldapi:/// -f /usr/share/doc/entra-sync/entra-sync.ldif)"
                + (target.posix ? " and the nis schema for Posix=yes (/etc/ldap/schema/nis.ldif)" : "")
        default:
            return "see the directory's log for why it refused an add under \(parent)"
        }
    }
}
