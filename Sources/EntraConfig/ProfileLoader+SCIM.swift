import Foundation

extension ProfileLoader {
    static let scimKeys = ["Endpoint", "BearerToken", "BearerTokenFile", "BearerTokenCredential", "CAFile", "Proxy", "Users", "Groups",
                           "UserNameFrom", "DeprovisionMode", "MaxRequestsPerSecond", "RequestTimeout", "Bulk"]

    /// Validates the `[SCIM]` and `[SCIM:NAME]` sections, in file order; adds what is wrong to `problems`.
    static func scimTargets(_ entries: [INIDocument.Entry], file: String, environment: [String: String], serviceGroup: String,
                            warnings: inout [ConfigWarning], problems: inout [ConfigError]) -> [ScimTarget] {
        var targets: [ScimTarget] = []
        for section in targetSections(entries, kind: "SCIM", keys: scimKeys, file: file, problems: &problems) {
            do {
                targets.append(try scimTarget(name: section.name, section.values, sectionLine: section.line, file: file,
                                              environment: environment, serviceGroup: serviceGroup, warnings: &warnings))
            } catch let error {
                problems.append(error)
            }
        }
        return targets
    }

    /// The `[KIND]` (named `default`) and `[KIND:NAME]` sections of a push target kind, in file order,
    /// with their keys checked against `keys`.
    static func targetSections(_ entries: [INIDocument.Entry], kind: String, keys: [String], file: String,
                               problems: inout [ConfigError]) -> [(name: String, values: [String: (value: String, line: Int)], line: Int)] {
        var order: [String] = []
        var sections: [String: [String: (value: String, line: Int)]] = [:]
        var firstLine: [String: Int] = [:]
        var badSections: Set<String> = []
        for entry in entries {
            let name = entry.section == kind ? "default" : String(entry.section.dropFirst(kind.count + 1))
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                if badSections.insert(name).inserted {
                    problems.append(ConfigError(file: file, line: entry.line, message: "section [\(entry.section)]: a target name may only use letters, digits, '-' and '_'"))
                }
                continue
            }
            guard keys.contains(entry.key) else {
                problems.append(ConfigError(file: file, line: entry.line, key: entry.key, message: "unknown key in [\(entry.section)]\(suggest(entry.key, keys))"))
                continue
            }
            if sections[name] == nil {
                order.append(name)
                firstLine[name] = entry.line
            }
            sections[name, default: [:]][entry.key] = (entry.value, entry.line)
        }
        return order.map { ($0, sections[$0]!, firstLine[$0]!) }
    }

    /// One target; throws all of its problems at once.
    private static func scimTarget(name: String, _ values: [String: (value: String, line: Int)], sectionLine: Int, file: String,
                                   environment: [String: String], serviceGroup: String, warnings: inout [ConfigWarning]) throws(ConfigError) -> ScimTarget {
        let section = name == "default" ? "[SCIM]" : "[SCIM:\(name)]"
        var problems: [ConfigError] = []
        func error(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: values[key]?.line ?? sectionLine, key: key, message: "\(section): \(message)")
        }
        func require(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) {
            if !condition { problems.append(error(key, message())) }
        }
        func string(_ key: String) -> String? {
            guard let v = values[key]?.value, !v.isEmpty else { return nil }
            return v
        }
        func bool(_ key: String, _ fallback: Bool) -> Bool {
            guard let v = string(key) else { return fallback }
            switch v.lowercased() {
            case "yes", "true", "on", "1": return true
            case "no", "false", "off", "0": return false
            default:
                problems.append(error(key, "expected yes or no, found '\(v)'"))
                return fallback
            }
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) -> T where T.RawValue == String {
            guard let v = string(key) else { return fallback }
            guard let value = T.allCases.first(where: { $0.rawValue.lowercased() == v.lowercased() }) else {
                problems.append(error(key, "unknown value '\(v)'; use \(T.allCases.map(\.rawValue).joined(separator: " or "))"))
                return fallback
            }
            return value
        }
        func secretFile(_ path: String, key: String) -> Secret? {
            do { return Secret(try readSecret(path, key: key, error: error)) } catch let failure {
                problems.append(failure)
                return nil
            }
        }

        var endpoint = string("Endpoint") ?? ""
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        if endpoint.isEmpty {
            problems.append(error("Endpoint", "missing; the SCIM base URL, e.g. https://app.example/scim/v2"))
        } else if let parsed = URLComponents(string: endpoint), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty {
            require(scheme == "https" || (scheme == "http" && isLoopback(host)), "Endpoint",
                    scheme == "http" ? "http:// is only allowed for loopback hosts; use https://" : "unsupported scheme '\(scheme)'; use https://")
        } else {
            problems.append(error("Endpoint", "not a URL: '\(endpoint)'"))
        }

        let tokenKeys = ["BearerToken", "BearerTokenFile", "BearerTokenCredential"].filter { string($0) != nil }
        if tokenKeys.isEmpty {
            problems.append(error("BearerTokenFile", "no token; set BearerTokenFile=, BearerTokenCredential= or BearerToken="))
        } else if tokenKeys.count > 1 {
            problems.append(error(tokenKeys[1], "give only one of \(tokenKeys.joined(separator: ", "))"))
        }
        var token: Secret?
        var source = SecretSource.inline  // set below whenever a token is read
        switch tokenKeys.count == 1 ? tokenKeys[0] : nil {
        case nil:
            break
        case "BearerTokenFile":
            let path = string("BearerTokenFile")!
            token = secretFile(path, key: "BearerTokenFile")
            source = .file(path)
            if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: path, message: "the SCIM bearer token \(exposure)"))
            }
        case "BearerTokenCredential":
            let credential = string("BearerTokenCredential")!
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                problems.append(error("BearerTokenCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(credential):PATH in the service"))
                break
            }
            token = secretFile(dir + "/" + credential, key: "BearerTokenCredential")
            source = .credential(credential)
        default:
            token = Secret(string("BearerToken")!)
            source = .inline
            if let exposure = SecretFileAccess.exposure(of: file, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: file, message: "holds BearerToken= and \(exposure) (or use BearerTokenFile=)"))
            }
        }
        if let token {
            require(token.value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), tokenKeys[0], "the token holds spaces or control characters")
        }

        var target = ScimTarget(name: name, endpoint: endpoint, bearerToken: token ?? Secret(""), tokenSource: source)
        target.caFile = string("CAFile")
        if let caFile = target.caFile { require(FileManager.default.isReadableFile(atPath: caFile), "CAFile", "cannot read \(caFile)") }
        target.proxy = string("Proxy")
        if let proxy = target.proxy { require(URLComponents(string: proxy)?.host != nil, "Proxy", "not a URL: '\(proxy)'") }
        target.users = bool("Users", true)
        target.groups = bool("Groups", true)
        require(target.users || target.groups, "Groups", "Users=no and Groups=no leaves nothing to push")
        target.userNameFrom = choice("UserNameFrom", ScimTarget.UserNameSource.userPrincipalName)
        target.deprovisionMode = choice("DeprovisionMode", ScimTarget.DeprovisionMode.deactivate)
        if let v = string("MaxRequestsPerSecond") {
            if let rate = Double(v), rate >= 0, rate <= 100_000 { target.maxRequestsPerSecond = rate } else {
                problems.append(error("MaxRequestsPerSecond", "expected a number (0 = unlimited), found '\(v)'"))
            }
        }
        if let v = string("RequestTimeout") {
            do {
                target.requestTimeout = try TimeSpan.parse(v)
                require(target.requestTimeout >= 1, "RequestTimeout", "must be at least 1s")
            } catch let parseError {
                problems.append(error("RequestTimeout", parseError.description))
            }
        }
        target.bulk = bool("Bulk", true)
        if let failure = ConfigError(problems: problems) { throw failure }
        return target
    }
}
