/// The entra-sync control interface, `io.entrasync.Manager`, spoken over varlink.
///
/// This file is the one place that defines the wire: method names, parameter and reply types, and
/// error names. The daemon implements it; `entra-syncctl` and any varlink client use it.
public enum ManagerProtocol {
    public static let interface = "io.entrasync.Manager"
    public static let version = "0.1.0"

    public enum Method {
        public static let status = "io.entrasync.Manager.Status"
        public static let runNow = "io.entrasync.Manager.RunNow"
        public static let reload = "io.entrasync.Manager.Reload"
        public static let history = "io.entrasync.Manager.History"
        public static let users = "io.entrasync.Manager.Users"
        public static let groups = "io.entrasync.Manager.Groups"
        public static let members = "io.entrasync.Manager.Members"
        public static let show = "io.entrasync.Manager.Show"
        public static let posixIds = "io.entrasync.Manager.PosixIds"
        public static let scim = "io.entrasync.Manager.Scim"
        public static let scimPush = "io.entrasync.Manager.ScimPush"
        public static let ldap = "io.entrasync.Manager.Ldap"
        public static let ldapPush = "io.entrasync.Manager.LdapPush"
        public static let resync = "io.entrasync.Manager.Resync"
    }

    public enum ErrorName {
        public static let noSuchProfile = "io.entrasync.Manager.NoSuchProfile"
        public static let profileNotRunnable = "io.entrasync.Manager.ProfileNotRunnable"
        public static let permissionDenied = "io.entrasync.Manager.PermissionDenied"
        public static let shuttingDown = "io.entrasync.Manager.ShuttingDown"
        public static let invalidFilter = "io.entrasync.Manager.InvalidFilter"
        public static let notFound = "io.entrasync.Manager.NotFound"
    }

