import Dispatch
import EntraControl
import EntraMirror
import EntraSync
import Foundation
import Logging
import EntraLock

/// `io.entrasync.Manager` on top of the engine: one table of methods, the access policy, and the
/// mapping from domain values to wire types. The engine knows nothing of varlink.
public final class ManagerService: Sendable {
    /// One method: whether it changes things (and so needs `AccessPolicy.mayMutate`), and its body.
    struct Method: Sendable {
        var mutating: Bool
        var handle: @Sendable (ManagerService, VarlinkCall, VarlinkReplier) throws -> Void
    }

    let engine: any SyncEngine
    let access: AccessPolicy
    let logger: Logger
    /// Where replies that waited for runs are sent from: a serial queue, as a concurrent one would
    /// start libdispatch's manager thread (see `EntraEvents.WorkPool`).
    let replies = DispatchQueue(label: "entra-sync.control.replies")

    public init(engine: any SyncEngine, access: AccessPolicy, logger: Logger) {
        self.engine = engine
        self.access = access
        self.logger = logger
    }

    /// Every method of the interface, by its qualified name.
    static let methods: [String: Method] = [
        ManagerProtocol.Method.status: Method(mutating: false) { $0.status($1, $2) },
        ManagerProtocol.Method.runNow: Method(mutating: true) { try $0.runNow($1, $2) },
        ManagerProtocol.Method.reload: Method(mutating: true) { service, _, replier in
            replier.reply(ReloadReply(service.engine.reload()))
        },
        ManagerProtocol.Method.history: Method(mutating: false) { try $0.history($1, $2) },
        ManagerProtocol.Method.users: Method(mutating: false) { try $0.list($1, $2, users: true) },
        ManagerProtocol.Method.groups: Method(mutating: false) { try $0.list($1, $2, users: false) },
        ManagerProtocol.Method.members: Method(mutating: false) { try $0.members($1, $2) },
        ManagerProtocol.Method.show: Method(mutating: false) { try $0.show($1, $2) },
        ManagerProtocol.Method.posixIds: Method(mutating: false) { try $0.posixIds($1, $2) },
        ManagerProtocol.Method.scim: Method(mutating: false) { try $0.scim($1, $2, push: false) },
        ManagerProtocol.Method.scimPush: Method(mutating: true) { try $0.scim($1, $2, push: true) },
        ManagerProtocol.Method.resync: Method(mutating: true) { try $0.resync($1, $2) },
    ]

    /// Answers one call (from the varlink server's queue; long work replies later from elsewhere).
    public func handle(_ call: VarlinkCall, _ replier: VarlinkReplier) {
        guard let method = Self.methods[call.method] else {
            replier.fail(.methodNotFound(call.method))
            return
        }
        do {
            if method.mutating && !access.mayMutate(call.peer) {
                logger.warning("refused \(call.method) from uid \(call.peer.uid) (pid \(call.peer.pid))")
                replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.permissionDenied,
                                              parameters: ["method": call.method, "adminGroup": access.adminGroup ?? ""]))
                return
            }
            try method.handle(self, call, replier)
        } catch let error as VarlinkError {
            replier.fail(error)
        } catch {
            replier.fail(.invalidParameter("parameters"))
        }
    }

    // MARK: Methods

    private func status(_ call: VarlinkCall, _ replier: VarlinkReplier) {
        do {
            let request = try call.decode(StatusRequest.self)
            let profiles = engine.status(profile: request.profile)
            if let name = request.profile, profiles.isEmpty {
                replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: name)))
                return
            }
            replier.reply(StatusReply(profiles: profiles.map(ProfileStatus.init)))
        } catch let error as VarlinkError {
            replier.fail(error)
        } catch {
            replier.fail(.invalidParameter("parameters"))
        }
    }

    private func runNow(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(RunNowRequest.self)
        if engine.isStopping { throw Self.shuttingDown }
        let names: [String]
        if let name = request.profile {
            switch engine.lookup(name) {
            case .unknown:
                throw try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: name))
            case .broken(let reason):
                throw try VarlinkError(name: ManagerProtocol.ErrorName.profileNotRunnable,
                                       parameters: ProfileErrorParameters(profile: name, reason: reason))
            case .loaded:
                names = [name]
            }
        } else if request.all == true || engine.profileNames.count == 1 {
            names = engine.profileNames
        } else {
            throw VarlinkError.invalidParameter("profile")
        }
        let wait = request.wait ?? false
        let results = Locked<[String: RunNowResult]>([:])
        let group = DispatchGroup()
        for name in names {
            var waiter: (@Sendable (RunSummary) -> Void)?
            if wait {
                group.enter()
                waiter = { summary in
                    results.withLock { r in
                        var entry = r[name] ?? RunNowResult(profile: name, started: true)
                        entry.run = RunInfo(summary)
                        r[name] = entry
                    }
                    group.leave()
                }
            }
            switch engine.trigger(profile: name, full: request.full ?? false, allowDeletions: request.allowDeletions ?? 0, waiter: waiter) {
            case .success(let started):
                results.withLock { r in r[name] = RunNowResult(profile: name, started: started, run: r[name]?.run) }
            case .failure(let notRunnable):
                if wait { group.leave() }
                if names.count == 1 {
                    if notRunnable.kind == .stopping { throw Self.shuttingDown }
                    throw try VarlinkError(name: ManagerProtocol.ErrorName.profileNotRunnable,
                                           parameters: ProfileErrorParameters(profile: name, reason: notRunnable.reason))
                }
                results.withLock { $0[name] = RunNowResult(profile: name, started: false) }
            }
        }
        let finish: @Sendable () -> Void = {
            let runs = results.withLock { r in names.compactMap { r[$0] } }
            replier.reply(RunNowReply(runs: runs))
        }
        if wait {
            group.notify(queue: replies, execute: finish)
        } else {
            finish()
        }
    }

    static let shuttingDown = VarlinkError(name: ManagerProtocol.ErrorName.shuttingDown)
}
