import EntraConfig
import EntraDirectory
import EntraEvents
import EntraGraph
import EntraHTTP
import Foundation
import Logging
import EntraLock

/// A full sync read in parallel, bounded by Graph's throttling budget rather than by its time per
/// delta page (issue #16).
///
/// 1. Both `$deltaToken=latest` links are taken first: every change from then on will be in the
///    rounds that start from them.
/// 2. Users are listed in parallel partitions (`$filter=startswith(userPrincipalName,'x')`, 999 a
///    page; a partition much larger than a few pages, by its `$count`, is split into two-character
///    ones, `subPartitions`), groups are listed, and each group's members are read, all through
///    one `RequestGate` whose limit adapts to the RU bucket (`AdaptiveConcurrency`).
/// 3. The catch-up: an ordinary incremental round from each `latest` link, in the same run, before
///    the commit. Its entries are appended to the listings' (the last entry of an object wins, as
///    in any round), and its delta link is the one committed. So the first commit is already
///    current, nothing changed during the enumeration is lost, and no partial mirror is ever
///    committed: a failure anywhere fails this whole read.
/// 4. The check: what was read, with the catch-up applied, must match `/users/$count` and
///    `/groups/$count`, give or take the number of catch-up entries (changes during the
///    enumeration may or may not be counted yet: `$count` is eventually consistent).
///
/// Any failure (a partition that keeps failing, a count that does not match) throws `Failure`,
/// and the run reads the tenant again as one sequential delta chain.
///
/// ## Why the partitions cover every user
/// `startswith` on `userPrincipalName` compares case-insensitively, so one lower-case partition per
/// letter covers both cases. The part of a UPN before `@` may hold only A–Z, a–z, 0–9 and
/// `' . - _ ! # ^ ~` (Entra's UPN rules; guests' `alias_domain#EXT#@tenant` start with their alias;
/// letters with diacritics are invalid). The partitions are those, plus every other ASCII
/// character RFC 5322 allows in a local part (`$ % & * + / = ? `` { | }`), which on-premises
/// directories may have synced. A catch-all ("everything else") is impossible with `startswith`,
/// so completeness is checked, not assumed: a user outside these partitions makes the count check
/// fail, and the run falls back to the delta chain, which reads every user whatever its name.
/// A partition split in two-character ones still covers all of its users (`subPartitions` says
/// why), and the same count check stands behind it.
struct ParallelFullSync {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    struct Rounds {
        var users: DeltaRound<UserDelta>?
        var groups: DeltaRound<GroupDelta>?
    }

    /// Groups whose members one `$batch` reads (Graph's limit).
    static let batchSize = 20

    static let partitions: [String] = "abcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~$%&*+/=?`{|}".map { String($0) }

    /// A one-character partition with more than one page is counted (`/users/$count` with its
    /// filter, 1 RU) and split when it holds more than this many of its first page (999 users on
    /// Graph). A chain of 16 pages at 500 ms is about 9 s, which the member listings of a tenant
    /// that size take anyway; a split costs 57 more requests, most of them for empty sub-partitions.
    static let splitPages = 16

    /// The two-character partitions that replace `prefix`: `prefix` followed by every character
    /// of `partitions` or by `@`.
    ///
    /// They cover every user of `prefix` as the one-character partitions cover the tenant: a UPN
    /// is `local@domain` with a non-empty local part, so a UPN that starts with `prefix` has a
    /// second character, and that is either the `@` (a one-character local part) or a character
    /// a local part may hold, which is one of `partitions` (see above; `startswith` is
    /// case-insensitive on both characters). A second character outside them is caught by the
    /// same count check as a first one: the run falls back to the delta chain.
    static func subPartitions(_ prefix: String) -> [String] {
        (partitions + ["@"]).map { prefix + $0 }
    }

    /// Threads for every profile's parallel full syncs; each run keeps at most its own limit busy.
    static let pool = WorkPool(name: "graph-list", threads: ParallelSync.maxRequests)

    let graph: GraphClient
    let maximum: Int
    let syncUsers: Bool
    let syncGroups: Bool
    let cancel: CancellationFlag
    let logger: Logger

