import EntraControl
import EntraMirror
import Foundation

/// The `io.systemd.UserDatabase` varlink service (systemd `docs/USER_GROUP_API.md`): answers
/// `nss-systemd` and `userdbctl` from the users and groups the profiles serve to Linux, from
/// memory, without a Graph call.
///
/// Several profiles: they are asked in name order and the first that serves a name wins (a later
/// profile's user or group of the same name is not served at all, not even by its id).
/// Memberships never cross profiles.
public final class UserDatabase: Sendable {
    public static let interface = "io.systemd.UserDatabase"
    /// The default socket: `/run/systemd/userdb/` + `defaultService`.
    public static let defaultService = "io.entrasync"

    /// The name clients must pass as `service`: the socket's file name.
    public let service: String
    private let directories: @Sendable () -> [LinuxDirectory]

    /// - Parameter directories: what each profile serves, in profile name order (read at each call).
    public init(service: String, directories: @escaping @Sendable () -> [LinuxDirectory]) {
        self.service = service
        self.directories = directories
    }

    enum Failure: String {
        case noRecordFound = "NoRecordFound"
        case badService = "BadService"
        case conflictingRecordFound = "ConflictingRecordFound"
        case nonMatchingRecordFound = "NonMatchingRecordFound"

        var error: VarlinkError { VarlinkError(name: "\(UserDatabase.interface).\(rawValue)") }
    }

    static let expectedMore = VarlinkError(name: "org.varlink.service.ExpectedMore")

    struct Query: Decodable {
        var uid: Int64?
        var gid: Int64?
        var userName: String?
        var groupName: String?
        var service: String?
        var fuzzyNames: [String]?
        var dispositionMask: [String]?
        var uidMin: Int64?
        var uidMax: Int64?
        var gidMin: Int64?
        var gidMax: Int64?
    }

    public func handle(_ call: VarlinkCall, _ replier: VarlinkReplier) {
        let query: Query
        do {
            query = try JSONDecoder().decode(Query.self, from: Data(call.parameters))
        } catch {
            return replier.fail(.invalidParameter("parameters"))
        }
        guard query.service == service else { return replier.fail(Failure.badService.error) }
        // Fuzzy matching is optional for a service (USER_GROUP_API.md): the client filters itself.
        if query.fuzzyNames != nil { return replier.fail(.invalidParameter("fuzzyNames")) }
        let dirs = directories()
        var stream = ReplyStream(replier: replier, more: call.more)
        switch call.method {
        case "\(Self.interface).GetUserRecord":
            let range = (query.uidMin ?? 0)...(query.uidMax ?? Int64(UInt32.max))
            let disposition = query.dispositionMask.map { $0.contains("regular") } ?? true
            if query.uid != nil || query.userName != nil {
                let byName = query.userName.flatMap { name in Self.visibleUser(named: name, in: dirs) }
                let byID = query.uid.flatMap { UInt32(exactly: $0) }.flatMap { uid in Self.visibleUser(uid: uid, in: dirs) }
                if query.uid != nil && query.userName != nil && byName?.user != byID?.user {
                    return replier.fail(byName == nil && byID == nil ? Failure.noRecordFound.error : Failure.conflictingRecordFound.error)
                }
                guard let found = byName ?? byID else { return replier.fail(Failure.noRecordFound.error) }
                guard disposition, range.contains(Int64(found.user.uid)) else { return replier.fail(Failure.nonMatchingRecordFound.error) }
                return replier.reply(rawParameters: UserRecordJSON.user(found.user, memberOf: found.memberOf, service: service))
            }
            guard call.more else { return replier.fail(Self.expectedMore) }
            guard disposition else { return replier.fail(Failure.noRecordFound.error) }
            for (i, dir) in dirs.enumerated() {
                for user in dir.users where range.contains(Int64(user.uid)) && Self.isFirst(user.name, before: i, in: dirs) {
                    stream.send(UserRecordJSON.user(user, memberOf: dir.memberOf[user.name] ?? [], service: service))
                }
            }
        case "\(Self.interface).GetGroupRecord":
            let range = (query.gidMin ?? 0)...(query.gidMax ?? Int64(UInt32.max))
            let disposition = query.dispositionMask.map { $0.contains("regular") } ?? true
            if query.gid != nil || query.groupName != nil {
                let byName = query.groupName.flatMap { name in Self.visibleGroup(named: name, in: dirs) }
                let byID = query.gid.flatMap { UInt32(exactly: $0) }.flatMap { gid in Self.visibleGroup(gid: gid, in: dirs) }
                if query.gid != nil && query.groupName != nil && byName != byID {
                    return replier.fail(byName == nil && byID == nil ? Failure.noRecordFound.error : Failure.conflictingRecordFound.error)
                }
                guard let found = byName ?? byID else { return replier.fail(Failure.noRecordFound.error) }
                guard disposition, range.contains(Int64(found.gid)) else { return replier.fail(Failure.nonMatchingRecordFound.error) }
                return replier.reply(rawParameters: UserRecordJSON.group(found, service: service))
            }
            guard call.more else { return replier.fail(Self.expectedMore) }
            guard disposition else { return replier.fail(Failure.noRecordFound.error) }
            for (i, dir) in dirs.enumerated() {
                for group in dir.groups where range.contains(Int64(group.gid)) && Self.isFirst(group.name, before: i, in: dirs) {
                    stream.send(UserRecordJSON.group(group, service: service))
                }
            }
        case "\(Self.interface).GetMemberships":
            switch (query.userName, query.groupName) {
            case (let user?, let group?):
                guard let found = Self.visibleUser(named: user, in: dirs), found.memberOf.contains(group) else {
                    return replier.fail(Failure.noRecordFound.error)
                }
                return replier.reply(rawParameters: UserRecordJSON.membership(user: user, group: group))
            case (let user?, nil):
                guard call.more else { return replier.fail(Self.expectedMore) }
                for group in Self.visibleUser(named: user, in: dirs)?.memberOf ?? [] {
                    stream.send(UserRecordJSON.membership(user: user, group: group))
                }
            case (nil, let group?):
                guard call.more else { return replier.fail(Self.expectedMore) }
                for member in Self.visibleGroup(named: group, in: dirs)?.members ?? [] {
                    stream.send(UserRecordJSON.membership(user: member, group: group))
                }
            case (nil, nil):
                guard call.more else { return replier.fail(Self.expectedMore) }
                for (i, dir) in dirs.enumerated() {
                    for group in dir.groups where !group.isUserGroup && Self.isFirst(group.name, before: i, in: dirs) {
                        for member in group.members where Self.isFirst(member, before: i, in: dirs) {
                            stream.send(UserRecordJSON.membership(user: member, group: group.name))
                        }
                    }
                }
            }
        default:
            return replier.fail(.methodNotFound(call.method))
        }
        stream.finish()
    }

