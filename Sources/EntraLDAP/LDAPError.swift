import CLDAP

/// An LDAP operation that failed: libldap's result code, the operation and the server's diagnostic message.
///
/// Result codes below 0 are libldap's own (server down, connect error, timeout); the rest are the
/// server's (RFC 4511 section 4.1.9).
public struct LDAPError: Error, CustomStringConvertible, Sendable, Equatable {
    public var code: Int32
    /// What was tried, e.g. "add uid=ada,ou=people,dc=example,dc=com".
    public var operation: String
    /// The server's diagnostic message, or libldap's description of the code.
    public var diagnostic: String

    public init(code: Int32, operation: String, diagnostic: String) {
        self.code = code
        self.operation = operation
        self.diagnostic = diagnostic
    }

    public static let noSuchAttribute: Int32 = 16
    public static let attributeOrValueExists: Int32 = 20
    public static let noSuchObject: Int32 = 32
    public static let invalidCredentials: Int32 = 49
    public static let alreadyExists: Int32 = 68

    /// libldap's name for the code ("No such object", "Can't contact LDAP server").
    public var name: String { String(cString: ldap_err2string(code)) }

    /// The target cannot be used at all (unreachable, TLS, bind refused, protocol), as opposed
    /// to one entry being refused: a push stops and is retried with backoff.
    public var isTargetFailure: Bool {
        code < 0 || [1, 2, 7, 8, 13, 48, 49, 51, 52, 80].contains(code)
    }

    public var description: String {
        let detail = diagnostic.isEmpty || diagnostic == name ? name : "\(name): \(diagnostic)"
        return "\(operation) failed: \(detail) (LDAP result \(code))"
    }
}
