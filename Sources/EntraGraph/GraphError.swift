/// Why a Graph or token request failed, with what an admin should do about it.
public struct GraphError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The token endpoint refused the credentials (wrong or expired secret, unknown tenant or app).
        case authentication
        /// Graph answered 403: permission missing or consent not (yet) granted.
        case permissionDenied
        /// Graph answered 401 even with a fresh token.
        case unauthorized
        /// 429/503/504 or network errors persisted through every attempt.
        case retriesExhausted
        /// The delta token is no longer valid; a full resync is needed (handled inside the client).
        case resyncRequired
        /// A response that is not what Graph sends: invalid JSON, wrong shape, no links.
        case badResponse
        /// A link or redirect that would take the token to another origin than the Graph endpoint's: refused.
        case foreignOrigin
        /// Any other HTTP error status.
        case httpStatus
        /// Connect, TLS, proxy, timeout and similar transport failures.
        case transport
        /// The run was cancelled (daemon stopping).
        case cancelled
    }

    public var kind: Kind
    public var message: String
    /// What to do about it, for status output and logs.
    public var hint: String?
    public var httpStatus: Int?
    /// Graph's or the identity platform's error code (`Authorization_RequestDenied`, `AADSTS7000215`, ...).
    public var code: String?
    /// Our `client-request-id` and the server's `request-id`: what Microsoft support asks for.
    public var clientRequestId: String?
    public var requestId: String?

    public init(kind: Kind, message: String, hint: String? = nil, httpStatus: Int? = nil, code: String? = nil,
                clientRequestId: String? = nil, requestId: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.httpStatus = httpStatus
        self.code = code
        self.clientRequestId = clientRequestId
        self.requestId = requestId
    }

    public var description: String {
        var text = message
        if let requestId { text += " (request-id \(requestId)" + (clientRequestId.map { ", client-request-id \($0)" } ?? "") + ")" }
        return text
    }

    static let permissionHint = """
        Grant the app registration the Microsoft Graph application permissions User.Read.All and \
        Group.Read.All (or Directory.Read.All), then "Grant admin consent"; consent can take minutes \
        to propagate.
        """

    /// The admin-facing hint for an identity platform error code.
    public static func hint(forAADSTS code: Int) -> String? {
        switch code {
        case 7000215:
            "The client secret is wrong: you probably pasted the secret ID, not its value. Create a new secret and copy its Value."
        case 7000222:
            "The client secret has expired. Create a new secret in the app registration and update the profile."
        case 90002:
            "The tenant was not found. Check TenantId (the directory ID GUID or a verified domain) and Cloud."
        case 700016:
            "The application was not found in this tenant. Check ClientId (the Application (client) ID) and TenantId, and that the app is registered in this tenant."
        case 7000218:
            "No credential was sent. Set ClientSecretFile=, ClientSecret= or ClientSecretCredential=."
        case 700027:
            "The client assertion's signature did not validate: upload this certificate (CertificateFile=) to the app registration, and check that PrivateKeyFile= is its key."
        case 70011:
            "The scope was rejected. Check GraphEndpoint and Cloud."
        default:
            nil
        }
    }
}
