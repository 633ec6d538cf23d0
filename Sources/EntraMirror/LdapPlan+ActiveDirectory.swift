import EntraConfig
import EntraDirectory
import Foundation

/// Active Directory's rules for what entra-sync writes (Schema=activedirectory), pure.
public enum ActiveDirectory {
    /// The attribute that carries the Entra object id by default (`IdAttribute=`). `msDS-ExternalDirectoryObjectId` (what Entra
    /// Connect writes) exists only from the Windows Server 2016 schema on, and not in Samba 4.17's
    /// (2012 R2); `msDS-cloudExtensionAttribute1` is in every AD schema since Windows Server 2012 and
    /// Samba's, single-valued and indexed, and meant for data a cloud service keeps on the object.
    public static let idAttribute = "msDS-cloudExtensionAttribute1"
    /// userAccountControl: NORMAL_ACCOUNT, ACCOUNTDISABLE, PASSWD_NOTREQD.
    static let normalAccount = 512
    static let accountDisable = 2
    static let passwordNotRequired = 32
    /// groupType: a global security group.
    public static let globalSecurityGroup = "-2147483646"
    /// sAMAccountName: at most 20 characters (what Windows accepts as a pre-Windows 2000 logon name).
    static let accountNameLength = 20
    /// cn: AD's schema allows 64 characters.
    static let cnLength = 64

    public static func isDisabled(_ control: String?) -> Bool {
        (Int(control ?? "") ?? normalAccount) & accountDisable != 0
    }

    /// `current` with ACCOUNTDISABLE set or cleared and PASSWD_NOTREQD cleared (an enabled account
    /// must not take an empty password); every other flag kept (an adopted account's
    /// DONT_EXPIRE_PASSWORD, say). A new account: NORMAL_ACCOUNT (512), or 514 when disabled.
    public static func control(_ current: String?, enabled: Bool) -> String {
        let flags = (Int(current ?? "") ?? normalAccount) & ~passwordNotRequired
        return String(enabled ? flags & ~accountDisable : flags | accountDisable)
    }

    /// The sAMAccountName `name` derives to: the characters AD forbids (`" / \ [ ] : ; | = , + * ? < > @`
    /// and control characters) dropped, then at most 20 characters, without leading or trailing dots
    /// and spaces. May be empty.
    public static func accountName(_ name: String) -> String {
        let forbidden = Set("\"/\\[]:;|=,+*?<>@")
        let kept = name.filter { ch in !forbidden.contains(ch) && !ch.unicodeScalars.contains { $0.properties.generalCategory == .control } }
        func trimmed<S: StringProtocol>(_ s: S) -> String { String(s).trimmingCharacters(in: [".", " "]) }
        return trimmed(trimmed(kept).prefix(accountNameLength))
    }

    /// One sAMAccountName per object (users and groups share AD's namespace), unique without case.
    /// `kept` (names the directory acknowledged) never change. The others, in object id order: the
    /// first to want a free name gets it; the rest get the name cut to fit `-` and the first 4, 6, 8 …
    /// letters and digits of their object id, the shortest that is free.
    /// - Parameter bases: object id → the name it derives from (`accountName`).
    public static func accountNames(_ bases: [String: String], kept: [String: String]) -> [String: String] {
        var names: [String: String] = [:]
        var taken = Set<String>()
        for (id, name) in kept where bases[id] != nil {
            names[id] = name
            taken.insert(name.lowercased())
        }
        var left: [String] = []
        for id in bases.keys.sorted() where names[id] == nil {
            let base = bases[id]!
            if !base.isEmpty, taken.insert(base.lowercased()).inserted { names[id] = base } else { left.append(id) }
        }
        for id in left {
            let digits = String(id.filter { $0.isLetter || $0.isNumber }.lowercased())
            let base = bases[id]!
            var candidates = stride(from: 4, through: max(4, digits.count), by: 2).map { "-" + digits.prefix($0) }
            candidates += (2...1000).map { "-\(digits.prefix(4))\($0)" }
            for suffix in candidates {
                let stem = String(base.prefix(accountNameLength - suffix.count)).trimmingCharacters(in: [".", " "])
                let candidate = stem.isEmpty ? String(suffix.dropFirst()) : stem + suffix
                if taken.insert(candidate.lowercased()).inserted {
                    names[id] = candidate
                    break
                }
            }
        }
        return names
    }
}

