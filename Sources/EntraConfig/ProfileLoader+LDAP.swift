import Foundation

extension ProfileLoader {
    static let ldapKeys = ["URI", "BindDN", "BindPasswordFile", "BindPasswordCredential", "CAFile", "BaseDN", "UsersDN", "GroupsDN", "Schema",
                           "DeprovisionMode", "MaxDeletions", "Users", "Groups", "RequestTimeout", "Posix", "HomeDirectory", "LoginShell", "UserRDN", "DisabledDN", "ReconcileInterval", "IdAttribute",
                           "MaxRequestsPerSecond", "Attribute.NAME"]

    /// Validates the `[LDAP]` and `[LDAP:NAME]` sections, in file order; adds what is wrong to `problems`.
    /// - Parameter hasLinux: the profile has a `[Linux]` section (`Posix=yes` takes its ids from it).
    static func ldapTargets(_ entries: [INIDocument.Entry], file: String, environment: [String: String], serviceGroup: String, hasLinux: Bool,
                            warnings: inout [ConfigWarning], problems: inout [ConfigError]) -> [LdapTarget] {
        targets(entries, kind: "LDAP", keys: ldapKeys, file: file, problems: &problems) { name, r in
            var target = ldapTarget(name: name, &r, environment: environment, serviceGroup: serviceGroup, warnings: &warnings)
            posix(&target, &r, hasLinux: hasLinux)
            return target
        }
    }

    /// `Posix=`, `HomeDirectory=`, `LoginShell=`.
    private static func posix(_ target: inout LdapTarget, _ r: inout SectionReader, hasLinux: Bool) {
        target.posix = r.bool("Posix", false)
        target.homeDirectory = r.homeTemplate("HomeDirectory", target.homeDirectory, name: "the entry's uid")
        target.loginShell = r.absolutePath("LoginShell", target.loginShell)
        if target.posix {
            r.require(hasLinux, "Posix", "Posix=yes takes uidNumber/gidNumber from the profile's POSIX ids; add a [Linux] section (its IdRange= and IdPinsFile= apply)")
        } else {
            for key in ["HomeDirectory", "LoginShell"] where r.string(key) != nil { r.fail(key, "has no effect without Posix=yes") }
        }
    }

    /// The host of an `ldap://HOST[:PORT]` URI (an IPv6 literal without its brackets).
    static func ldapHost(_ uri: String) -> String {
        let authority = uri.dropFirst("ldap://".count).prefix { $0 != "/" }
        if authority.hasPrefix("[") { return String(authority.dropFirst().prefix { $0 != "]" }) }
        return String(authority.prefix { $0 != ":" })
    }

