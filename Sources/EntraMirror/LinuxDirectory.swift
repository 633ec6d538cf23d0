import EntraConfig
import EntraDirectory
import Foundation

/// A user as the host sees it through systemd's userdb.
public struct LinuxUser: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    /// The user's own group (same number, same name).
    public var gid: UInt32 { uid }
    public var realName: String?
    public var homeDirectory: String
    public var shell: String
    /// A disabled Entra account.
    public var locked: Bool
    public var objectId: String
}

/// A group as the host sees it: an Entra group, or a user's own group (`objectId` is the user's).
public struct LinuxGroup: Sendable, Equatable {
    public var name: String
    public var gid: UInt32
    public var description: String?
    /// User names, through nested groups too, sorted.
    public var members: [String]
    public var objectId: String
    public var isUserGroup: Bool
}

/// A name or id not served, and why (shown by `status`).
public struct LinuxRefusal: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var reason: String
    public var description: String { "\(name): \(reason)" }
}

/// What a host's local account database holds: names and ids the userdb service never serves.
public struct LocalAccounts: Sendable, Equatable {
    public var names: Set<String> = []
    public var ids: Set<UInt32> = []
    public init(names: Set<String> = [], ids: Set<UInt32> = []) {
        self.names = names
        self.ids = ids
    }

    /// Reads `name:x:id:...` lines (the format of /etc/passwd and /etc/group).
    public mutating func add(colonFile text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 3 else { continue }
            if !fields[0].isEmpty { names.insert(String(fields[0])) }
            if let id = UInt32(fields[2]) { ids.insert(id) }
        }
    }
}

/// The users, groups and memberships one profile serves to Linux (`[Linux]`), built from the
/// committed mirror. Pure: the local accounts are passed in.
///
/// Rules (README "Linux identities"):
/// - users and groups in the profile's scope; `[Linux] Users=no`/`Groups=no` leave them out,
///   `IncludeGroups=` keeps only those groups (and the groups nested in them); soft-deleted users
///   are not served, disabled ones are served locked;
/// - names are lower-cased; a character outside `a-z 0-9 . _ - @` becomes `_`, a leading `-` or
///   an all-digit name gets a `_` in front, at most 64 characters; when two objects come to the
///   same name, users go before groups and the lower POSIX id first: the first keeps the name and
///   the others are served as `NAME-XXXXXXXX` (the first eight characters of their object id);
/// - each user has its own group, same name and number, as its primary group;
/// - a name or id that the local account database holds, or an id outside systemd's unused
///   ranges, is never served (it is listed in `refused`);
/// - an object without a POSIX id yet (ids are assigned right after each committed run) is not served.
public struct LinuxDirectory: Sendable {
    public private(set) var users: [LinuxUser] = []
    public private(set) var groups: [LinuxGroup] = []
    public private(set) var userByName: [String: Int] = [:]
    public private(set) var userByUID: [UInt32: Int] = [:]
    public private(set) var groupByName: [String: Int] = [:]
    public private(set) var groupByGID: [UInt32: Int] = [:]
    /// Names of the Entra groups (not the users' own groups) each user belongs to, nested included, sorted.
    public private(set) var memberOf: [String: [String]] = [:]
    public private(set) var refused: [LinuxRefusal] = []

    public init() {}

    /// The users and groups of `profile` that need a POSIX id (sorted: the order assignments follow).
    public static func objects(of state: MirrorState, profile: Profile) -> [String] {
        guard let linux = profile.linux else { return [] }
        let view = ScopedView(state: state, scope: profile.scope)
        var ids: [String] = []
        if linux.users { ids += view.users.map(\.id) }
        if linux.groups { ids += servedGroups(view, linux).map(\.id) }
        return ids.sorted()
    }

    /// A `HomeDirectory=` template filled in: `%u` `name`, `%l` the UPN's local part, `%U` the uid,
    /// `%o` the object id, `%%` a percent sign (`[Linux]` and `[LDAP] Posix=yes` share it).
    public static func home(_ template: String, name: String, upn: String?, uid: UInt32, objectId: String) -> String {
        var home = ""
        var percent = false
        for ch in template {
            if percent {
                switch ch {
                case "u": home += name
                case "l": home += sanitize(String((upn ?? name).split(separator: "@").first ?? ""))
                case "U": home += String(uid)
                case "o": home += objectId
                default: home.append(ch)
                }
                percent = false
            } else if ch == "%" {
                percent = true
            } else {
                home.append(ch)
            }
        }
        return home
    }

    static func servedGroups(_ view: ScopedView, _ linux: LinuxSettings) -> [DirectoryGroup] {
        let groups = view.groups
        guard !linux.includeGroups.isEmpty else { return groups }
        let roots = linux.includeGroups.flatMap { wanted in
            groups.filter { $0.id == wanted.lowercased() || $0.displayName?.lowercased() == wanted.lowercased() }.map(\.id)
        }
        let (nested, _) = ScopedView.closure(of: roots, in: view.state)
        return groups.filter { nested.contains($0.id) }
    }

