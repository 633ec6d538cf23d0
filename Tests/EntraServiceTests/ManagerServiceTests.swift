import EntraConfig
import EntraControl
import EntraDirectory
@testable import EntraMirror
@testable import EntraService
@testable import EntraSync
import Foundation
import EntraLock
import Synchronization
import Testing

/// The control service against an engine in memory: every method, the access policy, unknown
/// methods, and the domain → wire mapping. No socket, no process, no journal.
@Suite("control service")
struct ManagerServiceTests {
    /// One loaded profile ("contoso", 1 day SoftDeleteGrace) and one broken one ("broken").
    final class FakeEngine: SyncEngine {
        let profile: Profile
        let mirror: MirrorState
        let stopping = Atomic(false)
        let triggered = Locked<[(String, Bool, Int)]>([])
        let reloads = Atomic(0)

        init() throws {
            let directory = NSTemporaryDirectory() + "service-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let file = directory + "/contoso.conf"
            try """
                [Tenant]
                TenantId=contoso.onmicrosoft.com
                ClientId=11111111-2222-3333-4444-555555555555
                ClientSecret=s
                [Sync]
                SoftDeleteGrace=1d
                """.write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o600)
            profile = try ProfileLoader.load(file: file, environment: [:]).0
            var mirror = MirrorState()
            mirror.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ann@contoso.com", displayName: "Ann")))
            mirror.apply(.upsertUser(DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", displayName: "Bob")))
            mirror.apply(.upsertGroup(DirectoryGroup(id: "g1", displayName: "Staff")))
            mirror.apply(.addMember(group: "g1", member: "u1", kind: .user))
            mirror.apply(.addMember(group: "g1", member: "u2", kind: .user))
            // Bob was soft-deleted an hour ago: within the grace, exports and queries show him as deleted.
            mirror.apply(.softDeleteUser("u2"))
            mirror.apply(.keepDeleted(DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", displayName: "Bob"),
                                      at: Date().timeIntervalSince1970 - 3600))
            mirror.apply(.recordRun(RunSummary(runId: "r1", result: .succeeded, full: true, started: 100, finished: 101, added: 3)))
            self.mirror = mirror
        }

        var profileNames: [String] { ["contoso"] }
        var isStopping: Bool { stopping.load(ordering: .relaxed) }
        func lookup(_ name: String) -> SyncManager.Lookup {
            name == "contoso" ? .loaded : name == "broken" ? .broken(reason: "broken.conf:3: TenantId: missing") : .unknown
        }
        func status(profile: String?) -> [ProfileSnapshot] {
            var snapshot = ProfileSnapshot(name: "contoso", state: .syncing)
            snapshot.running = RunningRun(runId: "r2", full: false, started: 200)
            snapshot.lastRun = mirror.history.last
            snapshot.users = 1
            return [snapshot, ProfileSnapshot(name: "broken", state: .configError, error: "bad")].filter { profile == nil || $0.name == profile }
        }
        func reload() -> ReloadOutcome {
            reloads.add(1, ordering: .relaxed)
            var outcome = ReloadOutcome()
            outcome.changed = ["contoso"]
            return outcome
        }
        func committed(profile name: String) -> SyncManager.Committed? {
            name == "contoso" ? SyncManager.Committed(mirror: mirror, profile: profile) : nil
        }
        func trigger(profile: String, full: Bool, allowDeletions: Int, waiter: (@Sendable (RunSummary) -> Void)?) -> Result<Bool, NotRunnable> {
            if isStopping { return .failure(NotRunnable(.stopping, reason: "the daemon is stopping")) }
            triggered.withLock { $0.append((profile, full, allowDeletions)) }
            waiter?(RunSummary(runId: "r3", result: .succeeded, full: full, started: 300, finished: 301, added: 1))
            return .success(true)
        }
        func scimStatus(profile: String, target: String?, plan: Bool) -> [ScimTargetSnapshot]? { [] }
        func pushScim(profile: String, target: String?, retry: Bool, allowDeletions: Int,
                      done: @escaping @Sendable ([ScimTargetSnapshot]) -> Void) -> Bool {
            done([])
            return true
        }
        func discardStateAndResync(profile: String, waiter: (@Sendable (RunSummary) -> Void)?,
                                   done: @escaping @Sendable (Result<ProfileRunner.Discarded, NotRunnable>) -> Void) {
            done(.success(ProfileRunner.Discarded(keptJournal: "/kept")))
        }
    }

