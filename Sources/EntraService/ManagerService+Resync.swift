import Dispatch
import EntraControl
import EntraMirror
import EntraSync
import EntraLock

extension ManagerService {
    /// Answers `Resync`: the profile's state is discarded and a full sync started (see
    /// `ProfileRunner.discardStateAndResync`).
    func resync(_ call: VarlinkCall, _ replier: VarlinkReplier) throws {
        let request = try call.decode(ResyncRequest.self)
        guard request.discardState else { throw VarlinkError.invalidParameter("discardState") }
        if engine.isStopping { throw Self.shuttingDown }
        switch engine.lookup(request.profile) {
        case .unknown:
            throw try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: request.profile))
        case .broken(let reason):
            // A profile whose file never loaded has no state to discard: its file needs fixing.
            throw try VarlinkError(name: ManagerProtocol.ErrorName.profileNotRunnable,
                                   parameters: ProfileErrorParameters(profile: request.profile, reason: reason))
        case .loaded:
            break
        }
        let wait = request.wait ?? false
        let finished = DispatchGroup()
        let run = Locked<RunInfo?>(nil)
        var waiter: (@Sendable (RunSummary) -> Void)?
        if wait {
            finished.enter()
            waiter = { summary in
                run.withLock { $0 = RunInfo(summary) }
                finished.leave()
            }
        }
        let replies = self.replies
        engine.discardStateAndResync(profile: request.profile, waiter: waiter) { outcome in
            switch outcome {
            case .failure(let notRunnable):
                replier.fail((try? VarlinkError(name: notRunnable.kind == .stopping ? ManagerProtocol.ErrorName.shuttingDown
                                                    : ManagerProtocol.ErrorName.profileNotRunnable,
                                                parameters: ProfileErrorParameters(profile: request.profile, reason: notRunnable.reason)))
                             ?? .invalidParameter("profile"))
            case .success(let discarded):
                guard wait else { return replier.reply(ResyncReply(profile: request.profile, keptJournal: discarded.keptJournal)) }
                finished.notify(queue: replies) {
                    replier.reply(ResyncReply(profile: request.profile, keptJournal: discarded.keptJournal, run: run.withLock { $0 }))
                }
            }
        }
    }
}
