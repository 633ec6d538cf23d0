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
    public init(text: String, file: String) throws(ConfigError) {
        var section: String?
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
                    throw ConfigError(file: file, line: number, message: "malformed section header '\(trimmed)'")
                }
                section = String(trimmed.dropFirst().dropLast())
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ConfigError(file: file, line: number, message: "expected Key=value, found '\(trimmed.prefix(40))'")
            }
            let key = String(trimmed[..<eq]).trimmingSpaces
            var value = String(trimmed[trimmed.index(after: eq)...]).trimmingSpaces
            guard !key.isEmpty else { throw ConfigError(file: file, line: number, message: "missing key before '='") }
            guard let section else {
                throw ConfigError(file: file, line: number, key: key, message: "key outside of any section; put it under [Tenant] or [Sync]")
            }
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            entries.append(Entry(section: section, key: key, value: value, line: number))
        }
        if let p = pending {
            throw ConfigError(file: file, line: p.line, message: "line continuation at the end of the file")
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