    /// The one reply (or error) of a call, decoded from the wire bytes the service sent.
    final class Answer: Sendable {
        private let messages = Locked<[[UInt8]]>([])
        private let done = DispatchSemaphore(value: 0)
        var replier: VarlinkReplier {
            VarlinkReplier(oneway: false) { bytes, last in
                self.messages.withLock { $0.append(Array(bytes.dropLast())) }  // without the NUL terminator
                if last { self.done.signal() }
            }
        }
        func wait() -> [String: Any] {
            #expect(done.wait(timeout: .now() + 10) == .success)
            let last = messages.withLock { $0.last ?? Array("{}".utf8) }
            return (try? JSONSerialization.jsonObject(with: Data(last))) as? [String: Any] ?? [:]
        }
    }

    static let root = PeerCredentials(pid: 1, uid: 0, gid: 0)
    static let stranger = PeerCredentials(pid: 2, uid: 65534, gid: 65534)

    func call(_ service: ManagerService, _ method: String, _ parameters: String = "{}", peer: PeerCredentials = root) -> [String: Any] {
        let answer = Answer()
        service.handle(VarlinkCall(method: "io.entrasync.Manager." + method, parameters: Array(parameters.utf8), peer: peer), answer.replier)
        return answer.wait()
    }

    func make() throws -> (ManagerService, FakeEngine) {
        let engine = try FakeEngine()
        return (ManagerService(engine: engine, access: AccessPolicy(adminGroup: nil), logger: .init(label: "test")), engine)
    }

    @Test("Status maps the domain to the wire: the state's string, a running run as lastRun, unknown profile")
    func status() throws {
        let (service, _) = try make()
        let profiles = (call(service, "Status")["parameters"] as! [String: Any])["profiles"] as! [[String: Any]]
        #expect(profiles.map { $0["state"] as? String } == ["syncing", "config-error"])
        let lastRun = profiles[0]["lastRun"] as! [String: Any]
        #expect(lastRun["result"] as? String == "running" && lastRun["runId"] as? String == "r2")
        #expect(call(service, "Status", #"{"profile":"nope"}"#)["error"] as? String == ManagerProtocol.ErrorName.noSuchProfile)
        #expect(call(service, "Status", #"{"profile":7}"#)["error"] as? String == "org.varlink.service.InvalidParameter")
    }

    @Test("Status shows what a profile serves to Linux, and at most 50 refusals")
    func linuxStatus() {
        var snapshot = ProfileSnapshot(name: "contoso", state: .idle)
        #expect(ProfileStatus(snapshot).linux == nil)
        snapshot.linux = LinuxServed(users: 3, groups: 5, refused: (0..<60).map { "u\($0): no upn to name the user after" })
        let linux = ProfileStatus(snapshot).linux
        #expect(linux?.users == 3 && linux?.groups == 5)
        #expect(linux?.refused.count == 51 && linux?.refused.first == "u0: no upn to name the user after")
        #expect(linux?.refused.last == "… and 10 more (see the journal)")
    }

