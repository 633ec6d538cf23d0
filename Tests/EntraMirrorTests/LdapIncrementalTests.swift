import EntraConfig
import EntraDirectory
import Testing
@testable import EntraMirror

/// The incremental plan (`LdapDesired.planned`, a partial `LdapDesired`) against the whole plan:
/// after random runs of every kind of change, both must send the same operations.
@Suite("LDAP incremental plan")
struct LdapIncrementalTests {
    static let target = LdapTarget(name: "corp", uri: "ldap://127.0.0.1", bind: .external, baseDN: "dc=example,dc=test")

    /// Reproducible randomness (Knuth's MMIX linear congruential generator).
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    /// 40 users, 10 groups, random memberships; g0 lists g1, which lists g2 (a nested scope).
    static func tenant(_ rng: inout Seeded) -> MirrorState {
        var s = MirrorState()
        for i in 0..<40 { s.apply(.upsertUser(user(i, version: 0, rng: &rng))) }
        for g in 0..<10 { s.apply(.upsertGroup(DirectoryGroup(id: "g\(g)", displayName: "Group \(g)"))) }
        for g in 0..<10 {
            for i in 0..<40 where Int.random(in: 0..<4, using: &rng) == 0 { s.apply(.addMember(group: "g\(g)", member: ObjectID("u\(i)"), kind: .user)) }
        }
        s.apply(.addMember(group: "g0", member: "g1", kind: .group))
        s.apply(.addMember(group: "g1", member: "g2", kind: .group))
        return s
    }

    static func user(_ i: Int, version: Int, rng: inout Seeded) -> DirectoryUser {
        DirectoryUser(id: "u\(i)", userPrincipalName: Int.random(in: 0..<15, using: &rng) == 0 ? nil : "user\(i)v\(version % 2)@contoso.com",
                      displayName: "User \(i) \(version)", accountEnabled: Int.random(in: 0..<5, using: &rng) != 0,
                      jobTitle: Bool.random(using: &rng) ? "Engineer" : nil)
    }

