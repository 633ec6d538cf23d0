import EntraDirectory

/// Users and groups as JSON, the one encoding that export files, query answers and change sets share.
public enum DirectoryJSON {
    /// An array of users; `deleted` users (within SoftDeleteGrace=) follow, marked `"deleted":true`.
    public static func users(_ users: [DirectoryUser], deleted: [DirectoryUser] = []) -> [UInt8] {
        var out = JSONText(capacity: (users.count + deleted.count) * 400 + 16)
        Self.users(users, deleted: deleted, into: &out) { _ in }
        return out.bytes
    }

    /// An array of groups (all of the view's by default) with their members in the view.
    public static func groups(_ view: ScopedView, groups: [DirectoryGroup]? = nil) -> [UInt8] {
        var out = JSONText()
        Self.groups(view, groups: groups, into: &out) { _ in }
        return out.bytes
    }

    /// One user as a JSON object.
    public static func user(_ user: DirectoryUser, deleted: Bool = false) -> [UInt8] {
        var out = JSONText(capacity: 400)
        userObject(user, deleted: deleted, into: &out)
        return out.bytes
    }

    /// One group as a JSON object, with its members in the view.
    public static func group(_ view: ScopedView, _ group: DirectoryGroup) -> [UInt8] {
        var out = JSONText(capacity: 400)
        groupObject(view, group, into: &out)
        return out.bytes
    }

    /// `{"name":value,...}` from encoded values, in the order given.
    public static func object(_ members: KeyValuePairs<String, [UInt8]>) -> [UInt8] {
        var out = JSONText(capacity: members.reduce(16) { $0 + $1.key.utf8.count + $1.value.count + 4 })
        out.raw("{")
        for (i, member) in members.enumerated() {
            if i > 0 { out.raw(",") }
            out.string(member.key)
            out.raw(":")
            out.rawBytes(member.value)
        }
        out.raw("}")
        return out.bytes
    }

    /// Writes users as a JSON array into `out`, calling `flush` after each object (it may write out and empty `out`).
    public static func users<E: Error>(_ users: [DirectoryUser], deleted: [DirectoryUser], into out: inout JSONText,
                                flush: (inout JSONText) throws(E) -> Void) throws(E) {
        out.raw("[")
        for (i, u) in [users, deleted].joined().enumerated() {
            out.raw(i == 0 ? "\n" : ",\n")
            userObject(u, deleted: i >= users.count, into: &out)
            try flush(&out)
        }
        out.raw("\n]\n")
    }

    public static func groups<E: Error>(_ view: ScopedView, groups: [DirectoryGroup]? = nil, into out: inout JSONText,
                                 flush: (inout JSONText) throws(E) -> Void) throws(E) {
        out.raw("[")
        for (i, g) in (groups ?? view.groups).enumerated() {
            out.raw(i == 0 ? "\n" : ",\n")
            groupObject(view, g, into: &out)
            try flush(&out)
        }
        out.raw("\n]\n")
    }

    private static func userObject(_ u: DirectoryUser, deleted: Bool, into out: inout JSONText) {
        out.raw("{")
        out.key("id"); out.string(u.id)
        out.raw(","); out.key("userPrincipalName"); out.optionalString(u.userPrincipalName)
        out.raw(","); out.key("displayName"); out.optionalString(u.displayName)
        out.raw(","); out.key("givenName"); out.optionalString(u.givenName)
        out.raw(","); out.key("surname"); out.optionalString(u.surname)
        out.raw(","); out.key("mail"); out.optionalString(u.mail)
        out.raw(","); out.key("accountEnabled"); out.optionalBool(u.accountEnabled)
        out.raw(","); out.key("jobTitle"); out.optionalString(u.jobTitle)
        out.raw(","); out.key("department"); out.optionalString(u.department)
        out.raw(","); out.key("employeeId"); out.optionalString(u.employeeId)
        out.raw(","); out.key("mailNickname"); out.optionalString(u.mailNickname)
        out.raw(","); out.key("onPremisesImmutableId"); out.optionalString(u.onPremisesImmutableId)
        out.raw(","); out.key("assignedLicenses"); out.stringArray(u.assignedLicenses)
        if deleted { out.raw(",\"deleted\":true") }
        out.raw("}")
    }

    private static func groupObject(_ view: ScopedView, _ g: DirectoryGroup, into out: inout JSONText) {
        out.raw("{")
        out.key("id"); out.string(g.id)
        out.raw(","); out.key("displayName"); out.optionalString(g.displayName)
        out.raw(","); out.key("description"); out.optionalString(g.description)
        out.raw(","); out.key("mail"); out.optionalString(g.mail)
        out.raw(","); out.key("mailEnabled"); out.optionalBool(g.mailEnabled)
        out.raw(","); out.key("mailNickname"); out.optionalString(g.mailNickname)
        out.raw(","); out.key("securityEnabled"); out.optionalBool(g.securityEnabled)
        out.raw(","); out.key("groupTypes"); out.stringArray(g.groupTypes)
        out.raw(","); out.key("members"); out.objectIDArray(view.members(of: g.id))
        out.raw("}")
    }
}
