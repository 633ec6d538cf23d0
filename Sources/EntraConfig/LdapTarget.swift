/// One `[LDAP]` or `[LDAP:NAME]` section of a profile: a directory entra-sync provisions users and groups into.
///
/// Keys (type, default):
/// - `URI=` `ldaps://HOST[:PORT]`, `ldap://HOST[:PORT]` (StartTLS, required unless the host is loopback)
///   or `ldapi://PATH` (percent-encoded socket path), required
/// - `BindDN=` DN for a simple bind; with `BindPasswordFile=` (path) or `BindPasswordCredential=` (systemd
///   credential name), one of them required with BindDN=
///   Without `BindDN=`, an `ldapi://` URI binds with SASL EXTERNAL (the daemon's uid); other URIs need one
/// - `CAFile=` extra PEM trust anchor (certificates are always verified)
/// - `BaseDN=` DN, required; `UsersDN=` default `ou=people,BASEDN`; `GroupsDN=` default `ou=groups,BASEDN`
///   (both created as organizationalUnit when missing and their RDN is `ou=`)
/// - `UserRDN=` uid | cn, default uid: the attribute that names a user's entry (`uid=UPN` or `cn=DISPLAYNAME`);
///   changing it renames the entries (modrdn). With Schema=activedirectory always cn (`uid` is an error)
/// - `Schema=` inetorgperson | activedirectory, default inetorgperson: `inetOrgPerson`/`groupOfNames` entries with
///   entra-sync's schema (OpenLDAP, 389 DS), or `user`/`group` entries for Active Directory and Samba AD (the object id
///   in `msDS-cloudExtensionAttribute1`, a derived `sAMAccountName`, a random unknown password, `userAccountControl`;
///   needs an encrypted connection: `ldaps://`, StartTLS or `ldapi://`, not plain `ldap://` to loopback)
/// - `IdAttribute=` attribute name, only with Schema=activedirectory, default `msDS-cloudExtensionAttribute1`: where
///   the Entra object id is kept (e.g. `msDS-ExternalDirectoryObjectId` on a Windows Server 2016 or later schema, or
///   another `msDS-cloudExtensionAttributeN` when the first is taken); changing it starts over with first contact
/// - `DeprovisionMode=` disable | delete | move, default disable (entraAccountEnabled=FALSE, AD: userAccountControl
///   ACCOUNTDISABLE, out of every group; move: that, moved under `DisabledDN=`, a DN under BaseDN outside UsersDN,
///   created when missing and named `ou=`)
/// - `MaxDeletions=` count or percentage, default the profile's `[Sync] MaxDeletions=`
/// - `Users=`, `Groups=` booleans, default yes
/// - `RequestTimeout=` time span, default 30s
/// - `ReconcileInterval=` time span, default 1d: drift repair (entries changed or deleted by hand put back) that
///   often after the last one (journaled), besides at first contact and after a full sync (`run-now --full`)
/// - `Posix=` boolean, default no: users get `posixAccount` (uidNumber, gidNumber = uidNumber,
///   homeDirectory, loginShell), groups are `posixGroup` (gidNumber) with `member` DNs (Active Directory: the
///   attributes uidNumber, gidNumber, unixHomeDirectory, loginShell and gidNumber, no class change); the ids are the
///   profile's POSIX ids (the ones `[Linux]` assigns and the userdb serves), so `Posix=yes` needs a `[Linux]` section
/// - `HomeDirectory=` template, default `/home/%u`: `%u` the entry's uid (the UPN), `%l` UPN local part,
///   `%U` uidNumber, `%o` object id, `%%` a percent sign (only with `Posix=yes`)
/// - `LoginShell=` absolute path, default `/bin/bash` (only with `Posix=yes`)
/// - `Attribute.NAME=FIELD` (any number): the user attribute NAME written from the Entra field FIELD instead of its
///   default; `Attribute.NAME=` with nothing: NAME is no longer managed (see `LdapAttributeMap`)
/// - `MaxRequestsPerSecond=` number, default 0 (unlimited): operations sent to the directory per second, on average
///   (a token bucket holding a tenth of a second's worth, at least one)
public struct LdapTarget: Sendable, Equatable {
    public enum Schema: String, Sendable, CaseIterable {
        case inetorgperson
        case activedirectory
    }

    /// The attribute that names a user's entry (always `cn` with Schema=activedirectory).
    public enum UserRDN: String, Sendable, CaseIterable {
        /// `uid=USERPRINCIPALNAME`.
        case uid
        /// `cn=DISPLAYNAME` (else the UPN); two users of one name: the second is refused until renamed.
        case cn
    }

    public enum DeprovisionMode: String, Sendable, CaseIterable {
        /// Keep the entry with entraAccountEnabled=FALSE, out of every group.
        case disable
        /// Delete the entry.
        case delete
        /// Move the entry under `DisabledDN=` (modrdn), then disable it as `disable` does.
        case move
    }

    public enum Bind: Sendable, Equatable {
        /// `file`: where the password was read (a credential's path under $CREDENTIALS_DIRECTORY).
        case simple(dn: String, password: Secret, file: String)
        /// SASL EXTERNAL over `ldapi://`.
        case external
    }

    /// `default` for `[LDAP]`, else the NAME of `[LDAP:NAME]`.
    public var name: String
    public var uri: String
    public var bind: Bind
    public var caFile: String?
    public var baseDN: String
    public var usersDN: String
    public var groupsDN: String
    public var schema = Schema.inetorgperson
    public var deprovisionMode = DeprovisionMode.disable
    public var maxDeletions: DeletionLimit?
    public var users = true
    public var groups = true
    public var requestTimeout: Double = 30
    public var posix = false
    public var userRDN = UserRDN.uid
    /// `IdAttribute=` (Schema=activedirectory): nil for the schema's default.
    public var idAttribute: String?
    /// `DisabledDN=`: where DeprovisionMode=move puts users (required with it).
    public var disabledDN: String?
    /// `ReconcileInterval=`: how often the managed entries are read back for drift repair (seconds).
    public var reconcileInterval: Double = 86_400
    public var homeDirectory = "/home/%u"
    public var loginShell = "/bin/bash"
    /// `Attribute.NAME=`: where each user attribute comes from.
    public var userAttributes = LdapAttributeMap()
    /// `MaxRequestsPerSecond=`: 0 is unlimited.
    public var maxRequestsPerSecond: Double = 0

    public init(name: String, uri: String, bind: Bind, baseDN: String) {
        self.name = name
        self.uri = uri
        self.bind = bind
        self.baseDN = baseDN
        usersDN = "ou=people," + baseDN
        groupsDN = "ou=groups," + baseDN
    }

    /// What the acknowledged state belongs to: pointing a target at another server or subtree starts over.
    public var location: String {
        let base = "\(uri) \(usersDN) \(groupsDN)"
        // Another id attribute (Active Directory) means the entries must be found and stamped again.
        return idAttribute.map { base + " " + $0 } ?? base
    }
}