    /// Whether no profile before `index` serves `name` (as a user or a group: users' own groups share their names).
    static func isFirst(_ name: String, before index: Int, in dirs: [LinuxDirectory]) -> Bool {
        !dirs[..<index].contains { $0.userByName[name] != nil || $0.groupByName[name] != nil }
    }

    static func visibleUser(named name: String, in dirs: [LinuxDirectory]) -> (user: LinuxUser, memberOf: [String])? {
        for dir in dirs {
            if let user = dir.user(name: name) { return (user, dir.memberOf[name] ?? []) }
            if dir.groupByName[name] != nil { return nil }
        }
        return nil
    }

    static func visibleUser(uid: UInt32, in dirs: [LinuxDirectory]) -> (user: LinuxUser, memberOf: [String])? {
        for (i, dir) in dirs.enumerated() {
            if let user = dir.user(uid: uid) {
                return isFirst(user.name, before: i, in: dirs) ? (user, dir.memberOf[user.name] ?? []) : nil
            }
        }
        return nil
    }

    static func visibleGroup(named name: String, in dirs: [LinuxDirectory]) -> LinuxGroup? {
        for dir in dirs {
            if let group = dir.group(name: name) { return group }
            if dir.userByName[name] != nil { return nil }
        }
        return nil
    }

    static func visibleGroup(gid: UInt32, in dirs: [LinuxDirectory]) -> LinuxGroup? {
        for (i, dir) in dirs.enumerated() {
            if let group = dir.group(gid: gid) { return isFirst(group.name, before: i, in: dirs) ? group : nil }
        }
        return nil
    }

    /// The interface description `GetInterfaceDescription` returns.
    public static let description = """
        interface io.systemd.UserDatabase

        method GetUserRecord(uid: ?int, userName: ?string, service: string) -> (record: object, incomplete: bool)
        method GetGroupRecord(gid: ?int, groupName: ?string, service: string) -> (record: object, incomplete: bool)
        method GetMemberships(userName: ?string, groupName: ?string, service: string) -> (userName: string, groupName: string)

        error NoRecordFound()
        error BadService()
        error ServiceNotAvailable()
        error ConflictingRecordFound()
        error NonMatchingRecordFound()
        error EnumerationNotSupported()
        """
}

/// Replies one at a time with `continues` (holding one back to mark the last), or
/// `NoRecordFound` when there was nothing.
struct ReplyStream {
    let replier: VarlinkReplier
    let more: Bool
    private var pending: [UInt8]?

    init(replier: VarlinkReplier, more: Bool) {
        self.replier = replier
        self.more = more
    }

    mutating func send(_ parameters: [UInt8]) {
        if let pending { replier.reply(rawParameters: pending, continues: true) }
        pending = parameters
    }

    func finish() {
        if let pending {
            replier.reply(rawParameters: pending)
        } else {
            replier.fail(UserDatabase.Failure.noRecordFound.error)
        }
    }
}
