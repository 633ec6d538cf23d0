import EntraDirectory
import EntraGraph
import EntraJournal
@testable import EntraMirror
import Testing

@Suite("snapshot")
struct SnapshotTests {
    /// A mirror written as a snapshot and read back through journal records is the same mirror.
    @Test func snapshotRecordsRebuildTheMirror() throws {
        var state = MirrorState()
        state.apply(.upsertUser(DirectoryUser(id: "u1", displayName: "A", accountEnabled: true, assignedLicenses: ["s"])))
        state.apply(.upsertUser(DirectoryUser(id: "u2")))
        state.apply(.softDeleteUser("u2"))
        state.apply(.upsertGroup(DirectoryGroup(id: "g", displayName: "G", groupTypes: ["Unified"])))
        state.apply(.upsertGroup(DirectoryGroup(id: "h")))
        for i in 0..<120_000 { state.apply(.addMember(group: "g", member: ObjectID("m\(i)"), kind: i % 7 == 0 ? .group : .user)) }
        state.apply(.addMember(group: "h", member: "u1", kind: .user))
        state.apply(.setDeltaLink(.users, "https://d/users"))

        var records: [JournalRecord] = []
        state.snapshotMutations { records.append($0.record) }
        // Memberships travel as a few records per group, not one per membership.
        #expect(records.count < 20)

        var replay = MirrorReplay()
        for record in records { try replay.apply(record) }
        let replayed = replay.state
        #expect(replayed.users == state.users)
        #expect(replayed.softDeletedUsers == state.softDeletedUsers)
        #expect(replayed.groups == state.groups)
        #expect(replayed.members == state.members)
        #expect(replayed.usersDeltaLink == "https://d/users")
    }

    @Test("a run's end, journaled after its exports, updates its history entry and survives a snapshot; pushes count from its commit")
    func runEndedRecord() throws {
        let ended = Mutation.runEnded(runId: "r2", at: 9.5)
        #expect(try Mutation(record: ended.record) == ended)
        var state = MirrorState()
        state.apply(.recordRun(RunSummary(runId: "r1", result: .succeeded, full: true, started: 1, finished: 2)))
        state.apply(.recordRun(RunSummary(runId: "r2", result: .succeeded, full: false, started: 5, finished: 6)))
        state.apply(ended)
        state.apply(.runEnded(runId: "gone", at: 99))  // a run no longer in the history: nothing changes
        #expect(state.history.map(\.finished) == [2, 9.5])
        #expect(state.history.last?.durationMsec == 4500)
        // Pushes count from the commit (the run's record), not from the end of its exports.
        #expect(state.lastSuccessCommitted == 6)
        state.apply(.recordRun(RunSummary(runId: "r3", result: .failed, full: false, started: 10, finished: 11)))
        #expect(state.lastSuccessCommitted == 6)
        var replay = MirrorReplay()
        try state.snapshotMutations { try replay.apply($0.record) }
        #expect(replay.state.history.map(\.finished) == [2, 9.5, 11])
        // A snapshot keeps the end only: later than the commit, so at most one push more after a restart.
        #expect(replay.state.lastSuccessCommitted == 9.5)
    }