    /// The interface definition in varlink IDL, served by `GetInterfaceDescription`.
    public static let description = """
        # Control interface of entra-syncd, the Microsoft Entra ID directory mirror.
        interface io.entrasync.Manager

        type RunInfo (
          runId: string,
          result: string,
          full: bool,
          started: string,
          finished: ?string,
          durationMsec: ?int,
          added: int,
          updated: int,
          removed: int,
          error: ?string,
          hint: ?string
        )

        type ProfileStatus (
          name: string,
          state: string,
          users: int,
          groups: int,
          memberships: int,
          lastRun: ?RunInfo,
          lastSuccess: ?string,
          nextRun: ?string,
          error: ?string,
          credentialExpires: ?string,
          warnings: ?[]string,
          ldapTargets: ?[]ScimTargetStatus
          linux: ?LinuxStatus
        )

        # What a profile with [Linux] serves through io.systemd.UserDatabase; refused: "name: reason".
        type LinuxStatus (users: int, groups: int, refused: []string)

        # Per-profile state; all profiles when profile is null.
        method Status(profile: ?string) -> (profiles: []ProfileStatus)

        type RunNowResult (
          profile: string,
          started: bool,
          run: ?RunInfo
        )

        # Starts a run (or joins the one in progress). With wait, returns when it ends.
        method RunNow(profile: ?string, all: ?bool, full: ?bool, wait: ?bool, allowDeletions: ?int) -> (runs: []RunNowResult)

        # The last runs from the journal, newest first.
        method History(profile: string, limit: ?int) -> (runs: []RunInfo)

        # Users and groups in the profile's scope (objects as in the export files), optionally filtered.
        method Users(profile: string, filter: ?string) -> (users: []object)
        method Groups(profile: string, filter: ?string) -> (groups: []object)

        # Members of a group (id or display name); transitive follows nested groups.
        method Members(profile: string, group: string, transitive: ?bool) -> (group: object, users: []object, groups: []object, others: []string)

        # One user or group by id, userPrincipalName, mail or display name.
        # posixIds: the uid or gid of each shown object that has one ([Linux]).
        method Show(profile: string, key: string) -> (users: []object, groups: []object, posixIds: ?[string]int)

        # Every POSIX id the profile ever assigned ([Linux]), deleted objects' included, sorted by id:
        # what a second host's IdPinsFile= needs to give the same objects the same ids.
        type PosixId (object: string, id: int)
        method PosixIds(profile: string) -> (ids: []PosixId)

        type ScimFailureInfo (
          objectId: string,
          kind: string,
          name: string,
          operation: string,
          status: int,
          detail: string,
          attempts: int,
          nextAttempt: ?string
        )
        type ScimPushInfo (
          result: string,
          started: string,
          finished: string,
          durationMsec: int,
          created: int,
          updated: int,
          deprovisioned: int,
          memberAdds: int,
          memberRemoves: int,
          requests: int,
          bytesSent: int,
          failed: int,
          error: ?string
        )
        type ScimTargetStatus (
          name: string,
          endpoint: string,
          state: string,
          users: int,
          groups: int,
          pending: int,
          failed: int,
          failures: []ScimFailureInfo,
          lastPush: ?ScimPushInfo,
          lastSuccess: ?string,
          lastReconcile: ?string,
          nextAttempt: ?string,
          pushes: int,
          plan: ?[]string
        )
        # SCIM targets of a profile (one when target is set); with plan, the operations the next push sends.
        method Scim(profile: string, target: ?string, plan: ?bool) -> (targets: []ScimTargetStatus)
        # Pushes now and waits: retry sends failed objects before their backoff ends; allowDeletions approves.
        method ScimPush(profile: string, target: ?string, retry: ?bool, allowDeletions: ?int) -> (targets: []ScimTargetStatus)
        # LDAP targets of a profile, as Scim (the status type is shared; endpoint is the URI).
        method Ldap(profile: string, target: ?string, plan: ?bool) -> (targets: []ScimTargetStatus)
        # Provisions the LDAP targets now and waits, as ScimPush.
        method LdapPush(profile: string, target: ?string, retry: ?bool, allowDeletions: ?int) -> (targets: []ScimTargetStatus)
        # Re-reads all profiles, as SIGHUP does.
        method Reload() -> (added: []string, removed: []string, changed: []string, errors: []string)

        # Discards the profile's state and syncs everything again from Entra, the source of truth;
        # works when the journal is damaged. discardState must be true. The old journal is kept for
        # inspection, renamed to keptJournal (a dated name in the profile's state directory); SCIM
        # targets are matched again by adoption on first contact, so nothing is created twice.
        # With wait, returns when the full sync ends.
        method Resync(profile: string, discardState: bool, wait: ?bool) -> (profile: string, keptJournal: ?string, run: ?RunInfo)

        error NoSuchProfile (profile: string)
        error ProfileNotRunnable (profile: string, reason: string)
        error PermissionDenied (method: string, adminGroup: string)
        error ShuttingDown ()
        error InvalidFilter (message: string)
        error NotFound (key: string)
        """
}

/// One sync run as the control interface reports it.
public struct RunInfo: Codable, Sendable, Equatable {
    public var runId: String
    /// `running`, `succeeded`, `failed` or `cancelled`.
    public var result: String
    public var full: Bool
    public var started: String
    public var finished: String?
    public var durationMsec: Int?
    public var added: Int
    public var updated: Int
    public var removed: Int
    public var error: String?
    public var hint: String?

    public init(runId: String, result: String, full: Bool, started: String, finished: String? = nil,
                durationMsec: Int? = nil, added: Int = 0, updated: Int = 0, removed: Int = 0,
                error: String? = nil, hint: String? = nil) {
        self.runId = runId
        self.result = result
        self.full = full
        self.started = started
        self.finished = finished
        self.durationMsec = durationMsec
        self.added = added
        self.updated = updated
        self.removed = removed
        self.error = error
        self.hint = hint
    }
}

/// A profile's state as `Status` reports it.
public struct ProfileStatus: Codable, Sendable, Equatable {
    public var name: String
    /// `idle`, `queued` (due, waiting for a run slot), `syncing`, `failed`, `blocked` (waiting for `--allow-deletions`),
    /// `config-error` or `stopping` (`ProfileState`).
    public var state: String
    public var users: Int
    public var groups: Int
    public var memberships: Int
    public var lastRun: RunInfo?
    public var lastSuccess: String?
    public var nextRun: String?
    /// Why the profile cannot run (config or journal error), if it cannot.
    public var error: String?
    /// When the client certificate or secret expires, if known.
    public var credentialExpires: String?
    /// Things to fix soon, e.g. a credential that expires within 30 days.
    public var warnings: [String]?
    /// The profile's LDAP targets (`pending` is -1: not computed for status).
    public var ldapTargets: [ScimTargetStatus]?
    /// What the profile serves to Linux (`[Linux]`).
    public var linux: LinuxStatus?

