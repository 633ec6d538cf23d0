import EntraConfig
import EntraGraph
import EntraHTTP
import Logging

/// `Parallel=`: a full sync read with parallel listings (`ParallelFullSync`), or the delta chain.
extension SyncRun {
    /// The rounds of a full sync read in parallel, or nil when the run should read the sequential
    /// delta chain: `Parallel=off`, or the parallel read failed (logged, and shown in `status`).
    /// - Parameters:
    ///   - users, groups: which to read (a resync of one kind reads only that one).
    func readInParallel(users: Bool? = nil, groups: Bool? = nil) throws -> ParallelFullSync.Rounds? {
        let (users, groups) = (users ?? profile.syncUsers, groups ?? profile.syncGroups)
        guard profile.parallel.limit > 0, users || groups else { return nil }
        do {
            let rounds = try ParallelFullSync(graph: graph, maximum: profile.parallel.limit, syncUsers: users,
                                              syncGroups: groups, cancel: cancel, logger: logger).run()
            parallelFallback(nil)
            return rounds
        } catch let error as GraphError where error.kind == .cancelled {
            throw error
        } catch {
            logger.warning("the parallel full sync failed (\(error)); reading the tenant as one sequential delta chain instead (Parallel=off skips the attempt)")
            parallelFallback("\(error)")
            return nil
        }
    }

    /// The round from `link`; when Graph demands a full resync (410, `syncStateNotFound`) and
    /// `Parallel=` is on, the full round is read in parallel (or, should that fail, as the delta chain).
    func roundOrResync<Entry>(_ kind: DeltaKind, from link: String?, round: (String?, Bool) throws(GraphError) -> DeltaRound<Entry>,
                              pick: (ParallelFullSync.Rounds) -> DeltaRound<Entry>?) throws -> DeltaRound<Entry> {
        let parallel = profile.parallel.limit > 0
        let first: Result<DeltaRound<Entry>, GraphError>
        do {
            first = .success(try round(link, !parallel))
        } catch {
            first = .failure(error)
        }
        switch first {
        case .success(let round):
            return round
        case .failure(let error):
            guard error.kind == .resyncRequired, parallel, link != nil else { throw error }
            logger.warning("Graph asked for a full resync of \(kind.rawValue): \(error.message); reading it in parallel")
            let rounds = try readInParallel(users: kind == .users, groups: kind == .groups)
            var full = try rounds.flatMap(pick) ?? round(nil, true)
            full.resyncReason = error.message
            return full
        }
    }
}
