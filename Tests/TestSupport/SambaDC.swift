import Foundation

/// The Samba AD domain controller `scripts/samba-ad-test.sh` provisions and starts (in a private
/// network namespace, on ldaps://127.0.0.1 with a test CA) before it runs the tests that need one.
/// `ENTRA_SAMBA_DC` names its directory (ca.pem, admin.pw); without it those tests are skipped.
/// The tests share the one domain: each works under its own OUs and removes them (`wipe`).
public struct SambaDC: Sendable {
    public static let suffix = "DC=entra,DC=test"
    public static let adminDN = "CN=Administrator,CN=Users,DC=entra,DC=test"
    public let directory: String
    public var uri: String { "ldaps://127.0.0.1" }
    public var caFile: String { directory + "/ca.pem" }
    /// A file holding the Administrator's password (for BindPasswordFile=).
    public var passwordFile: String { directory + "/admin.pw" }
    public var password: String {
        (try? String(contentsOfFile: passwordFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// The running DC, or nil outside scripts/samba-ad-test.sh.
    public static var current: SambaDC? {
        guard let directory = ProcessInfo.processInfo.environment["ENTRA_SAMBA_DC"], !directory.isEmpty else { return nil }
        return SambaDC(directory: directory)
    }

    public static var available: Bool { current != nil }

    /// Runs an ldap-utils command against the DC as Administrator and returns its output.
    @discardableResult
    public func tool(_ name: String, _ arguments: [String], input: String? = nil) throws -> String {
        setenv("LDAPTLS_CACERT", caFile, 1)
        return try Slapd.run("/usr/bin/\(name)", ["-x", "-H", uri, "-D", Self.adminDN, "-y", passwordFile] + arguments, input: input)
    }

    /// The entries under `base` as `ldapsearch -LLL` prints them (paged: AD returns at most 1,000
    /// entries a search otherwise), unwrapped; DN → its attribute lines, sorted.
    public func entries(base: String = SambaDC.suffix, filter: String, attributes: [String] = []) throws -> [String: [String]] {
        Slapd.entries(ldif: try tool("ldapsearch", ["-LLL", "-o", "ldif-wrap=no", "-E", "pr=200/noprompt", "-b", base, filter] + attributes))
    }

    /// Deletes `dn` and everything under it, if it exists.
    public func wipe(_ dn: String) throws {
        let found = try tool("ldapsearch", ["-LLL", "-b", Self.suffix, "(distinguishedName=\(dn))", "1.1"])
        if found.contains("dn: ") { try tool("ldapdelete", ["-r", dn]) }
    }
}