extension LdapDesired {
    /// Schema=activedirectory: users as `user`, groups as global security `group` (the mapping is
    /// the table on `LdapDesired`). Users are added with a random password nobody knows (see
    /// `LdapPusher.withSecret`), so NORMAL_ACCOUNT can be set.
    init(activeDirectory view: ScopedView, target: LdapTarget) {
        dialect = LdapDialect(target)
        let id = dialect.idKey
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        func cn(_ name: String) -> String { String(name.prefix(ActiveDirectory.cnLength)).trimmingCharacters(in: .whitespaces) }
        if target.users {
            for user in view.usersInAnyOrder {
                guard let upn = nonEmpty(user.userPrincipalName) else {
                    unsendable[user.id] = "the user has no userPrincipalName"
                    continue
                }
                let name = cn(nonEmpty(user.displayName) ?? upn)
                var a: [String: [String]] = ["cn": [name], "userprincipalname": [upn], id: [user.id],
                                             "useraccountcontrol": [ActiveDirectory.control(nil, enabled: user.accountEnabled != false)]]
                for (key, value) in [("displayname", user.displayName), ("givenname", user.givenName), ("sn", user.surname), ("mail", user.mail),
                                     ("title", user.jobTitle), ("employeeid", user.employeeId)] {
                    if let v = nonEmpty(value) { a[key] = [v] }
                }
                if target.posix, let posixID = view.state.posixIDs[user.id] {
                    a["uidnumber"] = [String(posixID)]
                    a["gidnumber"] = [String(posixID)]
                    a["unixhomedirectory"] = [LinuxDirectory.home(target.homeDirectory, name: upn, upn: upn, uid: posixID, objectId: user.id)]
                    a["loginshell"] = [target.loginShell]
                }
                accountNameBases[user.id] = ActiveDirectory.accountName(String(upn.prefix { $0 != "@" }))
                names[user.id] = name
                users[user.id] = LdapEntryLink(dn: "CN=\(LdapDN.value(name)),\(target.usersDN)", attributes: LdapAttributes(a))
            }
        }
        if target.groups {
            readMembers(view)
            for group in view.groupsInAnyOrder {
                let name = cn(nonEmpty(group.displayName) ?? group.id)
                var a: [String: [String]] = ["cn": [name], id: [group.id]]
                if let d = nonEmpty(group.description) { a["description"] = [d] }
                if target.posix, let posixID = view.state.posixIDs[group.id] { a["gidnumber"] = [String(posixID)] }
                accountNameBases[group.id] = ActiveDirectory.accountName(name)
                names[group.id] = name
                groups[group.id] = LdapEntryLink(dn: "CN=\(LdapDN.value(name)),\(target.groupsDN)", attributes: LdapAttributes(a))
            }
        }
        self = settled(LdapTargetState())
    }

    /// What the target should hold given what it acknowledged: on Active Directory, a
    /// sAMAccountName once acknowledged (written by entra-sync, or an adopted account's) is kept
    /// when the UPN or the name changes, userAccountControl keeps the flags the entry has
    /// besides ACCOUNTDISABLE, and entries of one name get distinct DNs (`distinctNames`).
    /// Other schemas: unchanged.
    public func settled(_ state: LdapTargetState) -> LdapDesired {
        guard dialect.schema == .activedirectory else { return self }
        var result = self
        var kept: [String: String] = [:]
        for id in accountNameBases.keys {
            if let name = (state.users[id] ?? state.groups[id])?.attributes["samaccountname"]?.first { kept[id] = name }
        }
        for (id, name) in ActiveDirectory.accountNames(accountNameBases, kept: kept) {
            if result.users[id] != nil { result.users[id]!.attributes["samaccountname"] = [name] }
            if result.groups[id] != nil { result.groups[id]!.attributes["samaccountname"] = [name] }
        }
        for (id, link) in state.users {
            guard let acknowledged = link.attributes["useraccountcontrol"]?.first, let wanted = result.users[id] else { continue }
            let enabled = !ActiveDirectory.isDisabled(wanted.attributes["useraccountcontrol"]?.first)
            result.users[id]!.attributes["useraccountcontrol"] = [ActiveDirectory.control(acknowledged, enabled: enabled)]
        }
        result.users = distinctNames(result.users, acknowledged: state.users)
        result.groups = distinctNames(result.groups, acknowledged: state.groups)
        return result
    }

    /// Entra names are not unique, AD's DNs are: of the entries that would share a DN, the one that
    /// holds it already (else the smallest object id) keeps it; the others are named
    /// `NAME (SAMACCOUNTNAME)` (the name cut to fit 64 characters), unique since the account name is.
    func distinctNames(_ entries: [String: LdapEntryLink], acknowledged: [String: LdapEntryLink]) -> [String: LdapEntryLink] {
        var result = entries
        func named(_ entry: LdapEntryLink, _ cn: String) -> LdapEntryLink {
            var entry = entry
            entry.attributes["cn"] = [cn]
            entry.dn = "CN=\(LdapDN.value(cn)),\(LdapDN.split(entry.dn).parent)"
            return entry
        }
        for (id, name) in names where result[id] != nil { result[id] = named(result[id]!, name) }
        for (dn, ids) in Dictionary(grouping: result.keys, by: { LdapDN.normalized(result[$0]!.dn) }) where ids.count > 1 {
            let holder = ids.filter { acknowledged[$0].map { LdapDN.normalized($0.dn) == dn } ?? false }.min() ?? ids.min()!
            for id in ids where id != holder {
                let account = result[id]!.attributes["samaccountname"]?.first ?? id
                let name = names[id] ?? ""
                let stem = String(name.prefix(max(1, ActiveDirectory.cnLength - account.count - 3))).trimmingCharacters(in: .whitespaces)
                result[id] = named(result[id]!, "\(stem) (\(account))")
            }
        }
        return result
    }
}