    @Test func addMembersRecordRoundTripsAndRejectsDamage() throws {
        let mutation = Mutation.addMembers(group: "g", members: ["a", "Zoë", ""], kinds: [.user, .group, .servicePrincipal])
        #expect(try Mutation(record: mutation.record) == mutation)
        var damaged = mutation.record
        damaged.payload[2] = 0x7F  // the member count, now far more than the payload holds
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: damaged) }
        var truncated = mutation.record
        truncated.payload.removeLast(3)
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: truncated) }
    }

    /// A snapshot starts with the mirror's counts, so replay reserves its dictionaries once.
    @Test func capacityRecordLeadsTheSnapshotAndRoundTrips() throws {
        var state = MirrorState()
        for i in 0..<3 { state.apply(.upsertUser(DirectoryUser(id: "u\(i)"))) }
        state.apply(.upsertGroup(DirectoryGroup(id: "g")))
        state.apply(.addMember(group: "g", member: "u0", kind: .user))
        var first: Mutation?
        state.snapshotMutations { if first == nil { first = $0 } }
        #expect(first == .capacity(users: 3, groups: 1, memberGroups: 1))

        let mutation = Mutation.capacity(users: 100_000, groups: 10_000, memberGroups: 9_000)
        #expect(mutation.record.type == 31)
        #expect(try Mutation(record: mutation.record) == mutation)
        // A hint changes nothing the mirror shows.
        var applied = state
        applied.apply(mutation)
        #expect(applied.users == state.users && applied.groups == state.groups && applied.members == state.members)

        var huge = ByteWriter()
        huge.varint(1 << 40); huge.varint(1); huge.varint(1)
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: JournalRecord(type: 31, payload: huge.bytes)) }
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: JournalRecord(type: 31, payload: [5])) }
    }

    /// Snapshot members that are users travel as references to the snapshot's users, resolve to
    /// the same ids (sharing the user's string), and damage is an error, not a wrong mirror.
    @Test func memberReferencesResolveToTheSnapshotsUsers() throws {
        var state = MirrorState()
        for i in 0..<5 { state.apply(.upsertUser(DirectoryUser(id: "user-\(i)-0000000000000000000000000000"))) }
        state.apply(.upsertUser(DirectoryUser(id: "gone")))
        state.apply(.softDeleteUser("gone"))
        state.apply(.upsertGroup(DirectoryGroup(id: "g")))
        state.apply(.upsertGroup(DirectoryGroup(id: "n")))
        for i in 0..<5 { state.apply(.addMember(group: "g", member: ObjectID("user-\(i)-0000000000000000000000000000"), kind: .user)) }
        state.apply(.addMember(group: "g", member: "gone", kind: .user))
        state.apply(.addMember(group: "g", member: "n", kind: .group))
        state.apply(.addMember(group: "g", member: "sp", kind: .servicePrincipal))
        state.apply(.recordRun(RunSummary(runId: "r", result: .succeeded, full: true, started: 1, finished: 2)))

        var records: [JournalRecord] = []
        state.snapshotMutations { records.append($0.record) }
        let refs = try records.filter { $0.type == 32 }.map { try Mutation(record: $0) }
        guard case .addMemberRefs(_, let members, _) = refs.first else { Issue.record("no addMemberRefs record"); return }
        #expect(members.filter { if case .user = $0 { true } else { false } }.count == 5)
        #expect(members.contains(.id("gone")) && members.contains(.id("n")) && members.contains(.id("sp")))
        for record in records where record.type == 32 { #expect(try Mutation(record: record) == Mutation(record: Mutation(record: record).record)) }

        var replay = MirrorReplay()
        for record in records { try replay.apply(record) }
        #expect(replay.state.members == state.members)
        #expect(replay.state.users == state.users)
        #expect(replay.state.softDeletedUsers == state.softDeletedUsers)
        #expect(replay.state.history.map(\.runId) == ["r"])

        // A reference beyond the snapshot's users, or an unknown tag, is damage.
        var beyond = MirrorReplay()
        try beyond.apply(Mutation.capacity(users: 1, groups: 0, memberGroups: 1).record)
        try beyond.apply(Mutation.upsertUser(DirectoryUser(id: "a")).record)
        #expect(throws: ByteReader.Malformed.self) {
            try beyond.apply(Mutation.addMemberRefs(group: "g", members: [.user(1)], kinds: [.user]).record)
        }
        try beyond.apply(Mutation.addMemberRefs(group: "g", members: [.user(0), .id("x")], kinds: [.user, .device]).record)
        #expect(beyond.state.members["g"] == ["a": .user, "x": .device])
        var w = ByteWriter()
        w.string("g"); w.varint(1); w.varint(2); w.byte(1)
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: JournalRecord(type: 32, payload: w.bytes)) }
    }

    /// Journals written before type 32 (one addMembers record per group) still replay.
    @Test func olderSnapshotRecordsStillReplay() throws {
        var replay = MirrorReplay()
        try replay.apply(Mutation.upsertUser(DirectoryUser(id: "a")).record)
        try replay.apply(Mutation.addMembers(group: "g", members: ["a", "b"], kinds: [.user, .group]).record)
        try replay.apply(Mutation.addMember(group: "h", member: "a", kind: .user).record)
        #expect(replay.state.members == ["g": ["a": .user, "b": .group], "h": ["a": .user]])
    }
}
