import Dispatch
import EntraControl
import Synchronization

extension SyncManager {
    /// Answers `Resync`: the profile's state is discarded and a full sync started (see
    /// `ProfileRunner.discardStateAndResync`). Returns false for other methods.
    func handleResync(_ call: VarlinkCall, _ replier: VarlinkReplier) throws -> Bool {
        guard call.method == ManagerProtocol.Method.resync else { return false }
        let request = try call.decode(ResyncRequest.self)
        guard request.discardState else {
            replier.fail(.invalidParameter("discardState"))
            return true
        }
        guard let runner = runner(named: request.profile) else {
            // A profile whose file never loaded has no state to discard: its file needs fixing.
            let broken = status(profile: request.profile).first
            replier.fail(try VarlinkError(name: broken == nil ? ManagerProtocol.ErrorName.noSuchProfile : ManagerProtocol.ErrorName.profileNotRunnable,
                                          parameters: ProfileErrorParameters(profile: request.profile, reason: broken?.error)))
            return true
        }
        let wait = request.wait ?? false
        let finished = DispatchGroup()
        let run = ResyncRun()
        var waiter: (@Sendable (RunSummary) -> Void)?
        if wait {
            finished.enter()
            waiter = { summary in
                run.info.withLock { $0 = ProfileRunner.runInfo(summary) }
                finished.leave()
            }
        }
        runner.discardStateAndResync(done: { outcome in
            switch outcome {
            case .failure(let notRunnable):
                replier.fail((try? VarlinkError(name: ManagerProtocol.ErrorName.profileNotRunnable,
                                                parameters: ProfileErrorParameters(profile: request.profile, reason: notRunnable.reason)))
                             ?? .invalidParameter("profile"))
            case .success(let discarded):
                guard wait else { return replier.reply(ResyncReply(profile: request.profile, keptJournal: discarded.keptJournal)) }
                finished.notify(queue: self.schedulerQueue) {
                    replier.reply(ResyncReply(profile: request.profile, keptJournal: discarded.keptJournal, run: run.info.withLock { $0 }))
                }
            }
        }, waiter: waiter)
        return true
    }
}

/// The full sync a waiting `Resync` reports, filled in from the run queue.
private final class ResyncRun: Sendable {
    let info = Mutex<RunInfo?>(nil)
}
