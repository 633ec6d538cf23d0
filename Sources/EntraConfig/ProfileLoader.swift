import Foundation

/// Reads and validates profile files.
public enum ProfileLoader {
    static let known: [String: [String]] = [
        "Tenant": ["TenantId", "ClientId", "ClientSecret", "ClientSecretFile", "ClientSecretCredential", "ClientSecretExpires",
                   "CertificateFile", "PrivateKeyFile", "CertificateAlgorithm", "Cloud",
                   "LoginEndpoint", "GraphEndpoint", "CAFile", "Proxy"],
        "Sync": ["Interval", "RandomizedDelay", "Users", "Groups", "RequestTimeout", "MaxAttempts", "UserFilter", "GroupFilter",
                 "IncludeGroups", "ExcludeUnlicensed", "ExcludeDisabled", "MaxDeletions", "SoftDeleteGrace", "Parallel"],
        "Output": ["Export", "MetricsFile", "OnChange", "OnChangeTimeout"],
    ]

    /// Loads every `*.conf` in `dir`; a bad file does not stop the others.
    /// - Parameter serviceGroup: the group the service reads secret files through (tests inject one).
    public static func loadDirectory(_ dir: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                                     serviceGroup: String = SecretFileAccess.serviceGroup) -> ProfileSet {
        var set = ProfileSet()
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir)
        } catch {
            set.errors["*"] = ConfigError(file: dir, message: "cannot read the configuration directory: \((error as NSError).localizedDescription)")
            return set
        }
        for name in names.sorted() where name.hasSuffix(".conf") && !name.hasPrefix(".") {
            let path = dir + "/" + name
            do {
                let (profile, warnings) = try load(file: path, environment: environment, serviceGroup: serviceGroup)
                set.profiles.append(profile)
                set.warnings += warnings
            } catch {
                set.errors[String(name.dropLast(5))] = error
            }
        }
        for (name, error) in overlappingRanges(set.profiles) { set.errors[name] = error }
        set.profiles.removeAll { set.errors[$0.name] != nil }
        return set
    }

    /// Loads one profile file; the profile's name is the file name without `.conf`.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            serviceGroup: String = SecretFileAccess.serviceGroup) throws(ConfigError) -> (Profile, [ConfigWarning])
    {
        let base = (file as NSString).lastPathComponent
        let name = base.hasSuffix(".conf") ? String(base.dropLast(5)) : base
        guard !name.isEmpty, !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) })
        else {
            throw ConfigError(file: file, message: "profile name '\(name)' may only use letters, digits, '.', '_' and '-'")
        }
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(file: file, message: "cannot read: \((error as NSError).localizedDescription)")
        }
        // Every problem is collected and the checks go on, so one round of fixing suffices.
        var problems: [ConfigError] = []
        let document = INIDocument(text: text, file: file, problems: &problems)
        var values: [String: (value: String, line: Int)] = [:]
        var scimEntries: [INIDocument.Entry] = []
        var ldapEntries: [INIDocument.Entry] = []
        var linuxEntries: [INIDocument.Entry] = []
        var reportedSections: Set<String> = []
        for entry in document.entries {
            if entry.section == "SCIM" || entry.section.hasPrefix("SCIM:") {
                scimEntries.append(entry)
                continue
            }
            if entry.section == "LDAP" || entry.section.hasPrefix("LDAP:") {
                ldapEntries.append(entry)
                continue
            }
            if entry.section == "Linux" {
                linuxEntries.append(entry)
                continue
            }
            guard let keys = known[entry.section] else {
                if reportedSections.insert(entry.section).inserted {
                    problems.append(ConfigError(file: file, line: entry.line, message: "unknown section [\(entry.section)]\(suggest(entry.section, Array(known.keys)))"))
                }
                continue
            }
            guard keys.contains(entry.key) else {
                problems.append(ConfigError(file: file, line: entry.line, key: entry.key,
                                            message: "unknown key in [\(entry.section)]\(suggest(entry.key, keys))"))
                continue
            }
            values[entry.key] = (entry.value, entry.line)
        }
        var warnings: [ConfigWarning] = []

        func error(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: values[key]?.line, key: key, message: message)
        }
        /// Records a problem with `key` unless `condition` holds.
        func require(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) {
            if !condition { problems.append(error(key, message())) }
        }
        func string(_ key: String) -> String? {
            guard let v = values[key]?.value, !v.isEmpty else { return nil }
            return v
        }
        func required(_ key: String) -> String? {
            guard let v = string(key) else {
                problems.append(ConfigError(file: file, key: key, message: "missing; it is required in [Tenant]"))
                return nil
            }
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
        func span(_ key: String, _ fallback: Double) -> Double {
            guard let v = string(key) else { return fallback }
            do { return try TimeSpan.parse(v) } catch let parseError {
                problems.append(error(key, parseError.description))
                return fallback
            }
        }
        func url(_ key: String) -> String? {
            guard var v = string(key) else { return nil }
            while v.hasSuffix("/") { v.removeLast() }
            guard let parsed = URLComponents(string: v), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
                problems.append(error(key, "not a URL: '\(v)'"))
                return nil
            }
            switch scheme {
            case "https": return v
            case "http":
                require(isLoopback(host), key, "http:// is only allowed for loopback hosts (the simulator); use https://")
                return v
            default:
                problems.append(error(key, "unsupported scheme '\(scheme)'; use https://"))
                return nil
            }
        }
        func secretFile(_ path: String, key: String) -> String? {
            do { return try readSecret(path, key: key, error: error) } catch let failure {
                problems.append(failure)
                return nil
            }
        }

        let tenantId = required("TenantId")
        if let tenantId {
            require(isGUID(tenantId) || isDomain(tenantId), "TenantId", "'\(tenantId)' is neither a GUID nor a domain name")
        }
        let clientId = required("ClientId")
        if let clientId { require(isGUID(clientId), "ClientId", "'\(clientId)' is not a GUID; use the Application (client) ID") }

        let secretKeys = ["ClientSecret", "ClientSecretFile", "ClientSecretCredential", "CertificateFile"].filter { string($0) != nil }
        if secretKeys.isEmpty {
            problems.append(ConfigError(file: file, key: "ClientSecretFile", message: "no credential; set ClientSecretFile=, ClientSecretCredential=, ClientSecret=, or CertificateFile= with PrivateKeyFile="))
        } else if secretKeys.count > 1 {
            problems.append(error(secretKeys[1], "give only one of \(secretKeys.joined(separator: ", "))"))
        }
        var secret = Secret("")
        var source = SecretSource.inline  // set below whenever no problem is recorded
        var certificate: CertificateCredential?
        switch secretKeys.count == 1 ? secretKeys[0] : nil {
        case nil:
            break
        case "CertificateFile":
            let certPath = string("CertificateFile")!
            guard let keyPath = string("PrivateKeyFile") else {
                problems.append(error("CertificateFile", "PrivateKeyFile= is needed too (the certificate's RSA private key, PEM)"))
                break
            }
            guard let pem = FileManager.default.contents(atPath: certPath).map({ String(decoding: $0, as: UTF8.self) }),
                  let der = CertificateCredential.firstCertificateDER(pem: pem) else {
                problems.append(error("CertificateFile", "cannot read a PEM certificate from \(certPath)"))
                break
            }
            guard let key = secretFile(keyPath, key: "PrivateKeyFile") else { break }
            guard key.contains("PRIVATE KEY-----") else {
                problems.append(error("PrivateKeyFile", "\(keyPath) holds no PEM private key"))
                break
            }
            if let exposure = SecretFileAccess.exposure(of: keyPath, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: keyPath, message: "the private key \(exposure)"))
            }
            let algorithmText = (string("CertificateAlgorithm") ?? "PS256").uppercased()
            guard let algorithm = CertificateCredential.Algorithm(rawValue: algorithmText) else {
                problems.append(error("CertificateAlgorithm", "use PS256 (default) or RS256"))
                break
            }
            certificate = CertificateCredential(certificatePath: certPath, privateKeyPath: keyPath, certificateDER: der,
                                                privateKeyPEM: Secret(key), algorithm: algorithm,
                                                notAfter: CertificateCredential.notAfter(der: der))
            source = .certificate(certPath)
        case "ClientSecret":
            secret = Secret(string("ClientSecret")!)
            source = .inline
            if let exposure = SecretFileAccess.exposure(of: file, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: file, message: "holds ClientSecret= and \(exposure) (or move the secret to ClientSecretFile=)"))
            }
        case "ClientSecretFile":
            let path = string("ClientSecretFile")!
            guard let value = secretFile(path, key: "ClientSecretFile") else { break }
            secret = Secret(value)
            source = .file(path)
            if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: path, message: "the client secret \(exposure)"))
            }
        default:
            let name = string("ClientSecretCredential")!
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                problems.append(error("ClientSecretCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(name):PATH in the service"))
                break
            }
            guard let value = secretFile(dir + "/" + name, key: "ClientSecretCredential") else { break }
            secret = Secret(value)
            source = .credential(name)
        }

        let cloudText = string("Cloud") ?? "global"
        let cloud = Cloud(rawValue: cloudText.lowercased())
        require(cloud != nil, "Cloud", "unknown cloud '\(cloudText)'; use global, usgov, usgov-dod or china")
        let caFile = string("CAFile")
        if let caFile { require(FileManager.default.isReadableFile(atPath: caFile), "CAFile", "cannot read \(caFile)") }
        let proxy = string("Proxy")
        if let proxy { require(URLComponents(string: proxy)?.host != nil, "Proxy", "not a URL: '\(proxy)'; use e.g. http://proxy.example:3128") }
        let loginEndpoint = url("LoginEndpoint")
        let graphEndpoint = url("GraphEndpoint")
        let interval = span("Interval", 1800)
        require(interval >= 1, "Interval", "must be at least 1s")
        let delay = span("RandomizedDelay", min(interval / 10, 300))
        let timeout = span("RequestTimeout", 60)
        require(timeout >= 1, "RequestTimeout", "must be at least 1s")
        var attempts = 6
        if let v = string("MaxAttempts") {
            if let n = Int(v), (1...20).contains(n) { attempts = n } else {
                problems.append(error("MaxAttempts", "expected a number from 1 to 20, found '\(v)'"))
            }
        }
        let users = bool("Users", true)
        let groups = bool("Groups", true)
        require(users || groups, "Groups", "Users=no and Groups=no leaves nothing to sync")

        func filter(_ key: String, _ known: [String]) -> FilterExpression? {
            guard let text = string(key) else { return nil }
            let expression: FilterExpression
            do {
                expression = try FilterExpression.parse(text)
            } catch let syntax {
                problems.append(error(key, "\(syntax) in '\(text)'"))
                return nil
            }
            if let unknown = expression.properties.subtracting(known).sorted().first {
                problems.append(error(key, "unknown property '\(unknown)'; use one of \(known.joined(separator: ", "))"))
                return nil
            }
            return expression
        }
        var scope = Scope()
        scope.userFilter = filter("UserFilter", userFilterProperties)
        scope.groupFilter = filter("GroupFilter", groupFilterProperties)
        scope.includeGroups = (string("IncludeGroups") ?? "").split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        scope.excludeUnlicensed = bool("ExcludeUnlicensed", false)
        scope.excludeDisabled = bool("ExcludeDisabled", false)
        var maxDeletions: DeletionLimit?
        if let v = string("MaxDeletions") {
            maxDeletions = DeletionLimit(parsing: v)
            if maxDeletions == nil { problems.append(error("MaxDeletions", DeletionLimit.expected(v))) }
        }

        var secretExpires: Double?
        if let v = string("ClientSecretExpires") {
            secretExpires = CivilTime.utc(date: v)
            require(secretExpires != nil, "ClientSecretExpires", "expected a date like 2027-03-31, found '\(v)'")
        }
        var exportFormats: Set<ExportFormat>?
        if let v = string("Export") {
            var formats = Set<ExportFormat>()
            for item in v.split(separator: ",").map({ String($0).trimmingSpaces.lowercased() }) where !item.isEmpty {
                guard let format = ExportFormat(rawValue: item) else {
                    problems.append(error("Export", "unknown format '\(item)'; use json, csv or json,csv"))
                    continue
                }
                formats.insert(format)
            }
            require(!formats.isEmpty, "Export", "name at least one format: json, csv")
            exportFormats = formats
        }
        let softDeleteGrace = span("SoftDeleteGrace", 0)
        var parallel = ParallelSync.auto
        if let v = string("Parallel") {
            if let mode = ParallelSync(v) { parallel = mode } else {
                problems.append(error("Parallel", "expected auto, off or a maximum number of requests at once (1–\(ParallelSync.maxRequests)), found '\(v)'"))
            }
        }
        let onChange = string("OnChange")
        if let program = onChange {
            require(program.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: program),
                    "OnChange", "'\(program)' is not an executable file given by its absolute path")
        }
        let onChangeTimeout = span("OnChangeTimeout", 60)
        let targets = scimTargets(scimEntries, file: file, environment: environment, serviceGroup: serviceGroup, warnings: &warnings, problems: &problems)
        let ldapTargets = ldapTargets(ldapEntries, file: file, environment: environment, serviceGroup: serviceGroup, hasLinux: !linuxEntries.isEmpty,
                                      warnings: &warnings, problems: &problems)
        let linux = linuxSettings(linuxEntries, file: file, problems: &problems)

        // A missing or invalid value always recorded a problem, so the fallback error is never seen.
        guard problems.isEmpty, let tenantId, let clientId, let cloud else {
            throw ConfigError(problems: problems) ?? ConfigError(file: file, message: "incomplete profile")
        }
        var profile = Profile(
            name: name, sourceFile: file, tenantId: tenantId, clientId: clientId, clientSecret: secret, secretSource: source,
            cloud: cloud, loginEndpoint: loginEndpoint ?? cloud.loginEndpoint,
            graphEndpoint: graphEndpoint ?? cloud.graphEndpoint, caFile: caFile, proxy: proxy,
            interval: interval, randomizedDelay: delay, requestTimeout: timeout, syncUsers: users, syncGroups: groups,
            maxAttempts: attempts)
        profile.scope = scope
        profile.maxDeletions = maxDeletions
        profile.certificate = certificate
        profile.clientSecretExpires = secretExpires
        if let exportFormats { profile.exportFormats = exportFormats }
        profile.metricsPath = string("MetricsFile")
        profile.softDeleteGrace = softDeleteGrace
        profile.parallel = parallel
        profile.onChange = onChange
        profile.onChangeTimeout = onChangeTimeout
        profile.scimTargets = targets
        profile.ldapTargets = ldapTargets
        profile.linux = linux
        return (profile, warnings)
    }

    /// Properties filters may use (what the mirror holds).
    public static let userFilterProperties = ["id", "userPrincipalName", "displayName", "givenName", "surname", "mail",
                                              "accountEnabled", "jobTitle", "department", "employeeId", "mailNickname",
                                              "onPremisesImmutableId"]
    public static let groupFilterProperties = ["id", "displayName", "description", "mail", "mailEnabled", "mailNickname",
                                               "securityEnabled"]

    static func readSecret(_ path: String, key: String, error: (String, String) -> ConfigError) throws(ConfigError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw error(key, "cannot read \(path)")
        }
        let value = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw error(key, "\(path) is empty") }
        return value
    }

    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" { return true }
        let parts = h.split(separator: ".")
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    static func isGUID(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        return parts.map(\.count) == [8, 4, 4, 4, 12] && parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    static func isDomain(_ s: String) -> Bool {
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }
    }

    static func suggest(_ word: String, _ candidates: [String]) -> String {
        let best = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
        guard let best, best.1 <= 3 else { return "" }
        return "; did you mean \(best.0)?"
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}