    public init(name: String, state: String, users: Int = 0, groups: Int = 0, memberships: Int = 0,
                lastRun: RunInfo? = nil, lastSuccess: String? = nil, nextRun: String? = nil, error: String? = nil) {
        self.name = name
        self.state = state
        self.users = users
        self.groups = groups
        self.memberships = memberships
        self.lastRun = lastRun
        self.lastSuccess = lastSuccess
        self.nextRun = nextRun
        self.error = error
    }
}

/// Users and groups a profile serves through io.systemd.UserDatabase, and names not served.
public struct LinuxStatus: Codable, Sendable, Equatable {
    public var users: Int
    public var groups: Int
    /// "name: reason" for each user or group not served (a local account's name or id, ...).
    public var refused: [String]
    public init(users: Int, groups: Int, refused: [String]) {
        self.users = users
        self.groups = groups
        self.refused = refused
    }
}

public struct StatusRequest: Codable, Sendable {
    public var profile: String?
    public init(profile: String? = nil) { self.profile = profile }
}

public struct StatusReply: Codable, Sendable {
    public var profiles: [ProfileStatus]
    public init(profiles: [ProfileStatus]) { self.profiles = profiles }
}

public struct RunNowRequest: Codable, Sendable {
    public var profile: String?
    public var all: Bool?
    public var full: Bool?
    public var wait: Bool?
    /// Approves this many removals for the next run (MaxDeletions=).
    public var allowDeletions: Int?
    public init(profile: String? = nil, all: Bool? = nil, full: Bool? = nil, wait: Bool? = nil, allowDeletions: Int? = nil) {
        self.profile = profile
        self.all = all
        self.full = full
        self.wait = wait
        self.allowDeletions = allowDeletions
    }
}

public struct RunNowResult: Codable, Sendable {
    public var profile: String
    /// False when the request joined a run already in progress.
    public var started: Bool
    /// The finished run, when the request asked to wait.
    public var run: RunInfo?
    public init(profile: String, started: Bool, run: RunInfo? = nil) {
        self.profile = profile
        self.started = started
        self.run = run
    }
}

public struct RunNowReply: Codable, Sendable {
    public var runs: [RunNowResult]
    public init(runs: [RunNowResult]) { self.runs = runs }
}

public struct ReloadRequest: Codable, Sendable {
    public init() {}
}

public struct ReloadReply: Codable, Sendable {
    public var added: [String]
    public var removed: [String]
    public var changed: [String]
    public var errors: [String]
    public init(added: [String] = [], removed: [String] = [], changed: [String] = [], errors: [String] = []) {
        self.added = added
        self.removed = removed
        self.changed = changed
        self.errors = errors
    }
}

public struct ResyncRequest: Codable, Sendable {
    public var profile: String
    /// Must be true: the request throws the profile's journal away (it is kept under another name).
    public var discardState: Bool
    public var wait: Bool?
    public init(profile: String, discardState: Bool, wait: Bool? = nil) {
        self.profile = profile
        self.discardState = discardState
        self.wait = wait
    }
}

public struct ResyncReply: Codable, Sendable {
    public var profile: String
    /// Where the discarded journal now is; nil when the profile had none.
    public var keptJournal: String?
    /// The full sync, when the request asked to wait.
    public var run: RunInfo?
    public init(profile: String, keptJournal: String?, run: RunInfo? = nil) {
        self.profile = profile
        self.keptJournal = keptJournal
        self.run = run
    }
}

/// Parameters of the `NoSuchProfile` and `ProfileNotRunnable` errors.
public struct ProfileErrorParameters: Codable, Sendable {
    public var profile: String
    public var reason: String?
    public init(profile: String, reason: String? = nil) {
        self.profile = profile
        self.reason = reason
    }
}

public struct HistoryRequest: Codable, Sendable {
    public var profile: String
    public var limit: Int?
    public init(profile: String, limit: Int? = nil) {
        self.profile = profile
        self.limit = limit
    }
}

public struct HistoryReply: Codable, Sendable {
    public var runs: [RunInfo]
    public init(runs: [RunInfo]) { self.runs = runs }
}

