import Foundation

/// Reads and validates profile files.
public enum ProfileLoader {
    static let known: [String: [String]] = [
        "Tenant": ["TenantId", "ClientId", "ClientSecret", "ClientSecretFile", "ClientSecretCredential", "ClientSecretExpires",
                   "CertificateFile", "PrivateKeyFile", "CertificateAlgorithm", "Cloud",
                   "LoginEndpoint", "GraphEndpoint", "CAFile", "Proxy"],
        "Sync": ["Interval", "RandomizedDelay", "Users", "Groups", "RequestTimeout", "MaxAttempts", "UserFilter", "GroupFilter",
                 "IncludeGroups", "ExcludeUnlicensed", "ExcludeDisabled", "MaxDeletions", "SoftDeleteGrace"],
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
        let document = try INIDocument(text: text, file: file)
        var values: [String: (value: String, line: Int)] = [:]
        var scimEntries: [INIDocument.Entry] = []
        for entry in document.entries {
            if entry.section == "SCIM" || entry.section.hasPrefix("SCIM:") {
                scimEntries.append(entry)
                continue
            }
            guard let keys = known[entry.section] else {
                throw ConfigError(file: file, line: entry.line, message: "unknown section [\(entry.section)]\(suggest(entry.section, Array(known.keys)))")
            }
            guard keys.contains(entry.key) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key,
                                  message: "unknown key in [\(entry.section)]\(suggest(entry.key, keys))")
            }
            values[entry.key] = (entry.value, entry.line)
        }
        var warnings: [ConfigWarning] = []

        func error(_ key: String, _ message: String) -> ConfigError {
            ConfigError(file: file, line: values[key]?.line, key: key, message: message)
        }
        func string(_ key: String) -> String? {
            guard let v = values[key]?.value, !v.isEmpty else { return nil }
            return v
        }
        func required(_ key: String) throws(ConfigError) -> String {
            guard let v = string(key) else { throw ConfigError(file: file, key: key, message: "missing; it is required in [Tenant]") }
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
        func span(_ key: String, _ fallback: Double) throws(ConfigError) -> Double {
            guard let v = string(key) else { return fallback }
            do { return try TimeSpan.parse(v) } catch let parseError { throw error(key, parseError.description) }
        }
        func url(_ key: String) throws(ConfigError) -> String? {
            guard var v = string(key) else { return nil }
            while v.hasSuffix("/") { v.removeLast() }
            guard let parsed = URLComponents(string: v), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty else {
                throw error(key, "not a URL: '\(v)'")
            }
            switch scheme {
            case "https": return v
            case "http":
                guard isLoopback(host) else {
                    throw error(key, "http:// is only allowed for loopback hosts (the simulator); use https://")
                }
                return v
            default: throw error(key, "unsupported scheme '\(scheme)'; use https://")
            }
        }

        let tenantId = try required("TenantId")
        guard isGUID(tenantId) || isDomain(tenantId) else {
            throw error("TenantId", "'\(tenantId)' is neither a GUID nor a domain name")
        }
        let clientId = try required("ClientId")
        guard isGUID(clientId) else { throw error("ClientId", "'\(clientId)' is not a GUID; use the Application (client) ID") }

        let secretKeys = ["ClientSecret", "ClientSecretFile", "ClientSecretCredential", "CertificateFile"].filter { string($0) != nil }
        guard secretKeys.count == 1 else {
            if secretKeys.isEmpty {
                throw ConfigError(file: file, key: "ClientSecretFile", message: "no credential; set ClientSecretFile=, ClientSecretCredential=, ClientSecret=, or CertificateFile= with PrivateKeyFile=")
            }
            throw error(secretKeys[1], "give only one of \(secretKeys.joined(separator: ", "))")
        }
        var secret = Secret("")
        let source: SecretSource
        var certificate: CertificateCredential?
        switch secretKeys[0] {
        case "CertificateFile":
            let certPath = string("CertificateFile")!
            guard let keyPath = string("PrivateKeyFile") else {
                throw error("CertificateFile", "PrivateKeyFile= is needed too (the certificate's RSA private key, PEM)")
            }
            guard let pem = FileManager.default.contents(atPath: certPath).map({ String(decoding: $0, as: UTF8.self) }),
                  let der = CertificateCredential.firstCertificateDER(pem: pem) else {
                throw error("CertificateFile", "cannot read a PEM certificate from \(certPath)")
            }
            let key = try readSecret(keyPath, key: "PrivateKeyFile", error: error)
            guard key.contains("PRIVATE KEY-----") else { throw error("PrivateKeyFile", "\(keyPath) holds no PEM private key") }
            if let exposure = SecretFileAccess.exposure(of: keyPath, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: keyPath, message: "the private key \(exposure)"))
            }
            let algorithmText = (string("CertificateAlgorithm") ?? "PS256").uppercased()
            guard let algorithm = CertificateCredential.Algorithm(rawValue: algorithmText) else {
                throw error("CertificateAlgorithm", "use PS256 (default) or RS256")
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
            secret = Secret(try readSecret(path, key: "ClientSecretFile", error: error))
            source = .file(path)
            if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: path, message: "the client secret \(exposure)"))
            }
        default:
            let name = string("ClientSecretCredential")!
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                throw error("ClientSecretCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(name):PATH in the service")
            }
            secret = Secret(try readSecret(dir + "/" + name, key: "ClientSecretCredential", error: error))
            source = .credential(name)
        }

        let cloudText = string("Cloud") ?? "global"
        guard let cloud = Cloud(rawValue: cloudText.lowercased()) else {
            throw error("Cloud", "unknown cloud '\(cloudText)'; use global, usgov, usgov-dod or china")
        }
        let caFile = string("CAFile")
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw error("CAFile", "cannot read \(caFile)")
        }
        let proxy = string("Proxy")
        if let proxy, URLComponents(string: proxy)?.host == nil {
            throw error("Proxy", "not a URL: '\(proxy)'; use e.g. http://proxy.example:3128")
        }
        let interval = try span("Interval", 1800)
        guard interval >= 1 else { throw error("Interval", "must be at least 1s") }
        let delay = try span("RandomizedDelay", min(interval / 10, 300))
        let timeout = try span("RequestTimeout", 60)
        guard timeout >= 1 else { throw error("RequestTimeout", "must be at least 1s") }
        var attempts = 6
        if let v = string("MaxAttempts") {
            guard let n = Int(v), (1...20).contains(n) else { throw error("MaxAttempts", "expected a number from 1 to 20, found '\(v)'") }
            attempts = n
        }
        let users = try bool("Users", true)
        let groups = try bool("Groups", true)
        guard users || groups else { throw error("Groups", "Users=no and Groups=no leaves nothing to sync") }

        func filter(_ key: String, _ known: [String]) throws(ConfigError) -> FilterExpression? {
            guard let text = string(key) else { return nil }
            let expression: FilterExpression
            do {
                expression = try FilterExpression.parse(text)
            } catch let syntax {
                throw error(key, "\(syntax) in '\(text)'")
            }
            if let unknown = expression.properties.subtracting(known).sorted().first {
                throw error(key, "unknown property '\(unknown)'; use one of \(known.joined(separator: ", "))")
            }
            return expression
        }
        var scope = Scope()
        scope.userFilter = try filter("UserFilter", userFilterProperties)
        scope.groupFilter = try filter("GroupFilter", groupFilterProperties)
        scope.includeGroups = (string("IncludeGroups") ?? "").split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
        scope.excludeUnlicensed = try bool("ExcludeUnlicensed", false)
        scope.excludeDisabled = try bool("ExcludeDisabled", false)
        var maxDeletions: DeletionLimit?
        if let v = string("MaxDeletions") {
            if v.hasSuffix("%"), let p = Double(v.dropLast()), p >= 0, p <= 100 {
                maxDeletions = .percent(p)
            } else if let n = Int(v), n >= 0 {
                maxDeletions = .count(n)
            } else {
                throw error("MaxDeletions", "expected a count like 500 or a percentage like 10%, found '\(v)'")
            }
        }

        var secretExpires: Double?
        if let v = string("ClientSecretExpires") {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyy-MM-dd"
            guard let date = formatter.date(from: v) else { throw error("ClientSecretExpires", "expected a date like 2027-03-31, found '\(v)'") }
            secretExpires = date.timeIntervalSince1970
        }

        var profile = Profile(
            name: name, sourceFile: file, tenantId: tenantId, clientId: clientId, clientSecret: secret, secretSource: source,
            cloud: cloud, loginEndpoint: try url("LoginEndpoint") ?? cloud.loginEndpoint,
            graphEndpoint: try url("GraphEndpoint") ?? cloud.graphEndpoint, caFile: caFile, proxy: proxy,
            interval: interval, randomizedDelay: delay, requestTimeout: timeout, syncUsers: users, syncGroups: groups,
            maxAttempts: attempts)
        profile.scope = scope
        profile.maxDeletions = maxDeletions
        profile.certificate = certificate
        profile.clientSecretExpires = secretExpires
        if let v = string("Export") {
            var formats = Set<ExportFormat>()
            for item in v.split(separator: ",").map({ String($0).trimmingSpaces.lowercased() }) where !item.isEmpty {
                guard let format = ExportFormat(rawValue: item) else { throw error("Export", "unknown format '\(item)'; use json, csv or json,csv") }
                formats.insert(format)
            }
            guard !formats.isEmpty else { throw error("Export", "name at least one format: json, csv") }
            profile.exportFormats = formats
        }
        profile.metricsPath = string("MetricsFile")
        profile.softDeleteGrace = try span("SoftDeleteGrace", 0)
        if let program = string("OnChange") {
            guard program.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: program) else {
                throw error("OnChange", "'\(program)' is not an executable file given by its absolute path")
            }
            profile.onChange = program
        }
        profile.onChangeTimeout = try span("OnChangeTimeout", 60)
        profile.scimTargets = try scimTargets(scimEntries, file: file, environment: environment, serviceGroup: serviceGroup,
                                                 warnings: &warnings)
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
