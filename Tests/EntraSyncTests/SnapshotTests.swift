import EntraGraph
import EntraJournal
import Testing
@testable import EntraSync

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
        for i in 0..<120_000 { state.apply(.addMember(group: "g", member: "m\(i)", kind: i % 7 == 0 ? .group : .user)) }
        state.apply(.addMember(group: "h", member: "u1", kind: .user))
        state.apply(.setDeltaLink(.users, "https://d/users"))

        var records: [JournalRecord] = []
        state.snapshotMutations { records.append($0.record) }
        // Memberships travel as a few records per group, not one per membership.
        #expect(records.count < 20)

        var replayed = MirrorState()
        for record in records { replayed.apply(try Mutation(record: record)) }
        #expect(replayed.users == state.users)
        #expect(replayed.softDeletedUsers == state.softDeletedUsers)
        #expect(replayed.groups == state.groups)
        #expect(replayed.members == state.members)
        #expect(replayed.usersDeltaLink == "https://d/users")
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
}