    func run() throws -> Rounds {
        let usersLatest = syncUsers ? try graph.latestDeltaLink(.users, cancel: cancel) : nil
        let groupsLatest = syncGroups ? try graph.latestDeltaLink(.groups, cancel: cancel) : nil
        let gate = RequestGate(maximum: maximum, throttled: graph.counters.throttled)
        let jobs = JobGroup(cancel: cancel)
        let listing = Listing.Shared()
        let requestsBefore = graph.counters.requests

        /// One page through the gate.
        @Sendable func page<Entry>(_ url: String, _ read: (String) throws(GraphError) -> ListPage<Entry>?) throws -> ListPage<Entry>? {
            gate.acquire()
            let page: ListPage<Entry>?
            do {
                page = try read(url)
            } catch {
                gate.release(percentage: nil, throttled: graph.counters.throttled)
                throw error
            }
            gate.release(percentage: page?.throttlePercentage, throttled: graph.counters.throttled)
            if page != nil { listing.state.withLock { $0.pages += 1 } }
            return page
        }

        /// Reads every page from `first`, one request at a time through the gate.
        @Sendable func pages<Entry>(_ first: String, _ read: (String) throws(GraphError) -> ListPage<Entry>?, _ take: ([Entry]) -> Void) throws {
            var next: String? = first
            while let url = next, !jobs.stopped {
                guard let page = try page(url, read) else { return }
                take(page.entries)
                next = page.nextLink
            }
        }

        /// The users of one partition. A one-character partition whose first page is followed by
        /// more than `splitPages` pages of that size (its `$count`) is read as its two-character
        /// sub-partitions instead, in parallel (`subPartitions`), and its first page is dropped.
        @Sendable func readPartition(_ prefix: String) throws {
            let read = { (url: String) throws(GraphError) -> ListPage<UserDelta>? in try graph.userListPage(url, cancel: cancel) }
            guard let first = try page(graph.userListURL(prefix: prefix), read), !jobs.stopped else { return }
            if prefix.count == 1, first.nextLink != nil, !first.entries.isEmpty {
                gate.acquire()
                let counted: Int
                do {
                    counted = try graph.count(.users, prefix: prefix, cancel: cancel)
                } catch {
                    gate.release(percentage: nil, throttled: graph.counters.throttled)
                    throw error
                }
                gate.release(percentage: nil, throttled: graph.counters.throttled)
                if counted > first.entries.count * Self.splitPages {
                    listing.state.withLock { $0.split.append("\(prefix) (\(counted))") }
                    for sub in Self.subPartitions(prefix) {
                        jobs.submit { try readPartition(sub) }
                    }
                    return
                }
            }
            listing.state.withLock { $0.users.append(contentsOf: first.entries) }
            if let next = first.nextLink {
                try pages(next, read) { entries in listing.state.withLock { $0.users.append(contentsOf: entries) } }
            }
        }

        /// The members of up to 20 groups: their first pages in one `$batch` (again for the ones
        /// throttled), then each further page on its own.
        @Sendable func readMembers(_ chunk: [String]) throws {
            var pending = chunk
            var attempts = 0
            while !pending.isEmpty, !jobs.stopped {
                attempts += 1
                gate.acquire()
                let answers: [String: BatchAnswer]
                do {
                    answers = try graph.memberPages(groups: pending, cancel: cancel)
                } catch {
                    gate.release(percentage: nil, throttled: graph.counters.throttled)
                    throw error
                }
                var retry: [String] = []
                var wait = 0.0
                var percentage: Double?
                var unexpected: String?
                var firstPages: [(group: String, page: ListPage<MemberDelta>?)] = []
                for group in pending {
                    switch answers[group]?.status {
                    case 200?:
                        firstPages.append((group, answers[group]?.page))
                        if let p = answers[group]?.page?.throttlePercentage { percentage = max(percentage ?? 0, p) }
                    case 404?:
                        firstPages.append((group, nil))
                    case 429?, 503?, 504?:
                        retry.append(group)
                        wait = max(wait, answers[group]?.retryAfter ?? 1)
                    case let status:
                        unexpected = "the members of group \(group) in a $batch: \(status.map { "HTTP \($0)" } ?? "no answer")"
                    }
                }
                if !retry.isEmpty { graph.noteThrottled(retryAfter: wait) }
                gate.release(percentage: percentage, throttled: graph.counters.throttled)
                if let unexpected { throw Failure(description: unexpected) }
                listing.state.withLock { $0.pages += 1 }
                for (group, page) in firstPages {
                    guard let page else {
                        listing.state.withLock { _ = $0.gone.insert(group) }
                        continue
                    }
                    var members = page.entries
                    if let next = page.nextLink {
                        try pages(next, { url throws(GraphError) in try graph.memberPage(url, cancel: cancel) }) { members.append(contentsOf: $0) }
                    }
                    listing.state.withLock { $0.members[group] = members }
                }
                if !retry.isEmpty && attempts >= 20 {
                    throw Failure(description: "Graph kept throttling the members of \(retry.count) groups after 20 batches")
                }
                pending = retry
            }
        }

        if syncUsers {
            for prefix in Self.partitions {
                jobs.submit { try readPartition(prefix) }
            }
        }
        if syncGroups {
            jobs.submit { [graph, cancel] in
                try pages(graph.groupListURL, { url throws(GraphError) in try graph.groupListPage(url, cancel: cancel) }) { entries in
                    var ids: [String] = []
                    for case .upsert(let group, _) in entries {
                        listing.state.withLock { $0.groups.append(group) }
                        ids.append(group.id)
                    }
                    for start in stride(from: 0, to: ids.count, by: Self.batchSize) {
                        let chunk = Array(ids[start..<min(start + Self.batchSize, ids.count)])
                        jobs.submit { try readMembers(chunk) }
                    }
                }
            }
        }
        do {
            try jobs.wait()
        } catch let error as GraphError where error.kind == .cancelled {
            throw error
        } catch {
            throw Failure(description: "a listing failed: \(error)")
        }
        if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
        let split = listing.state.withLock { $0.split }
        var read = listing.state.withLock { l in
            let taken = l
            l = Listing()
            return taken
        }

        var rounds = Rounds()
        var catchUpEntries = (users: 0, groups: 0)
        if let usersLatest {
            let catchUp = try graph.userRound(from: usersLatest, cancel: cancel)
            catchUpEntries.users = catchUp.entries.count
            if catchUp.full {
                rounds.users = catchUp  // Graph reset the sync meanwhile: the round read everything anyway
            } else {
                let listed = read.users
                read.users = []
                let expected = Self.liveCount(listed.map(\.id), catchUp.entries)
                let counted = try graph.count(.users, cancel: cancel)
                guard abs(expected - counted) <= catchUp.entries.count else {
                    throw Failure(description: "the user partitions read \(expected) users but Graph counts \(counted)"
                                  + " (a userPrincipalName may start with a character outside the partitions)")
                }
                rounds.users = DeltaRound(entries: listed + catchUp.entries, deltaLink: catchUp.deltaLink, full: true, pages: catchUp.pages)
            }
        }
        if let groupsLatest {
            let catchUp = try graph.groupRound(from: groupsLatest, cancel: cancel)
            catchUpEntries.groups = catchUp.entries.count
            if catchUp.full {
                rounds.groups = catchUp
            } else {
                var listed: [GroupDelta] = []
                listed.reserveCapacity(read.groups.count)
                for group in read.groups where !read.gone.contains(group.id) {
                    listed.append(.upsert(group, members: read.members.removeValue(forKey: group.id) ?? []))
                }
                read = Listing()
                let expected = Self.liveCount(listed.map(\.id), catchUp.entries)
                let counted = try graph.count(.groups, cancel: cancel)
                guard abs(expected - counted) <= catchUp.entries.count else {
                    throw Failure(description: "the group listing read \(expected) groups but Graph counts \(counted)")
                }
                rounds.groups = DeltaRound(entries: listed + catchUp.entries, deltaLink: catchUp.deltaLink, full: true, pages: catchUp.pages)
            }
        }
        let message = "parallel full sync read \(rounds.users?.entries.count ?? 0) user and \(rounds.groups?.entries.count ?? 0) group entries"
                    + " in \(graph.counters.requests - requestsBefore) requests, up to \(gate.peak) at once;"
                    + (split.isEmpty ? "" : " user partitions split in two-character ones: \(split.sorted().joined(separator: ", "));")
                    + " the catch-up from the latest links had \(catchUpEntries.users) user and \(catchUpEntries.groups) group entries"
        logger.info("\(message)")
        return rounds
    }

