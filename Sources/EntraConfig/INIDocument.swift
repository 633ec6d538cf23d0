/// A parsed systemd-style INI file: sections, `Key=value` entries with their line numbers.
public struct INIDocument: Sendable {
    public struct Entry: Sendable, Equatable {
        public var section: String
        public var key: String
        public var value: String
        public var line: Int
    }

    public var entries: [Entry] = []

    /// Parses INI text: `[Section]`, `Key=value`, `#`/`;` comments, trailing `\` continues, quoted values.
    /// - Throws: every malformed line at once.
    public init(text: String, file: String) throws(ConfigError) {
        var problems: [ConfigError] = []
        self.init(text: text, file: file, problems: &problems)
        if let error = ConfigError(problems: problems) { throw error }
    }

    /// Parses INI text, adding each malformed line to `problems` and going on with the next.
    /// Keys under a malformed section header are skipped (the header's error covers them).
    public init(text: String, file: String, problems: inout [ConfigError]) {
        var section: String?
        var inBrokenSection = false
        var pending: (text: String, line: Int)?
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let number = pending?.line ?? index + 1
            if let p = pending {
                line = p.text + " " + line.trimmingSpaces
                pending = nil
            }
            let trimmed = line.trimmingSpaces
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasSuffix("\\") {
                pending = (String(trimmed.dropLast()).trimmingSpaces, number)
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    problems.append(ConfigError(file: file, line: number, message: "malformed section header '\(trimmed)'"))
                    section = nil
                    inBrokenSection = true
                    continue
                }
                section = String(trimmed.dropFirst().dropLast())
                inBrokenSection = false
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else {
                problems.append(ConfigError(file: file, line: number, message: "expected Key=value, found '\(trimmed.prefix(40))'"))
                continue
            }
            let key = String(trimmed[..<eq]).trimmingSpaces
            var value = String(trimmed[trimmed.index(after: eq)...]).trimmingSpaces
            guard !key.isEmpty else {
                problems.append(ConfigError(file: file, line: number, message: "missing key before '='"))
                continue
            }
            guard let section else {
                if !inBrokenSection {
                    problems.append(ConfigError(file: file, line: number, key: key, message: "key outside of any section; put it under [Tenant] or [Sync]"))
                }
                continue
            }
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            entries.append(Entry(section: section, key: key, value: value, line: number))
        }
        if let p = pending {
            problems.append(ConfigError(file: file, line: p.line, message: "line continuation at the end of the file"))
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
