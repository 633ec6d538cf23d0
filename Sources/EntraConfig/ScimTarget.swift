/// One `[SCIM]` or `[SCIM:NAME]` section of a profile: an application entra-sync pushes the mirror to.
///
/// Keys (type, default):
/// - `Endpoint=` URL of the SCIM 2.0 base (…/scim/v2), required; http:// only for loopback
/// - `BearerTokenFile=` / `BearerTokenCredential=` / `BearerToken=`: exactly one
/// - `CAFile=` extra PEM trust anchor; `Proxy=` proxy URL
/// - `Users=`, `Groups=` booleans, default yes
/// - `UserNameFrom=` userPrincipalName | mail, default userPrincipalName
/// - `DeprovisionMode=` deactivate | delete, default deactivate
/// - `MaxRequestsPerSecond=` number, 0 = unlimited, default 20
/// - `RequestTimeout=` time span, default 30s
/// - `Bulk=` yes | no, default yes (used only when the server announces Bulk)
public struct ScimTarget: Sendable, Equatable {
    public enum UserNameSource: String, Sendable, CaseIterable {
        case userPrincipalName
        case mail
    }

    public enum DeprovisionMode: String, Sendable, CaseIterable {
        /// PATCH active=false and keep the resource.
        case deactivate
        /// DELETE the resource.
        case delete
    }

    /// `default` for `[SCIM]`, else the NAME of `[SCIM:NAME]`.
    public var name: String
    public var endpoint: String
    public var bearerToken: Secret
    public var tokenSource: SecretSource
    public var caFile: String?
    public var proxy: String?
    public var users = true
    public var groups = true
    public var userNameFrom = UserNameSource.userPrincipalName
    public var deprovisionMode = DeprovisionMode.deactivate
    public var maxRequestsPerSecond: Double = 20
    public var requestTimeout: Double = 30
    public var bulk = true

    public init(name: String, endpoint: String, bearerToken: Secret, tokenSource: SecretSource) {
        self.name = name
        self.endpoint = endpoint
        self.bearerToken = bearerToken
        self.tokenSource = tokenSource
    }
}