    /// What the listings found.
    struct Listing {
        var users: [UserDelta] = []
        var groups: [DirectoryGroup] = []
        var members: [String: [MemberDelta]] = [:]
        /// Groups listed but gone before their members were read (404): the catch-up removes them.
        var gone: Set<String> = []
        var pages = 0
        /// Partitions read as their two-character sub-partitions, with their counts.
        var split: [String] = []

        final class Shared: Sendable {
            let state = Locked(Listing())
        }
    }

    /// Objects alive after `listed` (ids) and then `catchUp` (in order, the last entry wins).
    static func liveCount<Entry>(_ listed: [String], _ catchUp: [Entry]) -> Int {
        var live = Set(listed)
        for entry in catchUp {
            switch entry {
            case let user as UserDelta:
                if case .upsert = user { live.insert(user.id) } else { live.remove(user.id) }
            case let group as GroupDelta:
                if case .upsert = group { live.insert(group.id) } else { live.remove(group.id) }
            default:
                break
            }
        }
        return live.count
    }
}

/// Holds requests back while `AdaptiveConcurrency`'s limit is reached.
final class RequestGate: @unchecked Sendable {  // every stored var is used under `condition`'s lock only
    private let condition = NSCondition()
    private var control: AdaptiveConcurrency
    private var inFlight = 0
    private var seenThrottled: Int
    private var highest = 0

