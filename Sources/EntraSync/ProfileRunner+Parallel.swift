import EntraConfig
import EntraGraph
import EntraHTTP
import Logging

/// `Parallel=`: a full sync read with parallel listings (`ParallelFullSync`), or the delta chain.
extension ProfileRunner {
    /// The rounds of a full sync read in parallel, or nil when the run should read the sequential
    /// delta chain: `Parallel=off`, or the parallel read failed (logged, and shown in `status`).
    func readInParallel(_ profile: Profile, graph: GraphClient, cancel: CancellationFlag, logger: Logger) throws -> ParallelFullSync.Rounds? {
        guard profile.parallel.limit > 0, profile.syncUsers || profile.syncGroups else { return nil }
        do {
            let rounds = try ParallelFullSync(graph: graph, maximum: profile.parallel.limit, syncUsers: profile.syncUsers,
                                              syncGroups: profile.syncGroups, cancel: cancel, logger: logger).run()
            shared.withLock { $0.parallelFallback = nil }
            return rounds
        } catch let error as GraphError where error.kind == .cancelled {
            throw error
        } catch {
            logger.warning("the parallel full sync failed (\(error)); reading the tenant as one sequential delta chain instead (Parallel=off skips the attempt)")
            shared.withLock { $0.parallelFallback = "\(error)" }
            return nil
        }
    }
}
