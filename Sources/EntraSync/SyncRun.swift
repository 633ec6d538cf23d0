import EntraConfig
import EntraDirectory
import EntraGraph
import EntraHTTP
import EntraJournal
import EntraMirror
import Foundation
import Logging

/// One run's reading and deciding: fetch (the delta chain, or a full sync read in parallel),
/// plan against the committed mirror, guard (`MaxDeletions=`). It writes nothing: the runner
/// commits what it returns through the store, or records why there is nothing to commit.
struct SyncRun {
    var runId: String
    /// A full sync was asked for (`run-now --full`); a profile without delta links is read in full anyway.
    var full: Bool
    var started: Double
    var profile: Profile
    var graph: GraphClient
    var cancel: CancellationFlag
    var logger: Logger
    /// Removals approved for this run (`run-now --allow-deletions N`).
    var allowedDeletions: Int
    /// Hears why a full sync fell back from the parallel read to the delta chain (nil: it did not).
    var parallelFallback: (String?) -> Void

    /// What the run decided: the plan to commit and the records that go in the same batch.
    struct Outcome {
        var plan: SyncPlan
        var summary: RunSummary
        /// After the plan, in the same batch: the OnChange change set (if any) and the run record.
        var trailing: [Mutation]
        /// Large enough that the heap it freed is given back afterwards (`largeRun`).
        var large: Bool
    }

    /// A run this large (mutations) gives the heap it freed back to the system afterwards.
    static let largeRun = 10_000

    /// Whether a run from `before` reads everything: asked for, or a kind it syncs has no delta link yet.
    static func readsEverything(requested full: Bool, profile: Profile, before: MirrorState) -> Bool {
        full || (profile.syncUsers && before.usersDeltaLink == nil) || (profile.syncGroups && before.groupsDeltaLink == nil)
    }

    /// Reads the tenant, plans against `before` and applies the deletion guard.
    /// - Throws: `DeletionsBlocked`, `GraphError` (`.cancelled` when stopped), or what reading threw.
    func execute(before: MirrorState, phases: inout PhaseClock) throws -> Outcome {
        // Stopped while it waited for a run slot.
        if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
        let parallel = Self.readsEverything(requested: full, profile: profile, before: before) ? try readInParallel() : nil
        let usersLink = full ? nil : before.usersDeltaLink, groupsLink = full ? nil : before.groupsDeltaLink
        let graph = self.graph, cancel = self.cancel
        var users = profile.syncUsers ? try parallel?.users ?? roundOrResync(.users, from: usersLink,
                                                                             round: { link, here throws(GraphError) in try graph.userRound(from: link, resyncHere: here, cancel: cancel) },
                                                                             pick: \.users) : nil
        phases.mark("users")
        // The users are planned on a second thread while the groups round downloads and decodes.
        let (usersRound, grace) = (users, profile.softDeleteGrace)
        let usersPlan = BackgroundWork(name: "plan-users") {
            SyncPlan.users(state: before, round: usersRound, softDeleteGrace: grace, now: Date().timeIntervalSince1970)
        }
        var groups: DeltaRound<GroupDelta>?
        do {
            groups = profile.syncGroups ? try parallel?.groups ?? roundOrResync(.groups, from: groupsLink,
                                                                               round: { link, here throws(GraphError) in try graph.groupRound(from: link, resyncHere: here, cancel: cancel) },
                                                                               pick: \.groups) : nil
        } catch {
            _ = usersPlan.wait()
            throw error
        }
        phases.mark("groups")
        var plan = usersPlan.wait()
        let usersFull = users?.full ?? false
        users = nil  // planned
        if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
        CrashPoint.hit("plan")
        plan.append(SyncPlan.groups(state: before, round: groups))
        phases.mark("plan")
        let wasFull = usersFull || (groups?.full ?? false)
        // Planned: the decoded rounds (every page's entries and member slices) go now, not after
        // the commit, the apply and the exports.
        groups = nil
        let large = wasFull || plan.mutations.count >= Self.largeRun
        if large { Heap.returnFreed() }
        let removals = plan.usersRemoved + plan.groupsRemoved
        let total = before.users.count + before.groups.count
        if let limit = profile.maxDeletions, removals > limit.limit(total: total), removals > allowedDeletions {
            throw DeletionsBlocked(removals: removals, limit: limit, allowed: limit.limit(total: total),
                                   profile: profile.name, added: plan.added, updated: plan.updated)
        }
        let summary = RunSummary(
            runId: runId, result: .succeeded, full: wasFull, started: started, finished: Date().timeIntervalSince1970,
            added: plan.added, updated: plan.updated, removed: plan.removed,
            users: before.users.count + plan.usersAdded - plan.usersRemoved,
            groups: before.groups.count + plan.groupsAdded - plan.groupsRemoved,
            memberships: before.members.values.reduce(0) { $0 + $1.count } + plan.membershipsAdded - plan.membershipsRemoved)
        var trailing: [Mutation] = []
        if profile.onChange != nil && !plan.isEmpty {
            trailing.append(.hookPending(runId: runId, lines: ChangeSet.lines(before: before, mutations: plan.mutations, runId: runId)))
        }
        trailing.append(.recordRun(summary))
        return Outcome(plan: plan, summary: summary, trailing: trailing, large: large)
    }

    /// A run that would remove more objects than MaxDeletions= allows.
    struct DeletionsBlocked: Error, CustomStringConvertible {
        var removals: Int
        var limit: DeletionLimit
        var allowed: Int
        var profile: String
        var added: Int
        var updated: Int
        var description: String {
            "run blocked: it would remove \(removals) users and groups, more than MaxDeletions=\(limit) allows (\(allowed)); nothing was committed"
        }
        var hint: String {
            "If these deletions are intended, approve one run: entra-syncctl run-now \(profile) --allow-deletions \(removals)"
        }
    }
}
