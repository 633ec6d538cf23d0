import EntraConfig
import EntraJournal
import Testing
@testable import EntraMirror

@Suite("SCIM plan and state")
struct ScimPlanTests {
    static let target = ScimTarget(name: "vault", endpoint: "https://vault.example/scim/v2", bearerToken: Secret("t"), tokenSource: .inline)

    func desired(users: [String: ScimUserAttributes], groups: [String: (String, [String])] = [:]) -> ScimDesired {
        var d = ScimDesired()
        d.users = users
        d.groups = groups.mapValues { (displayName: $0.0, members: $0.1) }
        return d
    }

    func link(_ scimId: String, _ a: ScimUserAttributes) -> ScimUserLink { ScimUserLink(scimId: scimId, etag: nil, pushed: a) }

    @Test("an acknowledged, unchanged target needs no operation")
    func inSync() {
        let a = ScimUserAttributes(userName: "a@x", displayName: "A")
        var state = ScimTargetState()
        state.users["u1"] = link("s1", a)
        state.groups["g1"] = ScimGroupLink(scimId: "sg1", etag: nil, displayName: "G", members: ["u1"])
        let plan = ScimPlan(desired: desired(users: ["u1": a], groups: ["g1": ("G", ["u1"])]), state: state, mode: .deactivate)
        #expect(plan.operations.isEmpty)
    }

    @Test("operations are minimal and ordered: users, groups, members, group deletes, deprovisioning")
    func orderAndMinimality() {
        let old = ScimUserAttributes(userName: "b@x", displayName: "B")
        var new = old
        new.displayName = "B2"
        var state = ScimTargetState()
        state.users["u2"] = link("s2", old)
        state.users["u3"] = link("s3", ScimUserAttributes(userName: "c@x"))
        state.groups["g1"] = ScimGroupLink(scimId: "sg1", etag: nil, displayName: "G", members: ["u2", "u3"])
        state.groups["g9"] = ScimGroupLink(scimId: "sg9", etag: nil, displayName: "Old", members: [])
        let d = desired(users: ["u1": ScimUserAttributes(userName: "a@x"), "u2": new],
                        groups: ["g1": ("G renamed", ["u1", "u2"]), "g2": ("New", ["u1"])])
        let ops = ScimPlan(desired: d, state: state, mode: .deactivate).operations
        #expect(ops == [
            .createUser(id: "u1", ScimUserAttributes(userName: "a@x")),
            .updateUser(id: "u2", from: old, to: new),
            .renameGroup(id: "g1", displayName: "G renamed"),
            .createGroup(id: "g2", displayName: "New"),
            .changeMembers(group: "g1", add: ["u1"], remove: ["u3"]),
            .changeMembers(group: "g2", add: ["u1"], remove: []),
            .deleteGroup(id: "g9"),
            .deprovisionUser(id: "u3"),
        ])
        // Only the attribute that changed is patched.
        #expect(ScimPatch.operations(from: old, to: new).count == 1)
        #expect(ScimPatch.operations(from: old, to: new).first?["path"] as? String == "displayName")
    }

    @Test("a deactivated user is not deactivated again; DeprovisionMode=delete deletes it")
    func deprovisionModes() {
        var state = ScimTargetState()
        state.users["u1"] = link("s1", ScimUserAttributes(userName: "a@x", active: false))
        #expect(ScimPlan(desired: desired(users: [:]), state: state, mode: .deactivate).operations.isEmpty)
        #expect(ScimPlan(desired: desired(users: [:]), state: state, mode: .delete).operations == [.deprovisionUser(id: "u1")])
        #expect(ScimPlan(desired: desired(users: [:]), state: state, mode: .delete).deletions == 1)
    }

    @Test("removing an email or a name part is a PATCH remove")
    func patchRemove() {
        let from = ScimUserAttributes(userName: "a@x", givenName: "A", email: "a@x")
        let to = ScimUserAttributes(userName: "a@x")
        let ops = ScimPatch.operations(from: from, to: to)
        #expect(ops.count == 2)
        #expect(ops.allSatisfy { $0["op"] as? String == "remove" })
        #expect(Set(ops.compactMap { $0["path"] as? String }) == ["name.givenName", "emails"])
    }

    @Test("every SCIM journal record round-trips, and a snapshot rebuilds the same state")
    func recordsRoundTrip() throws {
        let failure = ScimFailure(objectId: "u9", isGroup: false, name: "z@x", operation: "POST /Users", status: 409,
                                  detail: "taken", attempts: 2, at: 10, nextAttempt: 70)
        var summary = ScimPushSummary(result: .partial, started: 1, finished: 2)
        summary.created = 3
        summary.error = "1 objects failed"
        let mutations: [ScimMutation] = [
            .reset(target: "vault", endpoint: "https://vault.example/scim/v2"),
            .adopted(target: "vault"),
            .sending(target: "vault", ids: ["u1", "g1", "u7"]),
            .user(target: "vault", id: "u1", link: ScimUserLink(scimId: "s1", etag: "W/\"1\"", pushed: ScimUserAttributes(
                userName: "a@x", displayName: "A", givenName: nil, familyName: "Ä", email: "a@x", active: false))),
            .group(target: "vault", id: "g1", scimId: "sg1", etag: nil, displayName: "G"),
            .members(target: "vault", group: "g1", added: ["u1"], removed: [], etag: "v2"),
            .failure(target: "vault", id: "u9", failure),
            .pushed(target: "vault", summary),
        ]
        var state = ScimTargetState()
        for m in mutations {
            let decoded = try Mutation(record: Mutation.scim(m).record)
            #expect(decoded == .scim(m))
            state.apply(m)
        }
        #expect(state.sending == ["u7"])  // u1 and g1 were acknowledged
        #expect(state.groups["g1"]?.members == ["u1"])
        var rebuilt = ScimTargetState()
        state.snapshot(target: "vault") { rebuilt.apply($0) }
        #expect(rebuilt == state)
        // A user that leaves the target leaves its groups too.
        state.apply(.user(target: "vault", id: "u1", link: nil))
        #expect(state.groups["g1"]?.members == [])
    }

    @Test("a malformed SCIM record is an error, not a crash")
    func malformed() {
        for type in ScimRecordType.allCases {
            #expect(throws: ByteReader.Malformed.self) { _ = try Mutation(record: JournalRecord(type: type.rawValue, payload: [0x05, 0x41])) }
        }
    }
}
