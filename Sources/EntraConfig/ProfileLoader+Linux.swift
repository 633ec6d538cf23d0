import Foundation

extension ProfileLoader {
    static let linuxKeys = ["Users", "Groups", "IncludeGroups", "NameFrom", "GroupNameFrom", "HomeDirectory", "Shell", "IdRange", "IdPinsFile"]

    /// Validates the `[Linux]` section (nil when the profile has none); adds what is wrong to `problems`.
    static func linuxSettings(_ entries: [INIDocument.Entry], file: String, problems: inout [ConfigError]) -> LinuxSettings? {
        guard !entries.isEmpty else { return nil }
        var r = SectionReader(file: file, section: "[Linux]", entries: entries, known: linuxKeys)
        defer { problems += r.problems }

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
        settings.homeDirectory = r.homeTemplate("HomeDirectory", settings.homeDirectory, name: "name")
        settings.shell = r.absolutePath("Shell", settings.shell)
        if let text = r.string("IdRange") {
            switch PosixIDRange.parse(text) {
            case .success(let range): settings.idRange = range
            case .failure(let failure): r.fail("IdRange", failure.message)
            }
        }
        if r.string("IdPinsFile") != nil {
            let file = r.absolutePath("IdPinsFile", "")
            if !file.isEmpty {
                settings.idPinsFile = file
                do {
                    let text = try String(contentsOfFile: file, encoding: .utf8)
                    let (pins, problems) = idPins(text, file: file, range: settings.idRange)
                    settings.idPins = pins
                    r.problems += problems
                } catch {
                    let reason = FileManager.default.fileExists(atPath: file) ? (error as NSError).localizedDescription : "no such file"
                    r.fail("IdPinsFile", "cannot read '\(file)': \(reason)")
                }
            }
        }
        return settings
    }

    /// Reads an `IdPinsFile=`: `OBJECT-ID ID` lines (blank lines and `#` comments skipped), as
    /// `entra-syncctl ids` prints them. Each bad line is an error naming the pins file and line:
    /// not an object id, not a number, outside `range`, an object or id listed twice.
    static func idPins(_ text: String, file: String, range: PosixIDRange) -> ([String: UInt32], [ConfigError]) {
        var pins: [String: UInt32] = [:]
        var lineOf: [String: Int] = [:], objectOf: [UInt32: (String, Int)] = [:]
        var problems: [ConfigError] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func fail(_ message: String) { problems.append(ConfigError(file: file, line: number, key: "IdPinsFile", message: message)) }
            let content = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                fail("expected 'OBJECT-ID ID', found '\(raw.trimmingSpaces)'")
                continue
            }
            let object = fields[0].lowercased(), idText = String(fields[1])
            guard isObjectID(object) else {
                fail("'\(fields[0])' is not an Entra object id (8-4-4-4-12 hexadecimal digits)")
                continue
            }
            guard let id = UInt32(idText) else {
                fail("the id '\(idText)' of \(object) is not a number")
                continue
            }
            guard range.contains(id) else {
                fail("the id \(id) of \(object) is outside IdRange \(range)")
                continue
            }
            if let first = lineOf[object] {
                fail("\(object) is pinned twice (first at line \(first))")
                continue
            }
            if let (other, first) = objectOf[id] {
                fail("the id \(id) is pinned twice: to \(other) at line \(first) and to \(object)")
                continue
            }
            pins[object] = id
            lineOf[object] = number
            objectOf[id] = (object, number)
        }
        return (pins, problems)
    }

    /// `8-4-4-4-12` hexadecimal digits, as Graph spells object ids.
    static func isObjectID(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy(\.isHexDigit) }
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