    public init(state: MirrorState, profile: Profile, local: LocalAccounts) {
        guard let linux = profile.linux else { return }
        let view = ScopedView(state: state, scope: profile.scope)
        let ids = state.posixIDs

        // Candidates with their wanted names, in id order (the lower id keeps a contested name).
        var userCandidates: [(user: DirectoryUser, uid: UInt32, name: String)] = []
        if linux.users {
            for user in view.users {
                guard let uid = ids[user.id] else { continue }
                guard let raw = Self.rawName(user, linux.nameFrom) else {
                    refused.append(LinuxRefusal(name: user.id, reason: "no \(linux.nameFrom.rawValue) to name the user after"))
                    continue
                }
                userCandidates.append((user, uid, Self.sanitize(raw)))
            }
        }
        var groupCandidates: [(group: DirectoryGroup, gid: UInt32, name: String)] = []
        if linux.groups {
            for group in Self.servedGroups(view, linux) {
                guard let gid = ids[group.id] else { continue }
                let raw = linux.groupNameFrom == .mailNickname ? group.mailNickname : group.displayName
                guard let raw, !raw.isEmpty else {
                    refused.append(LinuxRefusal(name: group.id, reason: "no \(linux.groupNameFrom.rawValue) to name the group after"))
                    continue
                }
                groupCandidates.append((group, gid, Self.sanitize(raw.replacingOccurrences(of: " ", with: "-"))))
            }
        }
        userCandidates.sort { $0.uid < $1.uid }
        groupCandidates.sort { $0.gid < $1.gid }

        // Users and their own groups share one name space with the Entra groups.
        var taken = Set<String>()
        func unique(_ name: String, _ objectId: String) -> String {
            if taken.insert(name).inserted { return name }
            let suffixed = String(name.prefix(Self.maxNameLength - 9)) + "-" + objectId.prefix(8).lowercased()
            taken.insert(suffixed)
            return suffixed
        }
        func refusal(_ name: String, _ id: UInt32) -> String? {
            if local.names.contains(name) { return "the name is a local account's" }
            if local.ids.contains(id) { return "id \(id) is a local account's" }
            if !PosixIDRange.allowedBlocks.contains(where: { $0.contains(id) }) { return "id \(id) is in a range systemd reserves" }
            return nil
        }
        var nameOfUser: [String: String] = [:]
        for c in userCandidates {
            let name = unique(c.name, c.user.id)
            if let reason = refusal(name, c.uid) {
                refused.append(LinuxRefusal(name: name, reason: reason))
                continue
            }
            let home = Self.home(linux.homeDirectory, name: name, upn: c.user.userPrincipalName, uid: c.uid, objectId: c.user.id)
            let user = LinuxUser(name: name, uid: c.uid, realName: c.user.displayName, homeDirectory: home, shell: linux.shell,
                                 locked: c.user.accountEnabled == false, objectId: c.user.id)
            nameOfUser[c.user.id] = name
            userByName[name] = users.count
            userByUID[c.uid] = users.count
            users.append(user)
            groupByName[name] = groups.count
            groupByGID[c.uid] = groups.count
            groups.append(LinuxGroup(name: name, gid: c.uid, members: [], objectId: c.user.id, isUserGroup: true))
        }
        for c in groupCandidates {
            let name = unique(c.name, c.group.id)
            if let reason = refusal(name, c.gid) {
                refused.append(LinuxRefusal(name: name, reason: reason))
                continue
            }
            let members = view.transitiveMembers(of: c.group.id).compactMap { nameOfUser[$0.description] }.sorted()
            for member in members { memberOf[member, default: []].append(name) }
            groupByName[name] = groups.count
            groupByGID[c.gid] = groups.count
            groups.append(LinuxGroup(name: name, gid: c.gid, description: c.group.description, members: members,
                                     objectId: c.group.id, isUserGroup: false))
        }
        for key in memberOf.keys { memberOf[key]!.sort() }
    }

    public func user(name: String) -> LinuxUser? { userByName[name].map { users[$0] } }
    public func user(uid: UInt32) -> LinuxUser? { userByUID[uid].map { users[$0] } }
    public func group(name: String) -> LinuxGroup? { groupByName[name].map { groups[$0] } }
    public func group(gid: UInt32) -> LinuxGroup? { groupByGID[gid].map { groups[$0] } }

    static let maxNameLength = 64

    static func rawName(_ user: DirectoryUser, _ source: LinuxSettings.NameSource) -> String? {
        let value: String?
        switch source {
        case .upn: value = user.userPrincipalName
        case .upnLocal: value = user.userPrincipalName?.split(separator: "@").first.map(String.init)
        case .mailNickname: value = user.mailNickname
        }
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// A name systemd and the shadow tools accept (see the type's rules).
    public static func sanitize(_ raw: String) -> String {
        var name = ""
        for scalar in raw.lowercased().unicodeScalars {
            let ok = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || ".-_@".unicodeScalars.contains(scalar)
            name.unicodeScalars.append(ok ? scalar : "_")
        }
        if name.isEmpty || name.hasPrefix("-") || name.allSatisfy(\.isNumber) || name == "." || name == ".." { name = "_" + name }
        return String(name.prefix(maxNameLength))
    }
}