/// Parameters of Users, Groups, Members and Show.
public struct QueryRequest: Codable, Sendable {
    public var profile: String
    public var filter: String?
    public var group: String?
    public var transitive: Bool?
    public var key: String?
    public init(profile: String, filter: String? = nil, group: String? = nil, transitive: Bool? = nil, key: String? = nil) {
        self.profile = profile
        self.filter = filter
        self.group = group
        self.transitive = transitive
        self.key = key
    }
}

/// One assignment of `PosixIds`: an object id and its uid or gid.
public struct PosixId: Codable, Sendable, Equatable {
    public var object: String
    public var id: Int
    public init(object: String, id: Int) {
        self.object = object
        self.id = id
    }
}

public struct PosixIdsRequest: Codable, Sendable {
    public var profile: String
    public init(profile: String) { self.profile = profile }
}

public struct PosixIdsReply: Codable, Sendable, Equatable {
    public var ids: [PosixId]
    public init(ids: [PosixId]) { self.ids = ids }
}

/// A SCIM object the target refused.
public struct ScimFailureInfo: Codable, Sendable, Equatable {
    public var objectId: String
    /// `user` or `group`.
    public var kind: String
    public var name: String
    public var operation: String
    /// HTTP status; 0 when the object could not be sent at all.
    public var status: Int
    public var detail: String
    public var attempts: Int
    public var nextAttempt: String?
    public init(objectId: String, kind: String, name: String, operation: String, status: Int, detail: String, attempts: Int,
                nextAttempt: String?) {
        self.objectId = objectId
        self.kind = kind
        self.name = name
        self.operation = operation
        self.status = status
        self.detail = detail
        self.attempts = attempts
        self.nextAttempt = nextAttempt
    }
}

/// What one push did.
public struct ScimPushInfo: Codable, Sendable, Equatable {
    /// `succeeded`, `partial` or `failed`.
    public var result: String
    public var started: String
    public var finished: String
    public var durationMsec: Int
    public var created = 0
    public var updated = 0
    public var deprovisioned = 0
    public var memberAdds = 0
    public var memberRemoves = 0
    public var requests = 0
    public var bytesSent = 0
    public var failed = 0
    public var error: String?
    public init(result: String, started: String, finished: String, durationMsec: Int) {
        self.result = result
        self.started = started
        self.finished = finished
        self.durationMsec = durationMsec
    }
}

/// A SCIM target's state.
public struct ScimTargetStatus: Codable, Sendable, Equatable {
    public var name: String
    public var endpoint: String
    /// `never-pushed`, `in-sync`, `pending`, `failing` (some objects refused), `unavailable` or `pushing`.
    public var state: String
    /// Users and groups the target holds for this profile.
    public var users: Int
    public var groups: Int
    /// Operations the next push would send.
    public var pending: Int
    public var failed: Int
    public var failures: [ScimFailureInfo] = []
    public var lastPush: ScimPushInfo?
    public var lastSuccess: String?
    /// LDAP: the last read-back of the directory for drift repair.
    public var lastReconcile: String?
    public var nextAttempt: String?
    /// Pushes since the daemon started (lets a client wait for the next one).
    public var pushes = 0
    public var plan: [String]?
    public init(name: String, endpoint: String, state: String, users: Int, groups: Int, pending: Int, failed: Int) {
        self.name = name
        self.endpoint = endpoint
        self.state = state
        self.users = users
        self.groups = groups
        self.pending = pending
        self.failed = failed
    }
}

public struct ScimRequest: Codable, Sendable {
    public var profile: String
    public var target: String?
    public var plan: Bool?
    public var retry: Bool?
    public var allowDeletions: Int?
    public init(profile: String, target: String? = nil, plan: Bool? = nil, retry: Bool? = nil, allowDeletions: Int? = nil) {
        self.profile = profile
        self.target = target
        self.plan = plan
        self.retry = retry
        self.allowDeletions = allowDeletions
    }
}

public struct ScimReply: Codable, Sendable {
    public var targets: [ScimTargetStatus]
    public init(targets: [ScimTargetStatus]) { self.targets = targets }
}

/// `Ldap` and `LdapPush` take and answer the same as `Scim` and `ScimPush`.
public typealias PushTargetRequest = ScimRequest
public typealias PushTargetReply = ScimReply
