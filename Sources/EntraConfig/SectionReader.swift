import Foundation

/// Reads the values of one profile section and records what is wrong with them, with the file and
/// line, so every problem is reported in one round (`[Linux]`, `[SCIM]`, `[LDAP]`).
struct SectionReader {
    let file: String
    /// `[Linux]`-style prefix of every message.
    let section: String
    /// Where errors about a missing key point.
    let sectionLine: Int
    var values: [String: (value: String, line: Int)] = [:]
    var problems: [ConfigError] = []

    init(file: String, section: String, entries: [INIDocument.Entry], known: [String]) {
        self.file = file
        self.section = section
        self.sectionLine = entries.first?.line ?? 0
        for entry in entries {
            guard known.contains(entry.key) else {
                problems.append(ConfigError(file: file, line: entry.line, key: entry.key,
                                            message: "unknown key in \(section)\(ProfileLoader.suggest(entry.key, known))"))
                continue
            }
            values[entry.key] = (entry.value, entry.line)
        }
    }

    /// A push target's section, its keys already checked (`ProfileLoader.targetSections`).
    init(file: String, section: String, values: [String: (value: String, line: Int)], sectionLine: Int) {
        self.file = file
        self.section = section
        self.sectionLine = sectionLine
        self.values = values
    }

    /// Everything wrong with the section, as one error; nil when nothing is.
    var failure: ConfigError? { ConfigError(problems: problems) }

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: values[key]?.line ?? sectionLine, key: key, message: "\(section): \(message)")
    }

    mutating func fail(_ key: String, _ message: String) { problems.append(error(key, message)) }

    /// Records `message` against `key` unless `condition` holds.
    mutating func require(_ condition: Bool, _ key: String, _ message: @autoclosure () -> String) {
        if !condition { fail(key, message()) }
    }

    /// The secret in the file at `path` (named by `key`); nil, with the problem recorded, when it cannot be read.
    mutating func secretFile(_ path: String, key: String) -> Secret? {
        let reader = self
        do { return Secret(try ProfileLoader.readSecret(path, key: key, error: reader.error)) } catch let failure {
            problems.append(failure)
            return nil
        }
    }

    /// A duration of at least `minimum` seconds, or `fallback`.
    mutating func timeSpan(_ key: String, atLeast minimum: Double, _ fallback: Double) -> Double {
        guard let v = string(key) else { return fallback }
        do {
            let seconds = try TimeSpan.parse(v)
            require(seconds >= minimum, key, "must be at least \(Int(minimum))s")
            return seconds
        } catch let parseError {
            fail(key, parseError.description)
            return fallback
        }
    }

    /// A DN (at least one `attr=value`), or nil.
    mutating func dn(_ key: String) -> String? {
        guard let v = string(key) else { return nil }
        require(v.contains("="), key, "'\(v)' is not a DN (e.g. ou=people,dc=example,dc=com)")
        return v
    }

    /// An absolute path without ':' (it goes into passwd-style records), or `fallback`.
    mutating func absolutePath(_ key: String, _ fallback: String) -> String {
        guard let v = string(key) else { return fallback }
        guard v.hasPrefix("/"), !v.contains(":"), !v.contains(where: { $0.isNewline }) else {
            fail(key, "'\(v)' must be an absolute path without ':'")
            return fallback
        }
        return v
    }

    /// A home directory template (`%u`, `%l`, `%U`, `%o`, `%%`), or `fallback`.
    mutating func homeTemplate(_ key: String, _ fallback: String, name: String) -> String {
        let template = absolutePath(key, fallback)
        if let bad = ProfileLoader.unknownPlaceholder(template) {
            fail(key, "unknown placeholder '%\(bad)'; use %u (\(name)), %l (UPN local part), %U (uid) or %o (object id)")
        }
        return template
    }

    /// A readable file's path, or nil.
    mutating func readableFile(_ key: String) -> String? {
        guard let path = string(key) else { return nil }
        require(FileManager.default.isReadableFile(atPath: path), key, "cannot read \(path)")
        return path
    }

    func string(_ key: String) -> String? {
        guard let v = values[key]?.value, !v.isEmpty else { return nil }
        return v
    }

    mutating func bool(_ key: String, _ fallback: Bool) -> Bool {
        guard let v = string(key) else { return fallback }
        switch v.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default:
            fail(key, "expected yes or no, found '\(v)'")
            return fallback
        }
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ fallback: T) -> T where T.RawValue == String {
        guard let v = string(key) else { return fallback }
        guard let value = T.allCases.first(where: { $0.rawValue.lowercased() == v.lowercased() }) else {
            fail(key, "unknown value '\(v)'; use \(T.allCases.map(\.rawValue).joined(separator: " or "))")
            return fallback
        }
        return value
    }

    /// A comma-separated list, blanks dropped.
    func list(_ key: String) -> [String] {
        (string(key) ?? "").split(separator: ",").map(\.trimmingSpaces).filter { !$0.isEmpty }
    }
}
