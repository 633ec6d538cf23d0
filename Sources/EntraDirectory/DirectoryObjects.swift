/// A user as entra-sync mirrors it: the properties it selects from Graph.
///
/// A full representation carries every selected property that was ever set; one cleared since is
/// `null`; both map to `nil` here, so an upsert always replaces the whole record.
public struct DirectoryUser: Sendable, Equatable, Hashable {
    public var id: String
    public var userPrincipalName: String?
    public var displayName: String?
    public var givenName: String?
    public var surname: String?
    public var mail: String?
    public var accountEnabled: Bool?
    public var jobTitle: String?
    public var department: String?
    public var employeeId: String?
    public var mailNickname: String?
    public var onPremisesImmutableId: String?
    /// The `skuId`s of `assignedLicenses`, sorted.
    public var assignedLicenses: [String]?

    public init(id: String, userPrincipalName: String? = nil, displayName: String? = nil, givenName: String? = nil,
                surname: String? = nil, mail: String? = nil, accountEnabled: Bool? = nil, jobTitle: String? = nil,
                department: String? = nil, employeeId: String? = nil, mailNickname: String? = nil,
                onPremisesImmutableId: String? = nil, assignedLicenses: [String]? = nil) {
        self.id = id
        self.userPrincipalName = userPrincipalName
        self.displayName = displayName
        self.givenName = givenName
        self.surname = surname
        self.mail = mail
        self.accountEnabled = accountEnabled
        self.jobTitle = jobTitle
        self.department = department
        self.employeeId = employeeId
        self.mailNickname = mailNickname
        self.onPremisesImmutableId = onPremisesImmutableId
        self.assignedLicenses = assignedLicenses
    }

    /// The `$select` list sent to `/users/delta`.
    public static let selectedProperties = [
        "id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "accountEnabled",
        "jobTitle", "department", "employeeId", "mailNickname", "onPremisesImmutableId", "assignedLicenses",
    ]
}

/// A group as entra-sync mirrors it (memberships are kept apart, see `MemberKind`).
public struct DirectoryGroup: Sendable, Equatable, Hashable {
    public var id: String
    public var displayName: String?
    public var description: String?
    public var mail: String?
    public var mailEnabled: Bool?
    public var mailNickname: String?
    public var securityEnabled: Bool?
    public var groupTypes: [String]?

    public init(id: String, displayName: String? = nil, description: String? = nil, mail: String? = nil,
                mailEnabled: Bool? = nil, mailNickname: String? = nil, securityEnabled: Bool? = nil,
                groupTypes: [String]? = nil) {
        self.id = id
        self.displayName = displayName
        self.description = description
        self.mail = mail
        self.mailEnabled = mailEnabled
        self.mailNickname = mailNickname
        self.securityEnabled = securityEnabled
        self.groupTypes = groupTypes
    }

    /// The `$select` list sent to `/groups/delta`; `members` adds `members@delta`.
    public static let selectedProperties = [
        "id", "displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
        "groupTypes", "members",
    ]
}

/// What kind of directory object a group member is, from its `@odata.type`.
public enum MemberKind: UInt8, Sendable, Equatable, Hashable {
    case user = 1
    case group = 2
    case device = 3
    case orgContact = 4
    case servicePrincipal = 5
    case other = 9

    public init(odataType: String?) {
        switch odataType {
        case "#microsoft.graph.user": self = .user
        case "#microsoft.graph.group": self = .group
        case "#microsoft.graph.device": self = .device
        case "#microsoft.graph.orgContact": self = .orgContact
        case "#microsoft.graph.servicePrincipal": self = .servicePrincipal
        default: self = .other
        }
    }

    public var name: String {
        switch self {
        case .user: "user"
        case .group: "group"
        case .device: "device"
        case .orgContact: "orgContact"
        case .servicePrincipal: "servicePrincipal"
        case .other: "other"
        }
    }
}

/// Why Graph marked an object `@removed`.
public enum RemovalReason: Sendable, Equatable {
    /// Soft delete: restorable for 30 days; memberships are kept.
    case changed
    /// Permanent delete.
    case deleted
}

/// One entry of a `/users/delta` round.
public enum UserDelta: Sendable, Equatable {
    case upsert(DirectoryUser)
    case removed(id: String, reason: RemovalReason)

    public var id: String {
        switch self {
        case .upsert(let user): user.id
        case .removed(let id, _): id
        }
    }
}

/// One `members@delta` entry.
public struct MemberDelta: Sendable, Equatable {
    public var id: ObjectID
    public var kind: MemberKind
    public var removed: Bool

    public init(id: ObjectID, kind: MemberKind, removed: Bool) {
        self.id = id
        self.kind = kind
        self.removed = removed
    }
}

/// One entry of a `/groups/delta` round. A large group can appear several times in a round,
/// each time with the next slice of its `members@delta`.
public enum GroupDelta: Sendable, Equatable {
    case upsert(DirectoryGroup, members: [MemberDelta])
    case removed(id: String, reason: RemovalReason)

    public var id: String {
        switch self {
        case .upsert(let group, _): group.id
        case .removed(let id, _): id
        }
    }
}
