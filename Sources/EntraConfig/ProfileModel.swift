import Foundation

/// Which Microsoft cloud a tenant lives in; picks the login host and the Graph root.
public enum Cloud: String, Sendable, CaseIterable {
    case global
    case usgov
    case usgovDod = "usgov-dod"
    case china

    public var loginEndpoint: String {
        switch self {
        case .global: "https://login.microsoftonline.com"
        case .usgov, .usgovDod: "https://login.microsoftonline.us"
        case .china: "https://login.chinacloudapi.cn"
        }
    }

    public var graphEndpoint: String {
        switch self {
        case .global: "https://graph.microsoft.com"
        case .usgov: "https://graph.microsoft.us"
        case .usgovDod: "https://dod-graph.microsoft.us"
        case .china: "https://microsoftgraph.chinacloudapi.cn"
        }
    }
}

/// A secret that never prints its value.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// Where the client secret came from.
public enum SecretSource: Sendable, Equatable {
    case inline
    case file(String)
    case credential(String)
    case certificate(String)
}

/// One validated profile: `NAME.conf` in the configuration directory.
///
/// Keys (section, type, default):
/// - `[Tenant] TenantId=` GUID or domain, required
/// - `ClientId=` GUID, required
/// - `ClientSecret=` / `ClientSecretFile=` / `ClientSecretCredential=`: exactly one
/// - `Cloud=` global | usgov | usgov-dod | china, default global
/// - `LoginEndpoint=`, `GraphEndpoint=`: URL overrides (http only for loopback)
/// - `CAFile=`: extra PEM trust anchor; `Proxy=`: proxy URL
/// - `[Sync] Interval=` time span, default 30min; `RandomizedDelay=` default min(Interval/10, 5min)
/// - `Users=`, `Groups=` booleans, default yes; `RequestTimeout=` default 60s; `MaxAttempts=` 1...20, default 6
public struct Profile: Sendable, Equatable {
    public var name: String
    public var sourceFile: String
    public var tenantId: String
    public var clientId: String
    public var clientSecret: Secret
    public var secretSource: SecretSource
    public var cloud: Cloud
    public var loginEndpoint: String
    public var graphEndpoint: String
    public var caFile: String?
    public var proxy: String?
    public var interval: Double
    public var randomizedDelay: Double
    public var requestTimeout: Double
    public var syncUsers: Bool
    public var syncGroups: Bool
    public var maxAttempts: Int
    /// Scope: which mirrored objects the outputs show (the mirror itself holds the whole tenant,
    /// so a scope change takes effect at the next run without a resync).
    public var scope = Scope()
    /// A run that would remove more than this is not committed until approved.
    public var maxDeletions: DeletionLimit?
    /// `[Output] Export=`: formats written to `export/` after each committed run.
    public var exportFormats: Set<ExportFormat> = [.json]
    /// `[Output] MetricsFile=`: a directory (node_exporter textfile collector) or a file path; nil = state dir.
    public var metricsPath: String?
    /// `[Output] OnChange=`: a program fed each committed change set as JSON lines on stdin.
    public var onChange: String?
    /// `[Output] OnChangeTimeout=`: how long the program may run.
    public var onChangeTimeout: Double = 60
    /// `[SCIM]` / `[SCIM:NAME]` sections: applications the mirror is pushed to.
    public var scimTargets: [ScimTarget] = []
    /// `[LDAP]` / `[LDAP:NAME]` sections: directories the mirror is provisioned into.
    public var ldapTargets: [LdapTarget] = []
    /// The `[Linux]` section: users and groups served through systemd's userdb (nil: none).
    public var linux: LinuxSettings?
    /// `[Sync] SoftDeleteGrace=`: how long a soft-deleted user stays in the exports, marked deleted.
    public var softDeleteGrace: Double = 0
    /// `[Sync] Parallel=`: how a full sync reads the tenant (`ParallelSync`).
    public var parallel = ParallelSync.auto
    /// Certificate credentials instead of a client secret.
    public var certificate: CertificateCredential?
    /// `ClientSecretExpires=`: when the client secret expires (seconds since 1970), for the 30-day warning.
    public var clientSecretExpires: Double?

    /// When the credential in use expires, if known.
    public var credentialExpires: Double? { certificate?.notAfter ?? clientSecretExpires }

