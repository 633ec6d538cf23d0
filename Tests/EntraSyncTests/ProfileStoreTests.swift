import EntraDirectory
@testable import EntraJournal
@testable import EntraMirror
@testable import EntraSync
import Foundation
import Logging
import Testing

/// The store, the one writer of a profile's state, on a real journal in a temporary directory:
/// what it commits is what a restart replays, through batches, first-sync snapshots and compaction.
@Suite("profile store")
struct ProfileStoreTests {
    static let logger = Logger(label: "test")

    final class Directory {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func open(_ dir: Directory, compaction: ProfileStore.CompactionPolicy = .init()) -> ProfileStore {
        ProfileStore(directory: dir.path, profile: "contoso", logger: logger, compaction: compaction)
    }

    /// A plan that adds `users` users, `groups` groups and puts every user in every group.
    static func plan(users: Range<Int>, groups: Range<Int>) -> SyncPlan {
        var plan = SyncPlan()
        for u in users {
            plan.mutations.append(.upsertUser(DirectoryUser(id: "u\(u)", userPrincipalName: "user\(u)@contoso.com", displayName: "User \(u)", accountEnabled: true)))
            plan.usersAdded += 1
        }
        for g in groups {
            plan.mutations.append(.upsertGroup(DirectoryGroup(id: "g\(g)", displayName: "Group \(g)")))
            plan.groupsAdded += 1
            for u in users {
                plan.mutations.append(.addMember(group: "g\(g)", member: ObjectID("u\(u)"), kind: .user))
                plan.membershipsAdded += 1
            }
        }
        plan.mutations.append(.setDeltaLink(.users, "https://graph/users?delta=\(users.upperBound)"))
        return plan
    }

    static func run(_ id: String) -> RunSummary {
        RunSummary(runId: id, result: .succeeded, full: false, started: 1, finished: 2)
    }

    /// Whether two mirrors hold the same directory, delta links, history and ids.
    static func same(_ a: MirrorState, _ b: MirrorState) -> Bool {
        a.users == b.users && a.softDeletedUsers == b.softDeletedUsers && a.groups == b.groups && a.members == b.members
            && a.usersDeltaLink == b.usersDeltaLink && a.groupsDeltaLink == b.groupsDeltaLink
            && a.history.map(\.runId) == b.history.map(\.runId) && a.posixIDs == b.posixIDs
    }

    @Test("a run's batch, then single writes: the mirror is what a restart replays")
    func commitThenReplay() throws {
        let dir = try Directory()
        let store = Self.open(dir)
        #expect(store.openFailure == nil)
        var before = store.mirror
        var plan = Self.plan(users: 0..<5, groups: 0..<2)
        var journaled = false
        try store.commitRun(&plan, trailing: [.recordRun(Self.run("r1"))], before: &before) { journaled = true }
        #expect(journaled)
        #expect(plan.mutations.isEmpty, "the plan is consumed as it is applied")
        try store.commit([.removeMember(group: "g0", member: ObjectID("u1")), .posixID(object: "u0", id: 1_879_113_728)])
        let state = store.mirror
        #expect(state.users.count == 5 && state.groups.count == 2)
        #expect(store.mirrorAndVisibleMemberships.1 == 9)
        #expect(state.history.map(\.runId) == ["r1"])
        store.close()

        let reopened = Self.open(dir)
        #expect(reopened.openFailure == nil)
        #expect(Self.same(reopened.mirror, state))
        #expect(reopened.mirrorAndVisibleMemberships.1 == 9)
    }

    @Test("the first sync is written as a snapshot and keeps what was journaled while it ran")
    func firstSyncSnapshot() throws {
        let dir = try Directory()
        let store = Self.open(dir)
        var before = store.mirror  // empty: the run starts from here
        // A consumer's write lands while the run reads Graph.
        try store.commit([.posixID(object: "u9", id: 1_879_113_999)])
        var plan = Self.plan(users: 0..<3, groups: 0..<1)
        try store.commitFirstSync(&plan, trailing: [.recordRun(Self.run("r1"))], before: &before) {}
        let state = store.mirror
        #expect(state.users.count == 3)
        #expect(state.posixIDs["u9"] == 1_879_113_999, "an id journaled during the run is not lost by the snapshot")
        store.close()
        #expect(Self.same(Self.open(dir).mirror, state))
    }

