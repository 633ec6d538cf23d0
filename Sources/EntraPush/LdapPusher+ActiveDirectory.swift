import EntraLDAP
import EntraMirror

/// What an Active Directory target (Schema=activedirectory) needs beyond the plan's attributes.
extension LdapPusher {
    /// The modify requests that stamp the object id on an entry adopted at first contact, in order.
    func stamp(_ id: String, on entry: LDAPConnection.Entry, isGroup: Bool) -> [[LDAPConnection.Change]] {
        let classes = (entry.attributes["objectclass"] ?? []).map { $0.lowercased() }
        switch dialect.schema {
        case .inetorgperson:
            return [(classes.contains("entrasyncobject") ? [] : [.add("objectClass", ["entraSyncObject"])]) + [.add("entraObjectId", [id])]]
        case .activedirectory:
            // Samba takes a dynamic auxiliary class only in a modify of its own, before its attributes.
            let missing = isGroup ? dialect.idClass.filter { !classes.contains($0.lowercased()) } : []
            return (missing.isEmpty ? [] : [[.add("objectClass", missing)]]) + [[.replace(dialect.idAttribute, [id])]]
        }
    }

    /// Attributes an entry is added with that are not managed afterwards: AD groups are global
    /// security groups (an adopted group keeps its type).
    func additionExtras(isGroup: Bool) -> [(String, [String])] {
        dialect.schema == .activedirectory && isGroup ? [("groupType", [ActiveDirectory.globalSecurityGroup])] : []
    }

    /// Runs `body` with the password an Active Directory user is added with, else with nil.
    ///
    /// Entra holds no password to copy, and AD enables an account without one only when
    /// userAccountControl has PASSWD_NOTREQD, which would allow an empty password to log on. So
    /// each user is added with `unicodePwd` set to a fresh random password from the system's
    /// CSPRNG that nobody is told: the account is enabled (NORMAL_ACCOUNT) and nobody can log on
    /// with a password. It is never stored, journaled or logged; its bytes are zeroed after the
    /// request is encoded. (AD accepts unicodePwd only over an encrypted connection, which
    /// `Schema=activedirectory` requires.)
    func withSecret<T>(isGroup: Bool, _ body: ((String, [UInt8])?) throws(LDAPError) -> T) throws(LDAPError) -> T {
        guard dialect.schema == .activedirectory, !isGroup else { return try body(nil) }
        var value = Self.unicodePassword()
        defer { for i in value.indices { value[i] = 0 } }
        return try body(("unicodePwd", value))
    }

    /// A random password as `unicodePwd` wants it: in double quotes, UTF-16LE.
    ///
    /// 36 characters: pairs of letters and digits, each pair followed by one of `- _ . #`. AD's
    /// complexity rule is met (upper and lower case, digits, symbols), and no three characters
    /// in a row lack a delimiter, so the password never contains a name token AD checks against
    /// (the sAMAccountName, the parts of the display name).
    static func unicodePassword() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        let upper = Array("ABCDEFGHJKLMNPQRSTUVWXYZ".utf8), lower = Array("abcdefghijkmnopqrstuvwxyz".utf8), digits = Array("23456789".utf8)
        let alphanumeric = upper + lower + digits, delimiters = Array("-_.#".utf8)
        var ascii: [UInt8] = [upper.randomElement(using: &random)!, lower.randomElement(using: &random)!]
        ascii.append(delimiters.randomElement(using: &random)!)
        ascii.append(digits.randomElement(using: &random)!)
        while ascii.count < 36 {
            ascii.append(ascii.count % 3 == 2 ? delimiters.randomElement(using: &random)! : alphanumeric.randomElement(using: &random)!)
        }
        var value: [UInt8] = [0x22, 0]
        for byte in ascii { value += [byte, 0] }
        for i in ascii.indices { ascii[i] = 0 }
        return value + [0x22, 0]
    }
}