    init(maximum: Int, throttled: Int) {
        control = AdaptiveConcurrency(maximum: maximum)
        seenThrottled = throttled
    }

    /// The most requests that were in flight at once.
    var peak: Int {
        condition.lock()
        defer { condition.unlock() }
        return highest
    }

    func acquire() {
        condition.lock()
        while inFlight >= control.limit { condition.wait() }
        inFlight += 1
        highest = max(highest, inFlight)
        condition.unlock()
    }

    /// - Parameter throttled: the client's count of 429s so far (any new one halves the limit).
    func release(percentage: Double?, throttled: Int) {
        condition.lock()
        inFlight -= 1
        if throttled > seenThrottled {
            seenThrottled = throttled
            control.throttled()
        } else {
            control.answered(percentage: percentage)
        }
        condition.broadcast()
        condition.unlock()
    }
}

/// Jobs on `ParallelFullSync.pool` that one caller waits for; the first error stops the rest.
final class JobGroup: @unchecked Sendable {  // every stored var is used under `condition`'s lock only
    private let condition = NSCondition()
    private var pending = 0
    private var failure: Error?
    private let cancel: CancellationFlag

    init(cancel: CancellationFlag) { self.cancel = cancel }

    /// True once a job failed or the run was cancelled: the other jobs stop at their next page.
    var stopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return failure != nil || cancel.isCancelled
    }

    func submit(_ job: @escaping @Sendable () throws -> Void) {
        condition.lock()
        pending += 1
        condition.unlock()
        ParallelFullSync.pool.async { [self] in
            var error: Error?
            if !stopped {
                do { try job() } catch let thrown { error = thrown }
            }
            condition.lock()
            if failure == nil, let error { failure = error }
            pending -= 1
            if pending == 0 { condition.broadcast() }
            condition.unlock()
        }
    }

    /// Waits until every job submitted (also by jobs) has finished; throws the first error.
    func wait() throws {
        condition.lock()
        while pending > 0 { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure { throw failure }
    }
}
