import EntraDirectory
import EntraGraph
@testable import EntraMirror
import Testing

@Suite("sync plan")
struct SyncPlanTests {
    func user(_ id: String, _ name: String = "x") -> DirectoryUser {
        DirectoryUser(id: id, userPrincipalName: "\(id)@contoso.com", displayName: name, accountEnabled: true)
    }

    func group(_ id: String, _ name: String = "g") -> DirectoryGroup {
        DirectoryGroup(id: id, displayName: name, securityEnabled: true)
    }

    func member(_ id: String, removed: Bool = false) -> MemberDelta {
        MemberDelta(id: ObjectID(id), kind: .user, removed: removed)
    }

    func apply(_ plan: SyncPlan, to state: MirrorState) -> MirrorState {
        var state = state
        for mutation in plan.mutations { state.apply(mutation) }
        return state
    }

    func initialState() -> MirrorState {
        let users = DeltaRound<UserDelta>(entries: [.upsert(user("u1")), .upsert(user("u2")), .upsert(user("u3"))],
                                          deltaLink: "L1", full: true, pages: 1)
        let groups = DeltaRound<GroupDelta>(entries: [.upsert(group("g1"), members: [member("u1"), member("u2")]),
                                                      .upsert(group("g1"), members: [member("u3")])],
                                            deltaLink: "G1", full: true, pages: 2)
        return apply(SyncPlan.make(state: MirrorState(), users: users, groups: groups), to: MirrorState())
    }

    @Test func initialRoundMergesMemberSlices() {
        let state = initialState()
        #expect(state.users.count == 3)
        #expect(Set(state.members["g1"]!.keys) == ["u1", "u2", "u3"])
        #expect(state.usersDeltaLink == "L1")
        #expect(state.groupsDeltaLink == "G1")
    }

    @Test func memberAdditionsAreOneMutationPerGroupAndTheChangeSetListsOnlyNewMembers() {
        let state = initialState()
        // u1 becomes a group member kind (a change, not an addition), u4 and u5 are new, u2 leaves,
        // u6 is added and removed again within the round (the later entry wins: nothing happens).
        let slice = [MemberDelta(id: "u1", kind: .group, removed: false), member("u4"), member("u2", removed: true), member("u6")]
        let groups = DeltaRound<GroupDelta>(entries: [.upsert(group("g1"), members: slice),
                                                      .upsert(group("g1"), members: [member("u5"), member("u6", removed: true)])],
                                            deltaLink: "G2", full: false, pages: 2)
        let plan = SyncPlan.make(state: state, users: nil, groups: groups)
        #expect(plan.membershipsAdded == 2)
        #expect(plan.membershipsRemoved == 1)
        let adds = plan.mutations.filter { if case .addMembers = $0 { true } else { false } }
        #expect(adds == [.addMembers(group: "g1", members: ["u1", "u4", "u5"], kinds: [.group, .user, .user])])
        #expect(!plan.mutations.contains { if case .addMember = $0 { true } else { false } })
        let after = apply(plan, to: state)
        #expect(after.members["g1"] == ["u1": .group, "u3": .user, "u4": .user, "u5": .user])
        let lines = String(decoding: ChangeSet.lines(before: state, mutations: plan.mutations, runId: "r"), as: UTF8.self)
            .split(separator: "\n").filter { $0.contains("\"membership\"") }
        #expect(lines.count == 3)
        #expect(lines.filter { $0.contains("\"op\":\"add\"") }.map { $0.contains("\"member\":\"u4\"") || $0.contains("\"member\":\"u5\"") } == [true, true])
        #expect(lines.contains { $0.contains("\"op\":\"remove\"") && $0.contains("\"member\":\"u2\"") })
    }

    @Test func unchangedEntriesAreNotCounted() {
        let state = initialState()
        let users = DeltaRound<UserDelta>(entries: [.upsert(user("u1"))], deltaLink: "L2", full: false, pages: 1)
        let plan = SyncPlan.make(state: state, users: users, groups: DeltaRound(entries: [], deltaLink: "G2", full: false, pages: 1))
        #expect(plan.isEmpty)
        #expect(plan.mutations == [Mutation.setDeltaLink(.users, "L2"), Mutation.setDeltaLink(.groups, "G2")])
    }

    @Test func lastEntryOfAnObjectWins() {
        let state = initialState()
        let users = DeltaRound<UserDelta>(entries: [.upsert(user("u1", "first")), .removed(id: "u1", reason: .deleted), .upsert(user("u1", "last"))],
                                          deltaLink: "L2", full: false, pages: 1)
        let next = apply(SyncPlan.make(state: state, users: users, groups: nil), to: state)
        #expect(next.users["u1"]?.displayName == "last")
    }

