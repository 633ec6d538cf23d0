import Foundation

extension ProfileLoader {
    static let ldapKeys = ["URI", "BindDN", "BindPasswordFile", "BindPasswordCredential", "CAFile", "BaseDN", "UsersDN", "GroupsDN", "Schema",
                           "DeprovisionMode", "MaxDeletions", "Users", "Groups", "RequestTimeout"]

    /// Validates the `[LDAP]` and `[LDAP:NAME]` sections, in file order; adds what is wrong to `problems`.
    static func ldapTargets(_ entries: [INIDocument.Entry], file: String, environment: [String: String], serviceGroup: String,
                            warnings: inout [ConfigWarning], problems: inout [ConfigError]) -> [LdapTarget] {
        var targets: [LdapTarget] = []
        for section in targetSections(entries, kind: "LDAP", keys: ldapKeys, file: file, problems: &problems) {
            do {
                targets.append(try ldapTarget(name: section.name, section.values, sectionLine: section.line, file: file,
                                              environment: environment, serviceGroup: serviceGroup, warnings: &warnings))
            } catch let error {
                problems.append(error)
            }
        }
        return targets
    }

    /// One target; throws all of its problems at once.
    private static func ldapTarget(name: String, _ values: [String: (value: String, line: Int)], sectionLine: Int, file: String,
                                   environment: [String: String], serviceGroup: String, warnings: inout [ConfigWarning]) throws(ConfigError) -> LdapTarget {
        let section = name == "default" ? "[LDAP]" : "[LDAP:\(name)]"
        var problems: [ConfigError] = []
        func error(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: values[key]?.line ?? sectionLine, key: key, message: "\(section): \(message)")
        }
        func string(_ key: String) -> String? {
            guard let v = values[key]?.value, !v.isEmpty else { return nil }
            return v
        }
        func bool(_ key: String) -> Bool {
            guard let v = string(key) else { return true }
            switch v.lowercased() {
            case "yes", "true", "on", "1": return true
            case "no", "false", "off", "0": return false
            default:
                problems.append(error(key, "expected yes or no, found '\(v)'"))
                return true
            }
        }
        func dn(_ key: String) -> String? {
            guard let v = string(key) else { return nil }
            if !v.contains("=") { problems.append(error(key, "'\(v)' is not a DN (e.g. ou=people,dc=example,dc=com)")) }
            return v
        }

        let uri = string("URI") ?? ""
        let lower = uri.lowercased()
        if uri.isEmpty {
            problems.append(error("URI", "missing; e.g. ldaps://ldap.example.com, ldap://127.0.0.1 or ldapi:///"))
        } else if !(lower.hasPrefix("ldaps://") || lower.hasPrefix("ldap://") || lower.hasPrefix("ldapi://")) {
            problems.append(error("URI", "unsupported scheme in '\(uri)'; use ldaps://, ldap:// (StartTLS unless loopback) or ldapi://"))
        } else if uri.contains(" ") {
            problems.append(error("URI", "give one URI, without spaces"))
        }

        var bind = LdapTarget.Bind.external
        let passwordKeys = ["BindPasswordFile", "BindPasswordCredential"].filter { string($0) != nil }
        if let bindDN = dn("BindDN"), passwordKeys.count > 1 {
            problems.append(error(passwordKeys[1], "give only one of BindPasswordFile= and BindPasswordCredential= (for \(bindDN))"))
        } else if let bindDN = dn("BindDN"), let credential = string("BindPasswordCredential") {
            if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
                do {
                    let path = directory + "/" + credential
                    bind = .simple(dn: bindDN, password: Secret(try readSecret(path, key: "BindPasswordCredential", error: error)), file: path)
                } catch let failure {
                    problems.append(failure)
                }
            } else {
                problems.append(error("BindPasswordCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(credential):PATH in the service"))
            }
        } else if let bindDN = dn("BindDN") {
            if let path = string("BindPasswordFile") {
                do {
                    bind = .simple(dn: bindDN, password: Secret(try readSecret(path, key: "BindPasswordFile", error: error)), file: path)
                } catch let failure {
                    problems.append(failure)
                }
                if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                    warnings.append(ConfigWarning(file: path, message: "the LDAP bind password \(exposure)"))
                }
            } else {
                problems.append(error("BindPasswordFile", "BindDN= needs BindPasswordFile= (a file holding the password) or BindPasswordCredential="))
            }
        } else if !passwordKeys.isEmpty {
            problems.append(error("BindDN", "\(passwordKeys[0])= without BindDN=; name the DN to bind as"))
        } else if !uri.isEmpty && !lower.hasPrefix("ldapi://") {
            problems.append(error("BindDN", "missing; only an ldapi:// URI can bind without one (SASL EXTERNAL)"))
        }

        let baseDN = dn("BaseDN") ?? ""
        if baseDN.isEmpty { problems.append(error("BaseDN", "missing; the directory's base, e.g. dc=example,dc=com")) }
        var target = LdapTarget(name: name, uri: uri, bind: bind, baseDN: baseDN)
        if let v = dn("UsersDN") { target.usersDN = v }
        if let v = dn("GroupsDN") { target.groupsDN = v }
        for (key, value) in [("UsersDN", target.usersDN), ("GroupsDN", target.groupsDN)] where !baseDN.isEmpty {
            if !value.lowercased().hasSuffix(baseDN.lowercased()) { problems.append(error(key, "'\(value)' is not under BaseDN= \(baseDN)")) }
        }
        target.caFile = string("CAFile")
        if let caFile = target.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            problems.append(error("CAFile", "cannot read \(caFile)"))
        }
        if let v = string("Schema") {
            switch LdapTarget.Schema(rawValue: v.lowercased()) {
            case .inetorgperson: target.schema = .inetorgperson
            case .activedirectory: problems.append(error("Schema", "activedirectory is not yet supported; use inetorgperson (OpenLDAP, 389 DS)"))
            case nil: problems.append(error("Schema", "unknown value '\(v)'; use inetorgperson"))
            }
        }
        if let v = string("DeprovisionMode") {
            if let mode = LdapTarget.DeprovisionMode(rawValue: v.lowercased()) { target.deprovisionMode = mode } else {
                problems.append(error("DeprovisionMode", "unknown value '\(v)'; use disable or delete"))
            }
        }
        if let v = string("MaxDeletions") {
            target.maxDeletions = DeletionLimit(parsing: v)
            if target.maxDeletions == nil { problems.append(error("MaxDeletions", DeletionLimit.expected(v))) }
        }
        target.users = bool("Users")
        target.groups = bool("Groups")
        if !target.users && !target.groups { problems.append(error("Groups", "Users=no and Groups=no leaves nothing to provision")) }
        if let v = string("RequestTimeout") {
            do {
                target.requestTimeout = try TimeSpan.parse(v)
                if target.requestTimeout < 1 { problems.append(error("RequestTimeout", "must be at least 1s")) }
            } catch let parseError {
                problems.append(error("RequestTimeout", parseError.description))
            }
        }
        if let failure = ConfigError(problems: problems) { throw failure }
        return target
    }
}
