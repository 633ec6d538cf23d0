import EntraConfig
import EntraDirectory

extension LdapDesired {
    /// A user's managed attributes (names lowercased) under `map`; `upn` is the user's (nonempty) UPN.
    /// Required attributes never go missing: `uid` and `cn` fall back to the UPN, `sn` to displayName, then the UPN.
    public static func attributes(_ user: DirectoryUser, upn: String, map: LdapAttributeMap) -> [String: [String]] {
        var a: [String: [String]] = [
            "entraobjectid": [user.id],
            "entraaccountenabled": [user.accountEnabled == false ? "FALSE" : "TRUE"],
        ]
        a.reserveCapacity(16)  // the mapped fields and the POSIX ones without growing
        for (name, field) in map.fields {
            if let v = value(of: field, user) { a[name] = [v] }
        }
        if map.fields["uid"] != nil, a["uid"] == nil { a["uid"] = [upn] }
        if a["cn"] == nil { a["cn"] = [upn] }
        if a["sn"] == nil { a["sn"] = [value(of: .displayName, user) ?? upn] }
        return a
    }

    /// The attributes of a user entry that entra-sync writes under `map`: the mapped ones, the object
    /// id, the enabled flag and the POSIX ones (removed again when `Posix=` is turned off).
    public static func managedAttributes(for map: LdapAttributeMap) -> Set<String> {
        Set(map.fields.keys).union(["cn", "sn", "entraobjectid", "entraaccountenabled", "uidnumber", "gidnumber", "homedirectory", "loginshell"])
    }

    /// The nonempty value of an Entra field of `user`.
    static func value(of field: LdapAttributeMap.Field, _ user: DirectoryUser) -> String? {
        let text: String? = switch field {
        case .id: user.id
        case .userPrincipalName: user.userPrincipalName
        case .displayName: user.displayName
        case .givenName: user.givenName
        case .surname: user.surname
        case .mail: user.mail
        case .jobTitle: user.jobTitle
        case .department: user.department
        case .employeeId: user.employeeId
        case .mailNickname: user.mailNickname
        case .onPremisesImmutableId: user.onPremisesImmutableId
        }
        return text.flatMap { $0.isEmpty ? nil : $0 }
    }
}
