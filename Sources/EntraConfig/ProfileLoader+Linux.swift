extension ProfileLoader {
    static let linuxKeys = ["Users", "Groups", "IncludeGroups", "NameFrom", "GroupNameFrom", "HomeDirectory", "Shell", "IdRange"]

    /// Validates the `[Linux]` section (nil when the profile has none); adds what is wrong to `problems`.
    static func linuxSettings(_ entries: [INIDocument.Entry], file: String, problems: inout [ConfigError]) -> LinuxSettings? {
        guard !entries.isEmpty else { return nil }
        var r = SectionReader(file: file, section: "[Linux]", entries: entries, known: linuxKeys)
        defer { problems += r.problems }
        func path(_ key: String, _ fallback: String) -> String {
            guard let v = r.string(key) else { return fallback }
            guard v.hasPrefix("/"), !v.contains(":"), !v.contains(where: { $0.isNewline }) else {
                r.fail(key, "'\(v)' must be an absolute path without ':'")
                return fallback
            }
            return v
        }

        var settings = LinuxSettings()
        settings.line = r.sectionLine
        settings.users = r.bool("Users", true)
        settings.groups = r.bool("Groups", true)
        settings.includeGroups = r.list("IncludeGroups")
        if !settings.groups && !settings.includeGroups.isEmpty {
            r.fail("IncludeGroups", "has no effect with Groups=no")
        }
        settings.nameFrom = r.choice("NameFrom", settings.nameFrom)
        settings.groupNameFrom = r.choice("GroupNameFrom", settings.groupNameFrom)
        settings.homeDirectory = path("HomeDirectory", settings.homeDirectory)
        if let bad = unknownPlaceholder(settings.homeDirectory) {
            r.fail("HomeDirectory", "unknown placeholder '%\(bad)'; use %u (name), %l (UPN local part), %U (uid) or %o (object id)")
        }
        settings.shell = path("Shell", settings.shell)
        if let text = r.string("IdRange") {
            switch PosixIDRange.parse(text) {
            case .success(let range): settings.idRange = range
            case .failure(let failure): r.fail("IdRange", failure.message)
            }
        }
        return settings
    }

    /// The first `%` placeholder a home directory template may not use (`%%` is a literal `%`).
    static func unknownPlaceholder(_ template: String) -> Character? {
        var percent = false
        for c in template {
            if percent {
                if !"ulUo%".contains(c) { return c }
                percent = false
            } else if c == "%" {
                percent = true
            }
        }
        return percent ? "%" : nil
    }

    /// Profiles whose `[Linux]` id ranges overlap an earlier profile's (in name order): each gets
    /// an error naming the other, and none of them loads, so no id could ever be handed out twice.
    static func overlappingRanges(_ profiles: [Profile]) -> [String: ConfigError] {
        var errors: [String: ConfigError] = [:]
        let linux = profiles.compactMap { p in p.linux.map { (p, $0) } }
        for (i, (a, la)) in linux.enumerated() {
            for (b, lb) in linux[(i + 1)...] where la.idRange.overlaps(lb.idRange) {
                let message = "[Linux]: IdRange \(lb.idRange) overlaps \(la.idRange) of profile '\(a.name)' (\(a.sourceFile)); "
                    + "give each profile its own IdRange="
                errors[b.name] = ConfigError(file: b.sourceFile, line: lb.line, key: "IdRange", message: message)
                errors[a.name] = errors[a.name] ?? ConfigError(
                    file: a.sourceFile, line: la.line, key: "IdRange",
                    message: "[Linux]: IdRange \(la.idRange) overlaps \(lb.idRange) of profile '\(b.name)' (\(b.sourceFile)); give each profile its own IdRange=")
            }
        }
        return errors
    }
}
