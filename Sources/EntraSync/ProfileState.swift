import EntraMirror
import EntraPush
/// What a profile is doing, as `status` shows it. The wire strings come from here.
public enum ProfileState: String, Sendable, Equatable, CaseIterable {
    /// Waiting for its next run; the last run succeeded (or there was none yet).
    case idle
    /// A run is due but waits for one of the daemon's run slots (`--max-concurrent-runs`).
    case queued
    /// A run is in progress.
    case syncing
    /// The last run failed, or the journal cannot be opened (the profile cannot run).
    case failed
    /// The last run would have removed more than `MaxDeletions=` allows: waiting for approval.
    case blocked
    /// The profile's file is invalid; a profile that loaded before keeps running on its old configuration.
    case configError = "config-error"
    /// The daemon is stopping: no new runs.
    case stopping
}

/// A run in progress.
public struct RunningRun: Sendable, Equatable {
    public var runId: String
    public var full: Bool
    /// Seconds since 1970.
    public var started: Double
}

/// A profile's status in domain terms; the control service maps it to the wire.
public struct ProfileSnapshot: Sendable, Equatable {
    public var name: String
    public var state: ProfileState
    /// Objects in the profile's scope.
    public var users = 0
    public var groups = 0
    public var memberships = 0
    /// The last finished run (history).
    public var lastRun: RunSummary?
    public var running: RunningRun?
    /// When the last successful run finished (seconds since 1970).
    public var lastSuccess: Double?
    public var nextRun: Double?
    /// Why the profile cannot run, or what went wrong around the last run (config, journal, exports).
    public var error: String?
    public var credentialExpires: Double?
    public var warnings: [String] = []
    /// The profile's LDAP targets (`pending` not computed: -1).
    public var ldapTargets: [PushTargetSnapshot] = []
    /// What the profile serves to Linux (`[Linux]`): users, groups and refusals.
    public var linux: LinuxServed?

    public init(name: String, state: ProfileState, error: String? = nil) {
        self.name = name
        self.state = state
        self.error = error
    }
}

/// Why a profile cannot start a run.
public struct NotRunnable: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Its journal could not be opened or its file never loaded.
        case broken
        /// The daemon is stopping.
        case stopping
    }
    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

/// What a reload changed.
public struct ReloadOutcome: Sendable, Equatable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    /// One line per profile file that could not be loaded (file:line: key: problem).
    public var errors: [String] = []
    public init() {}
}

/// What a profile serves to Linux (`[Linux]`), as status shows it.
public struct LinuxServed: Sendable, Equatable {
    public var users: Int
    public var groups: Int
    /// "name: reason" for each user or group not served.
    public var refused: [String]
}