    public var tokenURL: String { "\(loginEndpoint)/\(tenantId)/oauth2/v2.0/token" }
    /// Always the cloud's Graph root: tokens are for the resource, whatever host serves it.
    public var graphScope: String { "\(cloud.graphEndpoint)/.default" }
}

/// What part of the mirror is imported into outputs.
public struct Scope: Sendable, Equatable {
    public var userFilter: FilterExpression?
    public var groupFilter: FilterExpression?
    /// Group ids or display names: only these groups, their nested groups and their transitive members.
    public var includeGroups: [String] = []
    public var excludeUnlicensed = false
    public var excludeDisabled = false
    public init() {}

    public var isEverything: Bool {
        userFilter == nil && groupFilter == nil && includeGroups.isEmpty && !excludeUnlicensed && !excludeDisabled
    }
}

public enum ExportFormat: String, Sendable, CaseIterable {
    case json, csv
}

/// `MaxDeletions=`: a count or a percentage of the objects mirrored.
public enum DeletionLimit: Sendable, Equatable, CustomStringConvertible {
    case count(Int)
    case percent(Double)

    /// `500` or `10%`; nil when `text` is neither.
    public init?(parsing text: String) {
        if text.hasSuffix("%"), let p = Double(text.dropLast()), p >= 0, p <= 100 {
            self = .percent(p)
        } else if let n = Int(text), n >= 0 {
            self = .count(n)
        } else {
            return nil
        }
    }

    static func expected(_ found: String) -> String { "expected a count like 500 or a percentage like 10%, found '\(found)'" }

    /// The most removals allowed when `total` objects are mirrored.
    public func limit(total: Int) -> Int {
        switch self {
        case .count(let n): n
        case .percent(let p): Int((Double(total) * p / 100).rounded(.down))
        }
    }

    public var description: String {
        switch self {
        case .count(let n): "\(n)"
        case .percent(let p): "\(p)%"
        }
    }
}

/// A configuration error: file, line, key and what to do.
///
/// A profile file is checked whole, so one error can carry several problems: the first (by line)
/// in `file`, `line`, `key` and `message`, the others in `more`. `description` has one line per problem.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String
    /// The file's further problems, in line order (those without a line last).
    public var more: [ConfigError] = []

    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// One error holding all of `problems`, sorted by line; nil when there are none.
    public init?(problems: [ConfigError]) {
        let sorted = problems.flatMap(\.problems).enumerated()
            .sorted { ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset) }
            .map(\.element)
        guard var first = sorted.first else { return nil }
        first.more = Array(sorted.dropFirst())
        self = first
    }

    /// Every problem: this one, then `more`, each on its own.
    public var problems: [ConfigError] {
        var head = self
        head.more = []
        return [head] + more.flatMap(\.problems)
    }

    public var description: String {
        guard more.isEmpty else { return problems.map(\.description).joined(separator: "\n") }
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}

/// Something that works but should be fixed, e.g. a secret readable by others.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// The result of reading a configuration directory.
public struct ProfileSet: Sendable {
    public var profiles: [Profile] = []
    /// Errors by profile name ("*" when the directory itself cannot be read).
    public var errors: [String: ConfigError] = [:]
    public var warnings: [ConfigWarning] = []
}

/// `[Sync] Parallel=`: a full sync (the first, `run-now --full`, a resync) reads the tenant with
/// parallel listings bounded by Graph's throttling budget (`auto`: up to 32 requests at once,
/// adapting to the budget, for tenants of 5,000 objects or more: `SyncRun.autoParallelMinimum`), with at most N requests at once, or (`off`) as one sequential delta
/// chain. Incremental runs are always one delta chain.
public enum ParallelSync: Sendable, Equatable {
    case auto
    case off
    case max(Int)

    public static let maxRequests = 32

    public init?(_ text: String) {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "auto": self = .auto
        case "off", "no", "false", "0": self = .off
        case let n: guard let count = Int(n), (1...Self.maxRequests).contains(count) else { return nil }
            self = .max(count)
        }
    }

    /// The most requests a full sync has in flight at once; 0: the sequential delta chain.
    public var limit: Int {
        switch self {
        case .auto: Self.maxRequests
        case .off: 0
        case .max(let n): n
        }
    }
}
