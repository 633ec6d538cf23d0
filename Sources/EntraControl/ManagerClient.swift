import Foundation

/// What a call to the daemon can end in, other than its reply: the protocol's errors, decoded,
/// and a failed connection or an unreadable answer.
public enum ManagerError: Error, Equatable {
    case noSuchProfile(String)
    case profileNotRunnable(profile: String, reason: String)
    case permissionDenied(adminGroup: String)
    case shuttingDown
    case invalidFilter(String)
    case notFound(String)
    case invalidParameter(String)
    /// An error this client does not know by name (a newer daemon): its name and parameters as sent.
    case other(name: String, parameters: String)
    /// The socket: cannot connect, a timeout, a broken or invalid answer (the text says which).
    case transport(String)

    init(_ error: VarlinkClientError) {
        guard case .remote(let name, let bytes) = error else {
            self = .transport("\(error)")
            return
        }
        let fields = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        func field(_ key: String) -> String { fields[key] as? String ?? "" }
        switch name {
        case ManagerProtocol.ErrorName.noSuchProfile: self = .noSuchProfile(field("profile"))
        case ManagerProtocol.ErrorName.profileNotRunnable: self = .profileNotRunnable(profile: field("profile"), reason: field("reason"))
        case ManagerProtocol.ErrorName.permissionDenied: self = .permissionDenied(adminGroup: field("adminGroup"))
        case ManagerProtocol.ErrorName.shuttingDown: self = .shuttingDown
        case ManagerProtocol.ErrorName.invalidFilter: self = .invalidFilter(field("message"))
        case ManagerProtocol.ErrorName.notFound: self = .notFound(field("key"))
        case "org.varlink.service.InvalidParameter": self = .invalidParameter(field("parameter"))
        default: self = .other(name: name, parameters: String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// The typed client of `io.entrasync.Manager`: one function per method, the protocol's request
/// and reply types, errors as `ManagerError`. `entra-syncctl` talks to the daemon only through it.
/// Calls that wait for a run (`runNow` and `resync` with `wait`, `scimPush`, `ldapPush`) wait up to a day;
/// others up to the connection's timeout, queries up to five minutes.
public final class ManagerClient {
    private let connection: VarlinkClient
    static let waitTimeout: Double = 86_400
    static let queryTimeout: Double = 300

    public init(path: String, timeout: Double = 30) throws(ManagerError) {
        do {
            connection = try VarlinkClient(path: path, timeout: timeout)
        } catch {
            throw ManagerError(error)
        }
    }

    public func status(profile: String? = nil) throws(ManagerError) -> StatusReply {
        try call(ManagerProtocol.Method.status, StatusRequest(profile: profile))
    }

    public func runNow(_ request: RunNowRequest) throws(ManagerError) -> RunNowReply {
        try call(ManagerProtocol.Method.runNow, request, timeout: request.wait == true ? Self.waitTimeout : nil)
    }

    public func reload() throws(ManagerError) -> ReloadReply {
        try call(ManagerProtocol.Method.reload, ReloadRequest())
    }

    public func history(profile: String, limit: Int? = nil) throws(ManagerError) -> HistoryReply {
        try call(ManagerProtocol.Method.history, HistoryRequest(profile: profile, limit: limit))
    }

    public func resync(_ request: ResyncRequest) throws(ManagerError) -> ResyncReply {
        try call(ManagerProtocol.Method.resync, request, timeout: request.wait == true ? Self.waitTimeout : nil)
    }

    /// The targets' state; with `plan`, the operations the next push would send.
    public func scim(_ request: ScimRequest) throws(ManagerError) -> ScimReply {
        try call(ManagerProtocol.Method.scim, request, timeout: Self.queryTimeout)
    }

    /// Pushes now (retrying failed objects, approving held deletions) and waits for the push.
    public func scimPush(_ request: ScimRequest) throws(ManagerError) -> ScimReply {
        try call(ManagerProtocol.Method.scimPush, request, timeout: Self.waitTimeout)
    }

    /// The LDAP targets' state; with `plan`, the operations the next push would send.
    public func ldap(_ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply {
        try call(ManagerProtocol.Method.ldap, request, timeout: Self.queryTimeout)
    }

    /// Provisions the LDAP targets now (retrying failed entries, approving held deletions) and waits.
    public func ldapPush(_ request: PushTargetRequest) throws(ManagerError) -> PushTargetReply {
        try call(ManagerProtocol.Method.ldapPush, request, timeout: Self.waitTimeout)
    }

    /// Every POSIX id the profile assigned, sorted by id.
    public func posixIds(profile: String) throws(ManagerError) -> PosixIdsReply {
        try call(ManagerProtocol.Method.posixIds, PosixIdsRequest(profile: profile), timeout: Self.queryTimeout)
    }

    public enum Query: Sendable {
        case users, groups, members, show

        var method: String {
            switch self {
            case .users: ManagerProtocol.Method.users
            case .groups: ManagerProtocol.Method.groups
            case .members: ManagerProtocol.Method.members
            case .show: ManagerProtocol.Method.show
            }
        }
    }

    /// A query's reply as the daemon wrote it (a JSON object): a large answer can be printed
    /// without being parsed and written again.
    public func query(_ query: Query, _ request: QueryRequest) throws(ManagerError) -> [UInt8] {
        do {
            return try connection.call(query.method, parameters: request, timeout: Self.queryTimeout)
        } catch let error as VarlinkClientError {
            throw ManagerError(error)
        } catch {
            throw .transport("\(error)")
        }
    }

    private func call<R: Decodable>(_ method: String, _ request: some Encodable, timeout: Double? = nil) throws(ManagerError) -> R {
        do {
            return try connection.call(method, parameters: request, as: R.self, timeout: timeout)
        } catch let error as VarlinkClientError {
            throw ManagerError(error)
        } catch {
            throw .transport("\(error)")
        }
    }
}