    /// One target; what is wrong goes to `r`.
    private static func ldapTarget(name: String, _ r: inout SectionReader,
                                   environment: [String: String], serviceGroup: String, warnings: inout [ConfigWarning]) -> LdapTarget {
        let uri = r.string("URI") ?? ""
        let lower = uri.lowercased()
        if uri.isEmpty {
            r.fail("URI", "missing; e.g. ldaps://ldap.example.com, ldap://127.0.0.1 or ldapi:///")
        } else if !(lower.hasPrefix("ldaps://") || lower.hasPrefix("ldap://") || lower.hasPrefix("ldapi://")) {
            r.fail("URI", "unsupported scheme in '\(uri)'; use ldaps://, ldap:// (StartTLS unless loopback) or ldapi://")
        } else if uri.contains(" ") {
            r.fail("URI", "give one URI, without spaces")
        }

        var bind = LdapTarget.Bind.external
        let passwordKeys = ["BindPasswordFile", "BindPasswordCredential"].filter { r.string($0) != nil }
        let bindDN = r.dn("BindDN")
        if let bindDN, passwordKeys.count > 1 {
            r.fail(passwordKeys[1], "give only one of BindPasswordFile= and BindPasswordCredential= (for \(bindDN))")
        } else if let bindDN, let credential = r.string("BindPasswordCredential") {
            if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
                let path = directory + "/" + credential
                if let password = r.secretFile(path, key: "BindPasswordCredential") { bind = .simple(dn: bindDN, password: password, file: path) }
            } else {
                r.fail("BindPasswordCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(credential):PATH in the service")
            }
        } else if let bindDN {
            if let path = r.string("BindPasswordFile") {
                if let password = r.secretFile(path, key: "BindPasswordFile") { bind = .simple(dn: bindDN, password: password, file: path) }
                if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                    warnings.append(ConfigWarning(file: path, message: "the LDAP bind password \(exposure)"))
                }
            } else {
                r.fail("BindPasswordFile", "BindDN= needs BindPasswordFile= (a file holding the password) or BindPasswordCredential=")
            }
        } else if !passwordKeys.isEmpty {
            r.fail("BindDN", "\(passwordKeys[0])= without BindDN=; name the DN to bind as")
        } else if !uri.isEmpty && !lower.hasPrefix("ldapi://") {
            r.fail("BindDN", "missing; only an ldapi:// URI can bind without one (SASL EXTERNAL)")
        }

        let baseDN = r.dn("BaseDN") ?? ""
        if baseDN.isEmpty { r.fail("BaseDN", "missing; the directory's base, e.g. dc=example,dc=com") }
        var target = LdapTarget(name: name, uri: uri, bind: bind, baseDN: baseDN)
        if let v = r.dn("UsersDN") { target.usersDN = v }
        if let v = r.dn("GroupsDN") { target.groupsDN = v }
        for (key, value) in [("UsersDN", target.usersDN), ("GroupsDN", target.groupsDN)] where !baseDN.isEmpty {
            if !value.lowercased().hasSuffix(baseDN.lowercased()) { r.fail(key, "'\(value)' is not under BaseDN= \(baseDN)") }
        }
        target.caFile = r.readableFile("CAFile")
        if let v = r.string("Schema") {
            switch LdapTarget.Schema(rawValue: v.lowercased()) {
            case .inetorgperson: target.schema = .inetorgperson
            case .activedirectory: target.schema = .activedirectory
            case nil: r.fail("Schema", "unknown value '\(v)'; use inetorgperson (OpenLDAP, 389 DS) or activedirectory (Active Directory, Samba AD)")
            }
        }
        if target.schema == .activedirectory, lower.hasPrefix("ldap://"), isLoopback(ldapHost(uri)) {
            r.fail("URI", "Schema=activedirectory sets each new user's password (unicodePwd), which Active Directory accepts only over an encrypted connection; "
                   + "use ldaps:// or ldapi://")
        }
        if let v = r.string("DeprovisionMode") {
            if let mode = LdapTarget.DeprovisionMode(rawValue: v.lowercased()) { target.deprovisionMode = mode } else {
                r.fail("DeprovisionMode", "unknown value '\(v)'; use disable, delete or move")
            }
        }
        target.disabledDN = r.dn("DisabledDN")
        if target.deprovisionMode == .move {
            if let disabled = target.disabledDN {
                let lower = disabled.lowercased()
                r.require(baseDN.isEmpty || lower.hasSuffix(baseDN.lowercased()), "DisabledDN", "'\(disabled)' is not under BaseDN= \(baseDN)")
                r.require(!lower.hasSuffix(target.usersDN.lowercased()) && !lower.hasSuffix(target.groupsDN.lowercased()), "DisabledDN",
                          "'\(disabled)' is inside UsersDN= or GroupsDN=; give a container beside them, e.g. ou=disabled,\(baseDN)")
            } else {
                r.fail("DeprovisionMode", "move needs DisabledDN=, where deprovisioned users go (e.g. ou=disabled,\(baseDN.isEmpty ? "BASEDN" : baseDN))")
            }
        } else if target.disabledDN != nil {
            r.fail("DisabledDN", "has no effect without DeprovisionMode=move")
        }
        if let v = r.string("MaxDeletions") {
            target.maxDeletions = DeletionLimit(parsing: v)
            if target.maxDeletions == nil { r.fail("MaxDeletions", DeletionLimit.expected(v)) }
        }
        target.userRDN = r.choice("UserRDN", target.userRDN)
        if target.schema == .activedirectory {
            r.require(target.userRDN == .cn || r.string("UserRDN") == nil, "UserRDN",
                      "Active Directory names users by cn (the user class's naming attribute); remove UserRDN=uid")
            target.userRDN = .cn
        }
        if let v = r.string("IdAttribute") {
            let isName = v.first?.isLetter == true && v.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            if target.schema != .activedirectory {
                r.fail("IdAttribute", "only Schema=activedirectory takes it (inetorgperson keeps the object id in entraObjectId)")
            } else if !isName {
                r.fail("IdAttribute", "'\(v)' is not an attribute name; e.g. msDS-ExternalDirectoryObjectId or msDS-cloudExtensionAttribute2")
            } else {
                target.idAttribute = v
            }
        }
        target.users = r.bool("Users", true)
        target.groups = r.bool("Groups", true)
        r.require(target.users || target.groups, "Groups", "Users=no and Groups=no leaves nothing to provision")
        target.requestTimeout = r.timeSpan("RequestTimeout", atLeast: 1, target.requestTimeout)
        target.reconcileInterval = r.timeSpan("ReconcileInterval", atLeast: 60, target.reconcileInterval)
        if let v = r.string("MaxRequestsPerSecond") {
            if let rate = Double(v), rate == 0 || (rate >= 1 && rate <= 1_000_000) { target.maxRequestsPerSecond = rate } else {
                r.fail("MaxRequestsPerSecond", "expected a number of operations a second, at least 1 (0 = unlimited), found '\(v)'")
            }
        }
        attributeMap(&target, &r)
        return target
    }

    /// `Attribute.NAME=FIELD` overrides, in file order.
    private static func attributeMap(_ target: inout LdapTarget, _ r: inout SectionReader) {
        let overrides = r.values.filter { $0.key.hasPrefix(attributePrefix) }.sorted { $0.value.line < $1.value.line }
            .map { (attribute: String($0.key.dropFirst(attributePrefix.count)), field: $0.value.value) }
        guard !overrides.isEmpty else { return }
        if target.schema == .activedirectory {
            for o in overrides { r.fail(attributePrefix + o.attribute, "Schema=activedirectory has a fixed mapping in this version; remove it") }
            return
        }
        var problems: [(String, String)] = []
        target.userAttributes = LdapAttributeMap(overrides: overrides, rdn: target.userRDN.rawValue) { problems.append(($0, $1)) }
        for (attribute, message) in problems { r.fail(attributePrefix + attribute, message) }
    }

    static let attributePrefix = "Attribute."
}
