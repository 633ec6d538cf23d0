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
}