    /// One run's worth of random changes of every kind.
    static func changes(_ s: MirrorState, _ rng: inout Seeded, round: Int) -> [Mutation] {
        var out: [Mutation] = []
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let i = Int.random(in: 0..<45, using: &rng)  // u40…u44 are new
            let g = "g\(Int.random(in: 0..<12, using: &rng))"  // g10, g11 are new
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1: out.append(.upsertUser(user(i, version: round, rng: &rng)))  // update, rename, disable, restore, add
            case 2: out.append(.softDeleteUser("u\(i)"))
            case 3: out.append(.removeUser("u\(i)"))
            case 4: out.append(.upsertGroup(DirectoryGroup(id: g, displayName: "Group \(g) \(round % 2)", description: Bool.random(using: &rng) ? "d" : nil)))
            case 5: out.append(.removeGroup(g))
            case 6, 7: out.append(.addMember(group: g, member: ObjectID("u\(i)"), kind: .user))
            case 8: out.append(.removeMember(group: g, member: s.members[g]?.keys.randomElement(using: &rng) ?? ObjectID("u\(i)")))
            default: out.append(.addMember(group: g, member: ObjectID("g\(Int.random(in: 0..<12, using: &rng))"), kind: .group))
            }
        }
        return out
    }

    /// The state a successful push of `whole` leaves: every entry as desired; users that left are
    /// deleted or (`mode` disable) kept disabled.
    static func pushed(_ whole: LdapDesired, previous: LdapTargetState, mode: LdapTarget.DeprovisionMode) -> LdapTargetState {
        var state = LdapTargetState()
        state.adopted = true
        state.location = target.location
        for (id, e) in whole.users { state.users[id] = LdapEntryLink(dn: e.dn, attributes: e.attributes) }
        for (id, e) in whole.groups {
            state.groups[id] = LdapEntryLink(dn: e.dn, attributes: e.attributes)
            state.apply(.members(target: "corp", group: id, added: whole.members(of: id).sorted(), removed: []))
        }
        if mode == .disable {
            for (id, link) in previous.users where whole.users[id] == nil {
                var attributes = link.attributes
                attributes["entraaccountenabled"] = ["FALSE"]
                state.users[id] = LdapEntryLink(dn: link.dn, attributes: attributes)
            }
        }
        return state
    }

    func check(scope: Scope, mode: LdapTarget.DeprovisionMode, seed: UInt64) {
        var rng = Seeded(state: seed)
        var mirror = Self.tenant(&rng)
        var state = Self.pushed(LdapDesired(view: ScopedView(state: mirror, scope: scope), target: Self.target), previous: LdapTargetState(), mode: mode)
        for round in 1...30 {
            let changes = Self.changes(mirror, &rng, round: round)
            for change in changes { mirror.apply(change) }
            let view = ScopedView(state: mirror, scope: scope)
            let whole = LdapDesired(view: view, target: Self.target)
            let planned = LdapDesired.planned(changed: Mutation.touchedObjects(changes)!, view: view, target: Self.target, state: state)
            let partial = LdapDesired(view: view, target: Self.target, only: planned.objects, focus: planned.focus)
            let expected = LdapPlan(desired: whole, state: state, mode: mode).operations
            let incremental = LdapPlan(desired: partial, state: state, mode: mode).operations
            #expect(incremental == expected, "seed \(seed) round \(round): \(changes)")
            if incremental != expected { return }
            var next = Self.pushed(whole, previous: state, mode: mode)
            // Now and then an operation is refused: its entry stays as it was, with a failure that
            // the next plan must look at although nothing changes it.
            if round % 3 == 0, let (id, old) = state.users.first(where: { next.users[$0.key] != $0.value && next.users[$0.key] != nil }) {
                next.users[id] = old
                next.failures[id] = PushFailure(objectId: id, isGroup: false, name: old.dn, operation: "modify", status: 19, detail: "refused",
                                               attempts: 1, at: 0, nextAttempt: 60)
            }
            state = next
        }
    }

    @Test("the plan of the objects changed since the last push is the whole plan", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func everything(seed: UInt64) {
        check(scope: Scope(), mode: .delete, seed: seed)
        check(scope: Scope(), mode: .disable, seed: seed &* 31)
    }

    @Test("also with a scope of nested groups, filters and disabled users left out", arguments: [6, 7, 8, 9] as [UInt64])
    func scoped(seed: UInt64) throws {
        var nested = Scope()
        nested.includeGroups = ["g0"]
        check(scope: nested, mode: .disable, seed: seed)
        var filtered = Scope()
        filtered.excludeDisabled = true
        filtered.userFilter = try FilterExpression.parse("jobTitle eq 'Engineer'")
        filtered.groupFilter = try FilterExpression.parse("displayName ne 'Group g3 1'")
        check(scope: filtered, mode: .delete, seed: seed)
    }

    @Test("the objects a run touched; a snapshot's records touch everything")
    func touched() {
        let changes: [Mutation] = [.upsertUser(DirectoryUser(id: "u1")), .removeGroup("g1"), .addMember(group: "g2", member: "u3", kind: .user),
                                   .posixID(object: "u4", id: 70000), .recordRun(RunSummary(runId: "r", result: .succeeded, full: false, started: 0, finished: 0))]
        #expect(Mutation.touchedObjects(changes) == ["u1", "g1", "g2", "u3", "u4"])
        #expect(Mutation.touchedObjects([.addMemberRefs(group: "g1", members: [.user(0)], kinds: [.user])]) == nil)
    }

    @Test("a partial desired state plans its objects only: one it lacks is not deprovisioned")
    func partialLimitsThePlan() {
        var rng = Seeded(state: 42)
        let mirror = Self.tenant(&rng)
        let view = ScopedView(state: mirror, scope: Scope())
        let state = Self.pushed(LdapDesired(view: view, target: Self.target), previous: LdapTargetState(), mode: .delete)
        let partial = LdapDesired(view: view, target: Self.target, only: ["u1"])
        #expect(partial.partial == ["u1"])
        #expect(LdapPlan(desired: partial, state: state, mode: .delete).operations.isEmpty)
        #expect(LdapPlan(desired: partial, state: state, mode: .delete, only: nil).operations.isEmpty)
    }
}