    @Test("RunNow: runs and waits, refuses a broken profile, answers ShuttingDown while stopping")
    func runNow() throws {
        let (service, engine) = try make()
        let reply = call(service, "RunNow", #"{"profile":"contoso","wait":true,"full":true,"allowDeletions":4}"#)
        let run = ((reply["parameters"] as! [String: Any])["runs"] as! [[String: Any]])[0]
        #expect((run["run"] as? [String: Any])?["runId"] as? String == "r3")
        #expect(engine.triggered.withLock { $0.map { "\($0.0) \($0.1) \($0.2)" } } == ["contoso true 4"])
        let broken = call(service, "RunNow", #"{"profile":"broken"}"#)
        #expect(broken["error"] as? String == ManagerProtocol.ErrorName.profileNotRunnable)
        #expect((broken["parameters"] as? [String: Any])?["reason"] as? String == "broken.conf:3: TenantId: missing")
        #expect(call(service, "RunNow", #"{"profile":"nope"}"#)["error"] as? String == ManagerProtocol.ErrorName.noSuchProfile)
        engine.stopping.store(true, ordering: .relaxed)
        #expect(call(service, "RunNow", #"{"profile":"contoso"}"#)["error"] as? String == ManagerProtocol.ErrorName.shuttingDown)
    }

    @Test("mutating methods need root, the daemon's user or the admin group; reading is open; unknown methods are refused")
    func access() throws {
        let (service, engine) = try make()
        for method in ["RunNow", "Reload", "ScimPush", "Resync"] {
            let refused = call(service, method, #"{"profile":"contoso"}"#, peer: Self.stranger)
            #expect(refused["error"] as? String == ManagerProtocol.ErrorName.permissionDenied, "\(method)")
        }
        #expect(engine.reloads.load(ordering: .relaxed) == 0)
        #expect(engine.triggered.withLock { $0.isEmpty })
        #expect(call(service, "Status", peer: Self.stranger)["error"] == nil)
        #expect(call(service, "Users", #"{"profile":"contoso"}"#, peer: Self.stranger)["error"] == nil)
        #expect((call(service, "Reload")["parameters"] as? [String: Any])?["changed"] as? [String] == ["contoso"])
        #expect(call(service, "Nothing")["error"] as? String == "org.varlink.service.MethodNotFound")
    }

    @Test("queries show what the exports show: a user soft-deleted within SoftDeleteGrace is listed, marked deleted")
    func queriesHonourTheGrace() throws {
        let (service, _) = try make()
        let users = (call(service, "Users", #"{"profile":"contoso"}"#)["parameters"] as! [String: Any])["users"] as! [[String: Any]]
        #expect(users.map { $0["id"] as? String } == ["u1", "u2"])
        #expect(users.map { $0["deleted"] as? Bool } == [nil, true])
        let filtered = (call(service, "Users", #"{"profile":"contoso","filter":"startswith(displayName,'B')"}"#)["parameters"] as! [String: Any])["users"] as! [[String: Any]]
        #expect(filtered.map { $0["id"] as? String } == ["u2"])
        let shown = (call(service, "Show", #"{"profile":"contoso","key":"bob@contoso.com"}"#)["parameters"] as! [String: Any])["users"] as! [[String: Any]]
        #expect(shown.first?["deleted"] as? Bool == true)
        #expect(call(service, "Users", #"{"profile":"contoso","filter":"nonsense("}"#)["error"] as? String == ManagerProtocol.ErrorName.invalidFilter)
    }

    @Test("Members, Groups and History answer whole JSON objects")
    func membersGroupsHistory() throws {
        let (service, _) = try make()
        let members = call(service, "Members", #"{"profile":"contoso","group":"staff"}"#)["parameters"] as! [String: Any]
        #expect((members["group"] as? [String: Any])?["id"] as? String == "g1")
        #expect((members["users"] as? [[String: Any]])?.map { $0["id"] as? String } == ["u1"])
        #expect(call(service, "Members", #"{"profile":"contoso","group":"none"}"#)["error"] as? String == ManagerProtocol.ErrorName.notFound)
        let groups = (call(service, "Groups", #"{"profile":"contoso"}"#)["parameters"] as! [String: Any])["groups"] as! [[String: Any]]
        #expect(groups.map { $0["displayName"] as? String } == ["Staff"])
        let runs = (call(service, "History", #"{"profile":"contoso"}"#)["parameters"] as! [String: Any])["runs"] as! [[String: Any]]
        #expect(runs.map { $0["runId"] as? String } == ["r1"])
        #expect(call(service, "History", #"{"profile":"nope"}"#)["error"] as? String == ManagerProtocol.ErrorName.noSuchProfile)
    }
}
