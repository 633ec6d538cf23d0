import EntraMirror

/// JSON user and group records (systemd `docs/USER_RECORD.md`, `docs/GROUP_RECORD.md`): only the
/// `regular` section, nothing private, so `incomplete` is always false.
enum UserRecordJSON {
    static func user(_ user: LinuxUser, memberOf: [String], service: String) -> [UInt8] {
        var j = JSONText(capacity: 256)
        j.raw(#"{"record":{"userName":"#)
        j.string(user.name)
        j.raw(#","uid":"#)
        j.rawText(String(user.uid))
        j.raw(#","gid":"#)
        j.rawText(String(user.gid))
        if let realName = user.realName, !realName.isEmpty {
            j.raw(#","realName":"#)
            j.string(realName)
        }
        j.raw(#","homeDirectory":"#)
        j.string(user.homeDirectory)
        j.raw(#","shell":"#)
        j.string(user.shell)
        j.raw(#","disposition":"regular","locked":"#)
        j.raw(user.locked ? "true" : "false")
        if !memberOf.isEmpty {
            j.raw(#","memberOf":"#)
            strings(memberOf, &j)
        }
        j.raw(#","service":"#)
        j.string(service)
        j.raw(#"},"incomplete":false}"#)
        return j.bytes
    }

    static func group(_ group: LinuxGroup, service: String) -> [UInt8] {
        var j = JSONText(capacity: 256)
        j.raw(#"{"record":{"groupName":"#)
        j.string(group.name)
        j.raw(#","gid":"#)
        j.rawText(String(group.gid))
        if let description = group.description, !description.isEmpty {
            j.raw(#","description":"#)
            j.string(description)
        }
        if !group.members.isEmpty {
            j.raw(#","members":"#)
            strings(group.members, &j)
        }
        j.raw(#","disposition":"regular","service":"#)
        j.string(service)
        j.raw(#"},"incomplete":false}"#)
        return j.bytes
    }

    static func membership(user: String, group: String) -> [UInt8] {
        var j = JSONText(capacity: 96)
        j.raw(#"{"userName":"#)
        j.string(user)
        j.raw(#","groupName":"#)
        j.string(group)
        j.raw("}")
        return j.bytes
    }

    private static func strings(_ values: [String], _ j: inout JSONText) {
        j.raw("[")
        for (i, value) in values.enumerated() {
            if i > 0 { j.raw(",") }
            j.string(value)
        }
        j.raw("]")
    }
}
