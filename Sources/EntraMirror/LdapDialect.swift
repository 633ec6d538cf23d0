import EntraConfig

/// What differs between the kinds of directory `Schema=` names, as data the plan and the pusher
/// read: the attribute that carries the Entra object id, the managed attributes, how entries are
/// found and adopted, how a user is disabled, and the result codes that mean "already so".
public struct LdapDialect: Sendable, Equatable {
    public var schema: LdapTarget.Schema
    /// The attribute carrying the Entra object id, as written in requests and filters.
    public var idAttribute: String
    /// The managed attributes (lowercased), read back for adoption and drift repair.
    public var userAttributes: [String]
    public var groupAttributes: [String]
    /// The filters that find users and groups (adoption).
    public var userFilter: String
    public var groupFilter: String
    /// First contact: after the object id, entries are matched by these attributes, in order.
    public var userNames: [String]
    public var groupNames: [String]
    /// `groupOfNames` needs a member: an empty group holds its own DN (Active Directory allows empty groups).
    public var placeholderMember: Bool
    /// Result codes of a `member` value added twice or removed twice (taken as done after a crash).
    public var memberAlreadyAdded: [Int32]
    public var memberAlreadyRemoved: [Int32]

    /// The id attribute's key in `LdapEntryLink.attributes`.
    public var idKey: String { idAttribute.lowercased() }

    public static let inetOrgPerson = LdapDialect(
        schema: .inetorgperson, idAttribute: "entraObjectId",
        userAttributes: ["uid", "cn", "sn", "givenname", "displayname", "mail", "title", "employeenumber", "entraobjectid", "entraaccountenabled",
                         "uidnumber", "gidnumber", "homedirectory", "loginshell"],
        groupAttributes: ["cn", "description", "entraobjectid", "gidnumber"],
        userFilter: "(objectClass=inetOrgPerson)", groupFilter: "(|(objectClass=groupOfNames)(objectClass=posixGroup))",
        userNames: ["uid"], groupNames: ["cn"], placeholderMember: true,
        memberAlreadyAdded: [20], memberAlreadyRemoved: [16])  // attributeOrValueExists, noSuchAttribute

    /// Active Directory and Samba AD (see `LdapDesired.init(activeDirectory:target:)` for the mapping).
    public static let activeDirectory = LdapDialect(
        schema: .activedirectory, idAttribute: ActiveDirectory.idAttribute,
        userAttributes: ["cn", "userprincipalname", "samaccountname", "displayname", "givenname", "sn", "mail", "title", "employeeid",
                         "useraccountcontrol", ActiveDirectory.idAttribute.lowercased(), "uidnumber", "gidnumber", "unixhomedirectory", "loginshell"],
        groupAttributes: ["cn", "samaccountname", "description", ActiveDirectory.idAttribute.lowercased(), "gidnumber"],
        // Computers are users too; only people are adopted.
        userFilter: "(&(objectCategory=person)(objectClass=user))", groupFilter: "(objectClass=group)",
        userNames: ["userprincipalname", "samaccountname"], groupNames: ["cn", "samaccountname"], placeholderMember: false,
        // AD answers a member added twice with entryAlreadyExists and one removed twice with unwillingToPerform.
        memberAlreadyAdded: [20, 68], memberAlreadyRemoved: [16, 53])
}

extension LdapDialect {
    /// The target's dialect: its schema's, with `IdAttribute=` in place of the default id attribute.
    public init(_ target: LdapTarget) {
        self = target.schema == .activedirectory ? .activeDirectory : .inetOrgPerson
        guard let id = target.idAttribute, id.lowercased() != idKey else { return }
        let old = idKey
        userAttributes = userAttributes.map { $0 == old ? id.lowercased() : $0 }
        groupAttributes = groupAttributes.map { $0 == old ? id.lowercased() : $0 }
        idAttribute = id
    }

    /// True when a provisioned user is disabled in the directory.
    public func isDisabled(_ link: LdapEntryLink) -> Bool {
        switch schema {
        case .inetorgperson: link.attributes["entraaccountenabled"] == ["FALSE"]
        case .activedirectory: ActiveDirectory.isDisabled(link.attributes["useraccountcontrol"]?.first)
        }
    }

    /// The one attribute a deprovisioned user gets, and its value (replacing what it had).
    public func disabling(_ attributes: LdapAttributes) -> (name: String, value: String) {
        switch schema {
        case .inetorgperson: ("entraAccountEnabled", "FALSE")
        case .activedirectory: ("userAccountControl", ActiveDirectory.control(attributes["useraccountcontrol"]?.first, enabled: false))
        }
    }

    /// The object classes an entry with these managed attributes is created with.
    public func classes(_ attributes: LdapAttributes, isGroup: Bool) -> [String] {
        switch schema {
        case .inetorgperson: LdapDesired.classes(attributes, isGroup: isGroup)
        // RFC 2307 attributes are allowed on AD's user and group through their auxiliary classes.
        case .activedirectory: isGroup ? ["group"] + idClass : ["user"]
        }
    }

    /// Active Directory: the auxiliary class a group needs for the id attribute. The cloud
    /// extension attributes belong to `msDS-CloudExtensions`, which `user` includes and `group`
    /// does not: groups get it as a dynamic auxiliary class.
    public var idClass: [String] {
        schema == .activedirectory && idKey.hasPrefix("msds-cloudextensionattribute") ? ["msDS-CloudExtensions"] : []
    }
}