    @Test("compaction rewrites the journal smaller and replays to the same mirror")
    func compaction() throws {
        let dir = try Directory()
        let store = Self.open(dir, compaction: .init(factor: 2, minBytes: 1))
        var before = store.mirror
        var plan = Self.plan(users: 0..<50, groups: 0..<5)
        try store.commitRun(&plan, trailing: [.recordRun(Self.run("r0"))], before: &before) {}
        // Churn: the same users updated over and over grow the journal, not the mirror.
        for round in 1...20 {
            try store.commit((0..<50).map { .upsertUser(DirectoryUser(id: "u\($0)", userPrincipalName: "user\($0)@contoso.com", displayName: "User \($0) r\(round)", accountEnabled: true)) })
        }
        let grown = try Self.journalBytes(dir)
        store.compactIfNeeded(logger: Self.logger)
        let compacted = try Self.journalBytes(dir)
        #expect(compacted * 4 < grown, "compacted \(compacted) bytes, was \(grown)")
        let state = store.mirror
        #expect(state.users["u7"]?.displayName == "User 7 r20")
        // Writes after the compaction land in the new segment.
        try store.commit([.removeUser("u49")])
        let after = store.mirror
        store.close()
        #expect(Self.same(Self.open(dir).mirror, after))
    }

    @Test("below its threshold the journal is left alone")
    func noCompactionBelowThreshold() throws {
        let dir = try Directory()
        let store = Self.open(dir, compaction: .init(factor: 4, minBytes: 1 << 30))
        try store.commit([.upsertUser(DirectoryUser(id: "u1"))])
        let bytes = try Self.journalBytes(dir)
        store.compactIfNeeded(logger: Self.logger)
        #expect(try Self.journalBytes(dir) == bytes)
    }

    @Test("a closed store refuses writes and keeps answering reads")
    func closed() throws {
        let dir = try Directory()
        let store = Self.open(dir)
        try store.commit([.upsertUser(DirectoryUser(id: "u1"))])
        store.close()
        #expect(throws: (any Error).self) { try store.commit([.upsertUser(DirectoryUser(id: "u2"))]) }
        #expect(store.mirror.users.count == 1)
    }

    @Test("discarding keeps the old journal aside, empties the mirror and keeps the POSIX ids")
    func discard() throws {
        let dir = try Directory()
        let store = Self.open(dir)
        try store.commit([.upsertUser(DirectoryUser(id: "u1")), .posixID(object: "u1", id: 1_879_113_728)])
        let kept = try #require(try store.discard())
        #expect(FileManager.default.fileExists(atPath: kept))
        #expect(store.mirror.users.isEmpty)
        #expect(store.mirror.posixIDs["u1"] == 1_879_113_728)
        store.close()
        let reopened = Self.open(dir).mirror
        #expect(reopened.users.isEmpty && reopened.posixIDs["u1"] == 1_879_113_728)
    }

    @Test("a damaged journal leaves the store closed, saying why and how to start over")
    func damagedJournal() throws {
        let dir = try Directory()
        let store = Self.open(dir)
        try store.commit([.upsertUser(DirectoryUser(id: "u1"))])
        try store.commit([.upsertUser(DirectoryUser(id: "u2"))])
        store.close()
        // Flip a byte in the first record's payload: its CRC no longer matches, and a record
        // followed by a valid one is damage, not a torn tail.
        let segments = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/journal").filter { !$0.hasPrefix(".") }.sorted()
        let path = dir.path + "/journal/" + segments[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[JournalFormat.headerSize + 12] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let damaged = Self.open(dir)
        let failure = try #require(damaged.openFailure)
        #expect(failure.contains("entra-syncctl resync contoso --discard-state"), "\(failure)")
        #expect(throws: (any Error).self) { try damaged.commit([.upsertUser(DirectoryUser(id: "u3"))]) }
    }

    static func journalBytes(_ dir: Directory) throws -> Int {
        let journal = dir.path + "/journal"
        return try FileManager.default.contentsOfDirectory(atPath: journal).reduce(0) { total, name in
            total + ((try FileManager.default.attributesOfItem(atPath: journal + "/" + name)[.size] as? Int) ?? 0)
        }
    }
}
