import EntraMirror
import EntraPush
import EntraSync

/// What the control service needs of the engine. `SyncManager` is the real one; tests of the
/// service use one in memory.
public protocol SyncEngine: Sendable {
    /// The loaded profiles' names, sorted.
    var profileNames: [String] { get }
    /// True once the daemon began to stop.
    var isStopping: Bool { get }
    func lookup(_ name: String) -> SyncManager.Lookup
    func status(profile: String?) -> [ProfileSnapshot]
    func reload() -> ReloadOutcome
    func committed(profile: String) -> SyncManager.Committed?
    func trigger(profile: String, full: Bool, allowDeletions: Int, waiter: (@Sendable (RunSummary) -> Void)?) -> Result<Bool, NotRunnable>
    func scimStatus(profile: String, target: String?, plan: Bool) -> [ScimTargetSnapshot]?
    func pushScim(profile: String, target: String?, retry: Bool, allowDeletions: Int,
                  done: @escaping @Sendable ([ScimTargetSnapshot]) -> Void) -> Bool
    func ldapStatus(profile: String, target: String?, plan: Bool) -> [PushTargetSnapshot]?
    func pushLdap(profile: String, target: String?, retry: Bool, allowDeletions: Int,
                  done: @escaping @Sendable ([PushTargetSnapshot]) -> Void) -> Bool
    func discardStateAndResync(profile: String, waiter: (@Sendable (RunSummary) -> Void)?,
                               done: @escaping @Sendable (Result<ProfileRunner.Discarded, NotRunnable>) -> Void)
}

extension SyncManager: SyncEngine {}