    @Test func softDeleteKeepsMembershipsHiddenAndRestoreShowsThem() {
        var state = initialState()
        let soft = DeltaRound<UserDelta>(entries: [.removed(id: "u2", reason: .changed)], deltaLink: "L2", full: false, pages: 1)
        let groups = DeltaRound<GroupDelta>(entries: [], deltaLink: "G2", full: false, pages: 1)
        var plan = SyncPlan.make(state: state, users: soft, groups: groups)
        #expect(plan.usersRemoved == 1)
        state = apply(plan, to: state)
        #expect(state.users["u2"] == nil)
        #expect(state.members["g1"]?["u2"] != nil)
        #expect(Set(state.visibleMembers(of: "g1")) == ["u1", "u3"])
        #expect(state.visibleMembershipCount == 2)

        let restore = DeltaRound<UserDelta>(entries: [.upsert(user("u2"))], deltaLink: "L3", full: false, pages: 1)
        plan = SyncPlan.make(state: state, users: restore, groups: groups)
        #expect(plan.usersAdded == 1)
        state = apply(plan, to: state)
        #expect(Set(state.visibleMembers(of: "g1")) == ["u1", "u2", "u3"])
    }

    @Test func membershipAddsAndRemovals() {
        var state = initialState()
        let groups = DeltaRound<GroupDelta>(entries: [.upsert(group("g1"), members: [member("u1", removed: true)]),
                                                      .upsert(group("g2"), members: [member("u1")])],
                                            deltaLink: "G2", full: false, pages: 1)
        let plan = SyncPlan.make(state: state, users: nil, groups: groups)
        state = apply(plan, to: state)
        #expect(state.users.isEmpty)  // users are dropped when they are no longer synced
        #expect(Set(state.members["g1"]!.keys) == ["u2", "u3"])
        #expect(state.members["g2"]?["u1"] == .user)
        #expect(plan.membershipsRemoved == 1)
        #expect(plan.membershipsAdded == 1)
        #expect(plan.groupsAdded == 1)
    }

    @Test func fullRoundReconcilesWhatItDidNotReturn() {
        let state = initialState()
        let users = DeltaRound<UserDelta>(entries: [.upsert(user("u1")), .upsert(user("u3"))], deltaLink: "L9", full: true, pages: 1)
        let groups = DeltaRound<GroupDelta>(entries: [.upsert(group("g2"), members: [member("u1")])], deltaLink: "G9", full: true, pages: 1)
        let plan = SyncPlan.make(state: state, users: users, groups: groups)
        let next = apply(plan, to: state)
        #expect(Set(next.users.keys) == ["u1", "u3"])
        #expect(Set(next.groups.keys) == ["g2"])
        #expect(next.members["g1"] == nil)
        #expect(plan.usersRemoved == 1)
        #expect(plan.groupsRemoved == 1)
        #expect(plan.membershipsRemoved == 3)
    }

    @Test func fullRoundDropsMembersNotListed() {
        let state = initialState()
        let groups = DeltaRound<GroupDelta>(entries: [.upsert(group("g1"), members: [member("u1")])], deltaLink: "G9", full: true, pages: 1)
        let next = apply(SyncPlan.make(state: state, users: nil, groups: groups), to: state)
        #expect(Set(next.members["g1"]!.keys) == ["u1"])
    }

    @Test func mutationsRoundTripThroughJournalRecords() throws {
        let mutations: [Mutation] = [
            .upsertUser(DirectoryUser(id: "a", userPrincipalName: "ü@x", displayName: nil, accountEnabled: false, assignedLicenses: ["s1", "s2"])),
            .upsertUser(DirectoryUser(id: "b")),
            .removeUser("c"), .softDeleteUser("d"),
            .upsertGroup(DirectoryGroup(id: "g", displayName: "G", mailEnabled: false, securityEnabled: true, groupTypes: ["Unified"])),
            .removeGroup("h"), .addMember(group: "g", member: "a", kind: .group), .removeMember(group: "g", member: "b"),
            .setDeltaLink(.users, "https://graph/x?$deltatoken=1"), .setDeltaLink(.groups, nil),
            .recordRun(RunSummary(runId: "r", result: .failed, full: true, started: 1.5, finished: 2.25, added: -1, error: "boom", hint: "h")),
        ]
        for mutation in mutations {
            #expect(try Mutation(record: mutation.record) == mutation)
        }
    }

    @Test func malformedRecordsAreErrorsNotCrashes() {
        var rng = SystemRandomNumberGenerator()
        for type in 1...9 {
            for _ in 0..<200 {
                let payload = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                _ = try? Mutation(record: .init(type: UInt8(type), payload: payload))
            }
        }
        #expect(throws: (any Error).self) { try Mutation(record: .init(type: 77, payload: [])) }
    }
}
