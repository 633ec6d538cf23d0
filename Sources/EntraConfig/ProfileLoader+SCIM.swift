import Foundation

extension ProfileLoader {
    static let scimKeys = ["Endpoint", "BearerToken", "BearerTokenFile", "BearerTokenCredential", "CAFile", "Proxy", "Users", "Groups",
                           "UserNameFrom", "DeprovisionMode", "MaxRequestsPerSecond", "RequestTimeout", "Bulk"]

    /// Validates the `[SCIM]` and `[SCIM:NAME]` sections, in file order.
    static func scimTargets(_ entries: [INIDocument.Entry], file: String, environment: [String: String], serviceGroup: String,
                            warnings: inout [ConfigWarning]) throws(ConfigError) -> [ScimTarget] {
        var order: [String] = []
        var sections: [String: [String: (value: String, line: Int)]] = [:]
        var firstLine: [String: Int] = [:]
        for entry in entries {
            let name = entry.section == "SCIM" ? "default" : String(entry.section.dropFirst(5))
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw ConfigError(file: file, line: entry.line, message: "section [\(entry.section)]: a target name may only use letters, digits, '-' and '_'")
            }
            guard scimKeys.contains(entry.key) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key, message: "unknown key in [\(entry.section)]\(suggest(entry.key, scimKeys))")
            }
            if sections[name] == nil {
                order.append(name)
                firstLine[name] = entry.line
            }
            sections[name, default: [:]][entry.key] = (entry.value, entry.line)
        }
        var targets: [ScimTarget] = []
        for name in order {
            targets.append(try scimTarget(name: name, sections[name]!, sectionLine: firstLine[name]!, file: file,
                                          environment: environment, serviceGroup: serviceGroup, warnings: &warnings))
        }
        return targets
    }

    private static func scimTarget(name: String, _ values: [String: (value: String, line: Int)], sectionLine: Int, file: String,
                                   environment: [String: String], serviceGroup: String, warnings: inout [ConfigWarning]) throws(ConfigError) -> ScimTarget {
        let section = name == "default" ? "[SCIM]" : "[SCIM:\(name)]"
        func error(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: values[key]?.line ?? sectionLine, key: key, message: "\(section): \(message)")
        }
        func string(_ key: String) -> String? {
            guard let v = values[key]?.value, !v.isEmpty else { return nil }
            return v
        }
        func bool(_ key: String, _ fallback: Bool) throws(ConfigError) -> Bool {
            guard let v = string(key) else { return fallback }
            switch v.lowercased() {
            case "yes", "true", "on", "1": return true
            case "no", "false", "off", "0": return false
            default: throw error(key, "expected yes or no, found '\(v)'")
            }
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) throws(ConfigError) -> T where T.RawValue == String {
            guard let v = string(key) else { return fallback }
            guard let value = T.allCases.first(where: { $0.rawValue.lowercased() == v.lowercased() }) else {
                throw error(key, "unknown value '\(v)'; use \(T.allCases.map(\.rawValue).joined(separator: " or "))")
            }
            return value
        }

        guard var endpoint = string("Endpoint") else { throw error("Endpoint", "missing; the SCIM base URL, e.g. https://app.example/scim/v2") }
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        guard let parsed = URLComponents(string: endpoint), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
            throw error("Endpoint", "not a URL: '\(endpoint)'")
        }
        guard scheme == "https" || (scheme == "http" && isLoopback(host)) else {
            throw error("Endpoint", scheme == "http" ? "http:// is only allowed for loopback hosts; use https://" : "unsupported scheme '\(scheme)'; use https://")
        }

        let tokenKeys = ["BearerToken", "BearerTokenFile", "BearerTokenCredential"].filter { string($0) != nil }
        guard tokenKeys.count == 1 else {
            if tokenKeys.isEmpty { throw error("BearerTokenFile", "no token; set BearerTokenFile=, BearerTokenCredential= or BearerToken=") }
            throw error(tokenKeys[1], "give only one of \(tokenKeys.joined(separator: ", "))")
        }
        let token: Secret
        let source: SecretSource
        switch tokenKeys[0] {
        case "BearerTokenFile":
            let path = string("BearerTokenFile")!
            token = Secret(try readSecret(path, key: "BearerTokenFile", error: error))
            source = .file(path)
            if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: path, message: "the SCIM bearer token \(exposure)"))
            }
        case "BearerTokenCredential":
            let credential = string("BearerTokenCredential")!
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                throw error("BearerTokenCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(credential):PATH in the service")
            }
            token = Secret(try readSecret(dir + "/" + credential, key: "BearerTokenCredential", error: error))
            source = .credential(credential)
        default:
            token = Secret(string("BearerToken")!)
            source = .inline
            if let exposure = SecretFileAccess.exposure(of: file, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: file, message: "holds BearerToken= and \(exposure) (or use BearerTokenFile=)"))
            }
        }
        guard token.value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw error(tokenKeys[0], "the token holds spaces or control characters")
        }

        var target = ScimTarget(name: name, endpoint: endpoint, bearerToken: token, tokenSource: source)
        target.caFile = string("CAFile")
        if let caFile = target.caFile, !FileManager.default.isReadableFile(atPath: caFile) { throw error("CAFile", "cannot read \(caFile)") }
        target.proxy = string("Proxy")
        if let proxy = target.proxy, URLComponents(string: proxy)?.host == nil { throw error("Proxy", "not a URL: '\(proxy)'") }
        target.users = try bool("Users", true)
        target.groups = try bool("Groups", true)
        guard target.users || target.groups else { throw error("Groups", "Users=no and Groups=no leaves nothing to push") }
        target.userNameFrom = try choice("UserNameFrom", ScimTarget.UserNameSource.userPrincipalName)
        target.deprovisionMode = try choice("DeprovisionMode", ScimTarget.DeprovisionMode.deactivate)
        if let v = string("MaxRequestsPerSecond") {
            guard let rate = Double(v), rate >= 0, rate <= 100_000 else { throw error("MaxRequestsPerSecond", "expected a number (0 = unlimited), found '\(v)'") }
            target.maxRequestsPerSecond = rate
        }
        if let v = string("RequestTimeout") {
            do { target.requestTimeout = try TimeSpan.parse(v) } catch let parseError { throw error("RequestTimeout", parseError.description) }
            guard target.requestTimeout >= 1 else { throw error("RequestTimeout", "must be at least 1s") }
        }
        target.bulk = try bool("Bulk", true)
        return target
    }
}
