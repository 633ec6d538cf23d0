/// Reads the values of one profile section and records what is wrong with them, with the file and
/// line, so every problem is reported in one round. (`[Linux]` uses it; the older sections still
/// have their own copies of these helpers.)
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

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: values[key]?.line ?? sectionLine, key: key, message: "\(section): \(message)")
    }

    mutating func fail(_ key: String, _ message: String) { problems.append(error(key, message)) }

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
