import EntraMirror

/// A push target's state (SCIM or LDAP) in domain terms; the control service maps it to the wire.
public struct PushTargetSnapshot: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case neverPushed = "never-pushed", inSync = "in-sync", pending
        /// Some objects were refused and wait for their retry.
        case failing
        /// The last push could not reach the target.
        case unavailable
        case pushing

        public static func of(pushing: Bool, lastPush: PushSummary?, failures: Int, pending: Int) -> Phase {
            if pushing { return .pushing }
            guard let lastPush else { return .neverPushed }
            if lastPush.result == .failed { return .unavailable }
            if failures > 0 { return .failing }
            return pending == 0 ? .inSync : .pending
        }
    }
    public var name: String
    /// The SCIM endpoint or the LDAP URI.
    public var endpoint: String
    public var phase: Phase
    /// Users and groups the target holds for this profile.
    public var users: Int
    public var groups: Int
    /// Operations the next push would send.
    public var pending: Int
    public var failures: [ScimFailure]
    public var lastPush: ScimPushSummary?
    public var lastSuccess: Double?
    /// LDAP: when the directory was last read back for drift repair (first contact included).
    public var lastReconcile: Double?
    public var nextAttempt: Double?
    /// Pushes since the daemon started (lets a client wait for the next one).
    public var pushes = 0
    /// With `plan`: one line per operation the next push would send.
    public var plan: [String]?

    public init(name: String, endpoint: String, phase: Phase, users: Int, groups: Int, pending: Int, failures: [ScimFailure]) {
        self.name = name
        self.endpoint = endpoint
        self.phase = phase
        self.users = users
        self.groups = groups
        self.pending = pending
        self.failures = failures
    }
}
