import EntraConfig
import EntraDirectory
import EntraGraph
@testable import EntraMirror
import Testing

@Suite("scope")
struct ScopedViewTests {
    /// g1 ⊃ {u1, g2}; g2 ⊃ {u2, g3}; g3 ⊃ {u3, g2} (a cycle); g4 ⊃ {u4}; u2 disabled, u3 unlicensed.
    func state() -> MirrorState {
        var s = MirrorState()
        for (id, enabled, licensed) in [("u1", true, true), ("u2", false, true), ("u3", true, false), ("u4", true, true), ("u5", true, true)] {
            s.apply(.upsertUser(DirectoryUser(id: id, userPrincipalName: "\(id)@contoso.com", accountEnabled: enabled,
                                              assignedLicenses: licensed ? ["sku"] : [])))
        }
        for id in ["g1", "g2", "g3", "g4"] { s.apply(.upsertGroup(DirectoryGroup(id: id, displayName: "Group \(id)"))) }
        for (g, m, k) in [("g1", "u1", MemberKind.user), ("g1", "g2", .group), ("g2", "u2", .user), ("g2", "g3", .group),
                          ("g3", "u3", .user), ("g3", "g2", .group), ("g4", "u4", .user)] {
            s.apply(.addMember(group: g, member: ObjectID(m), kind: k))
        }
        return s
    }

    @Test func everythingByDefault() {
        let view = ScopedView(state: state(), scope: Scope())
        #expect(view.users.count == 5)
        #expect(view.counts.memberships == 7)
    }

    @Test func includeGroupsFollowsNestingAndCycles() {
        var scope = Scope()
        scope.includeGroups = ["group G1"]
        let view = ScopedView(state: state(), scope: scope)
        #expect(view.groups.map(\.id) == ["g1", "g2", "g3"])
        #expect(view.users.map(\.id) == ["u1", "u2", "u3"])
        #expect(view.transitiveMembers(of: "g1") == ["g2", "g3", "u1", "u2", "u3"])
        #expect(view.transitiveMembers(of: "g3") == ["g2", "u2", "u3"])
    }

    @Test func filtersAndExclusions() throws {
        var scope = Scope()
        scope.excludeDisabled = true
        scope.excludeUnlicensed = true
        scope.userFilter = try FilterExpression.parse("userPrincipalName ne 'u5@contoso.com'")
        scope.groupFilter = try FilterExpression.parse("displayName ne 'Group g4'")
        let view = ScopedView(state: state(), scope: scope)
        #expect(view.users.map(\.id) == ["u1", "u4"])
        #expect(view.groups.map(\.id) == ["g1", "g2", "g3"])
        #expect(view.members(of: "g2") == ["g3"])  // u2 is out of scope
        #expect(view.members(of: "g4") == ["u4"])
    }

    @Test func softDeletedMembersAreHidden() {
        var s = state()
        s.apply(.softDeleteUser("u1"))
        let view = ScopedView(state: s, scope: Scope())
        #expect(view.members(of: "g1") == ["g2"])
        #expect(view.transitiveMembers(of: "g1").contains("u1") == false)
    }
}
