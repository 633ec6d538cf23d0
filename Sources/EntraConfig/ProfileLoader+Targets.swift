extension ProfileLoader {
    /// The push targets of one kind (`[SCIM]`, `[LDAP:NAME]`...), in file order: `make` reads each
    /// section; a target with any problem is left out and its problems added to `problems`.
    static func targets<Target>(_ entries: [INIDocument.Entry], kind: String, keys: [String], file: String, problems: inout [ConfigError],
                                _ make: (_ name: String, _ reader: inout SectionReader) -> Target) -> [Target] {
        var targets: [Target] = []
        for section in targetSections(entries, kind: kind, keys: keys, file: file, problems: &problems) {
            var reader = SectionReader(file: file, section: section.name == "default" ? "[\(kind)]" : "[\(kind):\(section.name)]",
                                       values: section.values, sectionLine: section.line)
            let target = make(section.name, &reader)
            if let failure = reader.failure { problems.append(failure) } else { targets.append(target) }
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
            guard keys.contains(entry.key) || acceptsPattern(entry.key, keys) else {
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

    /// `Prefix.NAME` in `keys` accepts every `Prefix.X` with a nonempty X (`Attribute.mail=`).
    static func acceptsPattern(_ key: String, _ keys: [String]) -> Bool {
        keys.contains { pattern in
            guard pattern.hasSuffix(".NAME") else { return false }
            let prefix = pattern.dropLast(4)
            return key.hasPrefix(prefix) && key.count > prefix.count
        }
    }
}
