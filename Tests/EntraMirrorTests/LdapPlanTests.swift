import EntraConfig
import EntraDirectory
import EntraJournal
import Testing
@testable import EntraMirror

@Suite("LDAP plan and state")
struct LdapPlanTests {
    static let target = LdapTarget(name: "corp", uri: "ldap://127.0.0.1", bind: .external, baseDN: "dc=example,dc=test")

    /// u1 (Ada, in g1), u2 (disabled, in g1 and g2), u3 (no UPN); g1 ⊃ {u1, u2, g2}; g2 ⊃ {u2}; g3 empty.
    func mirror() -> MirrorState {
        var s = MirrorState()
        s.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com", displayName: "Ada Lovelace", givenName: "Ada",
                                          surname: "Lovelace", mail: "ada@contoso.com", accountEnabled: true, jobTitle: "Engineer")))
        s.apply(.upsertUser(DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", accountEnabled: false)))
        s.apply(.upsertUser(DirectoryUser(id: "u3", userPrincipalName: nil)))
        s.apply(.upsertGroup(DirectoryGroup(id: "g1", displayName: "Engineering, Core", description: "core team")))
        s.apply(.upsertGroup(DirectoryGroup(id: "g2", displayName: "Ops")))
        s.apply(.upsertGroup(DirectoryGroup(id: "g3", displayName: "Empty")))
        for (g, m, k) in [("g1", "u1", MemberKind.user), ("g1", "u2", .user), ("g1", "g2", .group), ("g2", "u2", .user), ("g2", "u3", .user)] {
            s.apply(.addMember(group: g, member: ObjectID(m), kind: k))
        }
        return s
    }

    func desired(_ target: LdapTarget = target) -> LdapDesired {
        LdapDesired(view: ScopedView(state: mirror(), scope: Scope()), target: target)
    }

    /// The state a push of `desired` leaves behind.
    func acknowledged(_ d: LdapDesired) -> LdapTargetState {
        var state = LdapTargetState()
        for (id, e) in d.users { state.apply(.entry(target: "corp", id: id, isGroup: false, link: LdapEntryLink(dn: e.dn, attributes: e.attributes))) }
        for (id, e) in d.groups {
            state.apply(.entry(target: "corp", id: id, isGroup: true, link: LdapEntryLink(dn: e.dn, attributes: e.attributes)))
            state.apply(.members(target: "corp", group: id, added: d.members(of: id).sorted(), removed: []))
        }
        return state
    }

    @Test("users map to inetOrgPerson attributes, groups to groupOfNames with member ids, DNs escaped")
    func mapping() {
        let d = desired()
        #expect(d.users["u1"]?.dn == "uid=ada@contoso.com,ou=people,dc=example,dc=test")
        #expect(d.users["u1"]?.attributes == [
            "uid": ["ada@contoso.com"], "cn": ["Ada Lovelace"], "sn": ["Lovelace"], "givenname": ["Ada"], "displayname": ["Ada Lovelace"],
            "mail": ["ada@contoso.com"], "title": ["Engineer"], "entraobjectid": ["u1"], "entraaccountenabled": ["TRUE"],
        ])
        // sn and cn are required by inetOrgPerson: the UPN stands in.
        #expect(d.users["u2"]?.attributes["sn"] == ["bob@contoso.com"])
        #expect(d.users["u2"]?.attributes["entraaccountenabled"] == ["FALSE"])
        #expect(d.users["u3"] == nil)
        #expect(d.unsendable["u3"] != nil)
        #expect(d.groups["g1"]?.dn == "cn=Engineering\\, Core,ou=groups,dc=example,dc=test")
        #expect(d.members(of: "g1") == ["u1", "u2", "g2"])
        #expect(d.members(of: "g2") == ["u2"], "a member that is not provisioned is left out")
        #expect(d.members(of: "g3") == [])
    }

    @Test("from nothing: users, then groups, then members; nothing more")
    func firstLoad() {
        let plan = LdapPlan(desired: desired(), state: LdapTargetState(), mode: .disable)
        let kinds = plan.operations.map { op -> String in
            switch op {
            case .add(let id, _, _): "add \(id)"
            case .changeMembers(let g, let add, let remove): "members \(g) +\(add.map(\.description).joined(separator: ",")) -\(remove.count)"
            default: "other"
            }
        }
        #expect(kinds == ["add u1", "add u2", "add g1", "add g2", "add g3", "members g1 +g2,u1,u2 -0", "members g2 +u2 -0"])
        #expect(plan.deletions == 0)
    }

    @Test("an acknowledged, unchanged target needs no operation")
    func inSync() {
        let d = desired()
        #expect(LdapPlan(desired: d, state: acknowledged(d), mode: .disable).operations.isEmpty)
    }

    @Test("a rename is modrdn (plus a modify only when other attributes changed); a changed attribute is one modify")
    func renameAndModify() {
        let before = desired()
        var state = acknowledged(before)
        var m = mirror()
        m.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada.king@contoso.com", displayName: "Ada Lovelace", givenName: "Ada",
                                          surname: "Lovelace", mail: "ada@contoso.com", accountEnabled: true, jobTitle: "Engineer")))
        m.apply(.upsertGroup(DirectoryGroup(id: "g2", displayName: "Operations")))
        m.apply(.upsertUser(DirectoryUser(id: "u2", userPrincipalName: "bob@contoso.com", mail: "bob@contoso.com", accountEnabled: false)))
        let after = LdapDesired(view: ScopedView(state: m, scope: Scope()), target: Self.target)
        let plan = LdapPlan(desired: after, state: state, mode: .disable)
        #expect(plan.operations == [
            .rename(id: "u1", isGroup: false, dn: "uid=ada.king@contoso.com,ou=people,dc=example,dc=test"),
            .modify(id: "u2", isGroup: false, attributes: after.users["u2"]!.attributes),
            .rename(id: "g2", isGroup: true, dn: "cn=Operations,ou=groups,dc=example,dc=test"),
        ])
        // After the renames are acknowledged (RDN attribute included), the target is in sync.
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: LdapEntryLink(
            dn: after.users["u1"]!.dn, attributes: LdapEntry.renamed(state.users["u1"]!.attributes, from: state.users["u1"]!.dn, to: after.users["u1"]!.dn))))
        state.apply(.entry(target: "corp", id: "g2", isGroup: true, link: LdapEntryLink(
            dn: after.groups["g2"]!.dn, attributes: LdapEntry.renamed(state.groups["g2"]!.attributes, from: state.groups["g2"]!.dn, to: after.groups["g2"]!.dn))))
        state.apply(.entry(target: "corp", id: "u2", isGroup: false, link: after.users["u2"]!))
        #expect(LdapPlan(desired: after, state: state, mode: .disable).operations.isEmpty)
        #expect(state.groups["g2"]?.members == ["u2"], "an entry update keeps the group's members")
        #expect(LdapEntry.changes(from: before.users["u2"]!.attributes, to: after.users["u2"]!.attributes).map(\.name) == ["mail"])
        #expect(LdapEntry.changes(from: ["mail": ["a"], "title": ["t"]], to: ["mail": ["a"]]).map(\.values) == [[]], "a cleared attribute is removed")
    }

    @Test("a user who leaves: removed from groups first, then disabled once (disable) or deleted (delete); a group that leaves is deleted")
    func deprovision() {
        let d = desired()
        var state = acknowledged(d)
        var m = mirror()
        m.apply(.removeUser("u1"))
        m.apply(.removeGroup("g3"))
        let after = LdapDesired(view: ScopedView(state: m, scope: Scope()), target: Self.target)
        let disable = LdapPlan(desired: after, state: state, mode: .disable)
        #expect(disable.operations == [.changeMembers(group: "g1", add: [], remove: ["u1"]), .deleteGroup(id: "g3"), .deprovisionUser(id: "u1")])
        #expect(disable.deletions == 2)
        #expect(LdapPlan(desired: after, state: state, mode: .delete).operations == disable.operations)
        // Disabled and out of its groups: nothing more to do in disable mode, still a delete in delete mode.
        var disabled = state.users["u1"]!
        disabled.attributes["entraaccountenabled"] = ["FALSE"]
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: disabled))
        state.apply(.members(target: "corp", group: "g1", added: [], removed: ["u1"]))
        state.apply(.entry(target: "corp", id: "g3", isGroup: true, link: nil))
        #expect(LdapPlan(desired: after, state: state, mode: .disable).operations.isEmpty)
        #expect(LdapPlan(desired: after, state: state, mode: .delete).operations == [.deprovisionUser(id: "u1")])
    }

    @Test("member changes: as many members held as wanted but different ones, more held than wanted; a plan for some objects only")
    func memberChangesAndOnly() {
        let d = desired()
        var state = acknowledged(d)
        // g1 wants u1, u2, g2: hold u1, u3, g2 (same count, one different), g2 wants u2: hold u2 and u1 (one too many).
        state.apply(.members(target: "corp", group: "g1", added: ["u3"], removed: ["u2"]))
        state.apply(.members(target: "corp", group: "g2", added: ["u1"], removed: []))
        #expect(d.memberChanges(of: "g1", from: state.groups["g1"]!.members) == (["u2"], ["u3"]))
        #expect(d.memberChanges(of: "g2", from: state.groups["g2"]!.members) == ([], ["u1"]))
        #expect(d.memberChanges(of: "g3", from: []) == ([], []))
        #expect(d.memberChanges(of: "nope", from: ["u1"]) == ([], ["u1"]), "a group not wanted lists nobody")
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: nil))  // forgotten: out of g2 as well
        let all = LdapPlan(desired: d, state: state, mode: .disable).operations
        #expect(all == [.add(id: "u1", isGroup: false, LdapEntry.withoutMembers(d.users["u1"]!)),
                        .changeMembers(group: "g1", add: ["u1", "u2"], remove: ["u3"])])
        for only: Set<String> in [["u1"], ["g1"], ["g2"], ["u1", "g1", "g2", "g3"], []] {
            #expect(LdapPlan(desired: d, state: state, mode: .disable, only: only).operations == all.filter { only.contains($0.objectId) },
                    "only \(only.sorted())")
        }
    }

    @Test("Users=no / Groups=no leave that kind out")
    func scopeKeys() {
        var target = Self.target
        target.groups = false
        #expect(desired(target).groups.isEmpty)
        target.groups = true
        target.users = false
        let d = desired(target)
        #expect(d.users.isEmpty)
        #expect(d.members(of: "g1") == ["g2"])
    }

    @Test("DN values: escaping and the first RDN read back")
    func dn() {
        #expect(LdapDN.value("Smith, John") == "Smith\\, John")
        #expect(LdapDN.value(" lead#") == "\\ lead#")
        #expect(LdapDN.value("a+b=c ") == "a\\+b\\=c\\ ")
        #expect(LdapDN.value("plain name é") == "plain name é")
        #expect(LdapDN.value("#x") == "\\#x")
        #expect(LdapDN.value("trail ") == "trail\\ ")
        #expect(LdapDN.value("Zoë <ops>; \"q\\") == "Zoë \\<ops\\>\\; \\\"q\\\\")
        #expect(LdapDN.value("") == "")
        #expect(LdapDN.rdn(of: "cn=Engineering\\, Core,ou=groups,dc=x")! == ("cn", "Engineering, Core"))
        #expect(LdapDN.split("cn=A\\,B,ou=groups,dc=x") == ("cn=A\\,B", "ou=groups,dc=x"))
    }

    @Test("every LDAP journal record round-trips, and a snapshot rebuilds the same state")
    func recordsRoundTrip() throws {
        let failure = PushFailure(objectId: "g9", isGroup: true, name: "cn=Dup,ou=groups", operation: "add cn=Dup,ou=groups", status: 68,
                                  detail: "Already exists", attempts: 1, at: 5, nextAttempt: 65)
        var summary = PushSummary(result: .partial, started: 1, finished: 2)
        summary.memberAdds = 4
        let mutations: [LdapMutation] = [
            .reset(target: "corp", location: Self.target.location),
            .adopted(target: "corp"),
            .entry(target: "corp", id: "u1", isGroup: false, link: LdapEntryLink(dn: "uid=a,ou=people", attributes: ["uid": ["a"], "cn": ["Ä", "A"]])),
            .entry(target: "corp", id: "g1", isGroup: true, link: LdapEntryLink(dn: "cn=G,ou=groups", attributes: ["cn": ["G"]])),
            .members(target: "corp", group: "g1", added: ["u1", "g2"], removed: []),
            .members(target: "corp", group: "g1", added: [], removed: ["g2"]),
            .failure(target: "corp", id: "g9", failure),
            .pushed(target: "corp", summary),
            .reconciled(target: "corp", at: 1_780_000_000.25),
        ]
        var state = LdapTargetState()
        for m in mutations {
            #expect(try Mutation(record: Mutation.ldap(m).record) == .ldap(m))
            state.apply(m)
        }
        #expect(state.groups["g1"]?.members == ["u1"])
        #expect(state.lastReconcile == 1_780_000_000.25)
        var rebuilt = LdapTargetState()
        state.snapshot(target: "corp") { rebuilt.apply($0) }
        #expect(rebuilt == state)
        var mirror = MirrorState()
        for m in mutations { mirror.apply(.ldap(m)) }
        var replayed = MirrorState()
        try mirror.snapshotMutations { replayed.apply($0) }
        #expect(replayed.ldap == mirror.ldap)
        // An entry that goes leaves its groups too.
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: nil))
        #expect(state.groups["g1"]?.members == [])
    }

    @Test("a malformed LDAP record is an error, not a crash")
    func malformed() {
        for type in LdapRecordType.allCases {
            #expect(throws: ByteReader.Malformed.self) { _ = try Mutation(record: JournalRecord(type: type.rawValue, payload: [0x05, 0x41])) }
        }
    }

    @Test("UserRDN=cn names users by cn; switching from uid renames them, and the uid the modrdn dropped is put back")
    func userRDN() {
        var target = LdapTarget(name: "corp", uri: "ldapi:///", bind: .external, baseDN: "dc=example,dc=test")
        var mirror = MirrorState()
        mirror.apply(.upsertUser(DirectoryUser(id: "u1", userPrincipalName: "ada@contoso.com", displayName: "Ada Lovelace", accountEnabled: true)))
        let view = ScopedView(state: mirror, scope: Scope())
        let byUID = LdapDesired(view: view, target: target)
        #expect(byUID.users["u1"]?.dn == "uid=ada@contoso.com,ou=people,dc=example,dc=test")
        target.userRDN = .cn
        let byCN = LdapDesired(view: view, target: target)
        #expect(byCN.users["u1"]?.dn == "cn=Ada Lovelace,ou=people,dc=example,dc=test")
        var state = LdapTargetState()
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: byUID.users["u1"]!))
        let plan = LdapPlan(desired: byCN, state: state, mode: .disable).operations
        #expect(plan == [.rename(id: "u1", isGroup: false, dn: "cn=Ada Lovelace,ou=people,dc=example,dc=test"),
                         .modify(id: "u1", isGroup: false, attributes: byCN.users["u1"]!.attributes)])
        let renamed = LdapEntry.renamed(byUID.users["u1"]!.attributes, from: byUID.users["u1"]!.dn, to: byCN.users["u1"]!.dn)
        #expect(renamed["uid"] == nil && renamed["cn"] == ["Ada Lovelace"], "deleteoldrdn took the uid value")
    }

    @Test("Attribute.NAME= overrides: values come from the mapped field, an unmanaged attribute is never sent, required ones fall back")
    func attributeMapping() {
        var target = Self.target
        let plain = desired(target)
        var fields = LdapAttributeMap.defaultFields
        fields["mail"] = .userPrincipalName
        fields["title"] = nil
        fields["departmentnumber"] = .id
        fields["cn"] = .givenName
        target.userAttributes = LdapAttributeMap(fields: fields)
        let mapped = desired(target)
        let ada = mapped.users["u1"]!.attributes
        #expect(ada["mail"] == ["ada@contoso.com"] && ada["title"] == nil && ada["departmentnumber"] == ["u1"] && ada["cn"] == ["Ada"])
        // bob has no givenName: cn falls back to the UPN; sn (no surname, no displayName) too.
        #expect(mapped.users["u2"]!.attributes["cn"] == ["bob@contoso.com"] && mapped.users["u2"]!.attributes["sn"] == ["bob@contoso.com"])
        #expect(mapped.managedUserAttributes.contains("departmentnumber") && !mapped.managedUserAttributes.contains("title"))
        // From a directory pushed with the defaults: a modify of the changed values, never an add; title is not touched.
        let plan = LdapPlan(desired: mapped, state: acknowledged(plain), mode: .disable).operations
        #expect(plan.count == 2 && plan.allSatisfy { if case .modify(_, false, _) = $0 { true } else { false } }, "\(plan)")
        var state = acknowledged(plain)
        for (id, e) in mapped.users { state.apply(.entry(target: "corp", id: id, isGroup: false, link: LdapEntryLink(dn: e.dn, attributes: e.attributes))) }
        #expect(LdapPlan(desired: mapped, state: state, mode: .disable).operations.isEmpty)
        // A link that still holds an attribute no longer managed plans nothing for it.
        var stale = state
        stale.users["u1"]!.attributes["title"] = ["Engineer"]
        #expect(LdapPlan(desired: mapped, state: stale, mode: .disable).operations.isEmpty)
    }
}
