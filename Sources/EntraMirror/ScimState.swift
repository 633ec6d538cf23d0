/// The attributes entra-sync manages on a SCIM `User`, as last acknowledged by the target.
public struct ScimUserAttributes: Sendable, Equatable {
    public var userName: String
    public var displayName: String?
    public var givenName: String?
    public var familyName: String?
    public var email: String?
    public var active: Bool

    public init(userName: String, displayName: String? = nil, givenName: String? = nil, familyName: String? = nil,
                email: String? = nil, active: Bool = true) {
        self.userName = userName
        self.displayName = displayName
        self.givenName = givenName
        self.familyName = familyName
        self.email = email
        self.active = active
    }
}

/// An Entra user's resource in the target.
public struct ScimUserLink: Sendable, Equatable {
    public var scimId: String
    public var etag: String?
    public var pushed: ScimUserAttributes

    public init(scimId: String, etag: String?, pushed: ScimUserAttributes) {
        self.scimId = scimId
        self.etag = etag
        self.pushed = pushed
    }
}

/// An Entra group's resource in the target; `members` are the Entra ids the target acknowledged.
public struct ScimGroupLink: Sendable, Equatable {
    public var scimId: String
    public var etag: String?
    public var displayName: String
    public var members: Set<String> = []

    public init(scimId: String, etag: String?, displayName: String, members: Set<String> = []) {
        self.scimId = scimId
        self.etag = etag
        self.displayName = displayName
        self.members = members
    }
}

/// SCIM's names for the push types every target shares.
public typealias ScimFailure = PushFailure
public typealias ScimPushSummary = PushSummary

/// Everything the journal knows about one SCIM target.
public struct ScimTargetState: Sendable, Equatable {
    /// The endpoint the links belong to: pointing a target elsewhere starts over (adoption again).
    public var endpoint = ""
    /// Existing resources were matched (first contact done).
    public var adopted = false
    public var users: [String: ScimUserLink] = [:]
    public var groups: [String: ScimGroupLink] = [:]
    public var failures: [String: ScimFailure] = [:]
    /// Objects whose create was sent but not yet acknowledged: after a crash the target may hold
    /// them already, so the next push looks them up by externalId before creating them again.
    public var sending: Set<String> = []
    public var lastPush: ScimPushSummary?
    public var lastSuccess: Double?

    public init() {}
}

/// A change to a target's state, journaled as the target acknowledges operations.
public enum ScimMutation: Sendable, Equatable {
    /// Forget the target's links (its endpoint changed, or first use).
    case reset(target: String, endpoint: String)
    /// First contact done: existing resources were matched.
    case adopted(target: String)
    /// A user's resource as acknowledged; nil: it is gone from the target.
    case user(target: String, id: String, link: ScimUserLink?)
    /// A group's resource (members kept); nil: it is gone from the target.
    case group(target: String, id: String, scimId: String?, etag: String?, displayName: String)
    case members(target: String, group: String, added: [String], removed: [String], etag: String?)
    /// Records (or with nil clears) an object's failure.
    case failure(target: String, id: String, ScimFailure?)
    /// Creates about to be sent (journaled before the request).
    case sending(target: String, ids: [String])
    case pushed(target: String, ScimPushSummary)

    var target: String {
        switch self {
        case .reset(let t, _), .adopted(let t), .user(let t, _, _), .group(let t, _, _, _, _), .members(let t, _, _, _, _),
             .failure(let t, _, _), .sending(let t, _), .pushed(let t, _):
            t
        }
    }
}

extension ScimTargetState {
    public mutating func apply(_ mutation: ScimMutation) {
        switch mutation {
        case .reset(_, let endpoint):
            self = ScimTargetState()
            self.endpoint = endpoint
        case .adopted:
            adopted = true
        case .user(_, let id, let link):
            users[id] = link
            sending.remove(id)
            if link == nil {
                for (groupId, var group) in groups where group.members.remove(id) != nil { groups[groupId] = group }
            }
        case .group(_, let id, let scimId, let etag, let displayName):
            sending.remove(id)
            if let scimId {
                groups[id] = ScimGroupLink(scimId: scimId, etag: etag, displayName: displayName, members: groups[id]?.members ?? [])
            } else {
                groups[id] = nil
                for (groupId, var group) in groups where group.members.remove(id) != nil { groups[groupId] = group }
            }
        case .members(_, let group, let added, let removed, let etag):
            guard var link = groups[group] else { return }
            link.members.formUnion(added)
            link.members.subtract(removed)
            if etag != nil { link.etag = etag }
            groups[group] = link
        case .failure(_, let id, let failure):
            failures[id] = failure
            if failure != nil { sending.remove(id) }
        case .sending(_, let ids):
            sending.formUnion(ids)
        case .pushed(_, let summary):
            lastPush = summary
            if summary.result == .succeeded { lastSuccess = summary.finished }
        }
    }

    /// The state as mutations (snapshots).
    public func snapshot(target: String, _ emit: (ScimMutation) throws -> Void) rethrows {
        try emit(.reset(target: target, endpoint: endpoint))
        if adopted { try emit(.adopted(target: target)) }
        for (id, link) in users { try emit(.user(target: target, id: id, link: link)) }
        for (id, link) in groups {
            try emit(.group(target: target, id: id, scimId: link.scimId, etag: link.etag, displayName: link.displayName))
            if !link.members.isEmpty {
                try emit(.members(target: target, group: id, added: Array(link.members), removed: [], etag: nil))
            }
        }
        for (id, failure) in failures { try emit(.failure(target: target, id: id, failure)) }
        if !sending.isEmpty { try emit(.sending(target: target, ids: sending.sorted())) }
        if let lastSuccess, lastPush?.result != .succeeded {
            try emit(.pushed(target: target, ScimPushSummary(result: .succeeded, started: lastSuccess, finished: lastSuccess)))
        }
        if let lastPush { try emit(.pushed(target: target, lastPush)) }
    }
}
