import Foundation
import EntraDirectory
import Testing
@testable import EntraMirror

@Suite("LDAP packed attributes and members")
struct LdapPackedTests {
    @Test("attributes round-trip exactly, in name order, whatever order they were given in")
    func roundTrip() {
        let dictionary: [String: [String]] = [
            "sn": ["Lovelace"], "cn": ["Ada Lovelace", "Ada"], "mail": [""], "description": [String(repeating: "é", count: 300)],
            "title": [], "entraobjectid": ["0b6b2c8e-1111-4e2b-9a7e-2f1d3c4b5a69"], "o": ["a\u{0}b\u{1}c"],
        ]
        let packed = LdapAttributes(dictionary)
        #expect(packed.dictionary == dictionary)
        #expect(packed.keys == dictionary.keys.sorted())
        #expect(packed.count == dictionary.count)
        #expect(packed["cn"] == ["Ada Lovelace", "Ada"])
        #expect(packed["title"] == [])
        #expect(packed["missing"] == nil)
        // Equal content is equal bytes, whatever the order of construction.
        let literal: LdapAttributes = ["o": ["a\u{0}b\u{1}c"], "title": [], "sn": ["Lovelace"], "mail": [""], "cn": ["Ada Lovelace", "Ada"],
                                       "entraobjectid": ["0b6b2c8e-1111-4e2b-9a7e-2f1d3c4b5a69"],
                                       "description": [String(repeating: "é", count: 300)]]
        #expect(literal == packed)
        #expect(literal.hashValue == packed.hashValue)
        #expect(LdapAttributes() == LdapAttributes([:]))
        #expect(LdapAttributes().isEmpty)
    }

    @Test("setting, removing and filtering attributes keeps the packing canonical")
    func edits() {
        var a: LdapAttributes = ["cn": ["Ada"], "sn": ["L"]]
        a["mail"] = ["ada@contoso.com"]
        a["cn"] = ["Ada Lovelace"]
        a["sn"] = nil
        #expect(a == ["mail": ["ada@contoso.com"], "cn": ["Ada Lovelace"]])
        #expect(a.filter { $0.key == "cn" } == ["cn": ["Ada Lovelace"]])
        #expect(a != ["mail": ["ada@contoso.com"], "cn": ["Ada"]])
        // Values differ from names: a value is never read as a name.
        #expect(LdapAttributes(["a": ["b"]]) != LdapAttributes(["b": ["a"]]))
        #expect(LdapAttributes(["a": ["b", "c"]]) != LdapAttributes(["a": ["bc"]]))
    }

    @Test("members are kept as ObjectIDs: GUIDs and other ids alike, in and out as text")
    func members() {
        let guid = "0b6b2c8e-1111-4e2b-9a7e-2f1d3c4b5a69"
        var m: LdapMembers = ["u1", guid]
        #expect(m.contains(guid) && m.contains("u1") && !m.contains("u2"))
        #expect(m.contains(guid.uppercased()) == false)  // ids are case-sensitive text, as Graph sends them
        m.formUnion(["u2", "u1"])
        #expect(m.count == 3)
        m.subtract(["u1"])
        #expect(m.sorted() == [guid, "u2"].sorted())
        #expect(m.remove("u2") == "u2")
        #expect(m.remove("u2") == nil)
        #expect(Set(m) == [guid])
        #expect(LdapMembers([guid, "x"]).subtracting(["x"]) == [guid])
        #expect(LdapMembers(ids: [ObjectID(guid)]) == [guid])
    }

    @Test("the sorted member arrays behave as a set under random batches of adds, removals and lookups")
    func membersAgainstASet() {
        var state: UInt64 = 7
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        // 60 GUIDs and a few ids that are not: both kinds in one list.
        let pool = (0..<60).map { String(format: "%08x-0000-4000-8000-%012x", $0 * 7919, $0) } + ["x", "y", "Group-1"]
        var members = LdapMembers()
        var model = Set<String>()
        for _ in 0..<300 {
            let batch = (0..<next(12)).map { _ in pool[next(pool.count)] }
            switch next(4) {
            case 0, 1:
                members.formUnion(batch)
                model.formUnion(batch)
            case 2:
                members.subtract(batch)
                model.subtract(batch)
            default:
                for id in batch { #expect(members.remove(id) == model.remove(id)) }
            }
            #expect(members.count == model.count)
            #expect(members.sorted() == model.sorted())
            #expect(pool.allSatisfy { members.contains($0) == model.contains($0) })
            #expect(members == LdapMembers(model), "equal sets are equal, however they were built")
        }
        #expect(members.sortedIDs.map(\.description) == model.sorted())
    }

    @Test("a journaled entry keeps its attributes and members exactly")
    func journal() throws {
        let link = LdapEntryLink(dn: "cn=Ops,ou=groups,dc=example,dc=test", attributes: ["cn": ["Ops"], "description": ["a, b"]])
        let mutation = LdapMutation.entry(target: "corp", id: "g1", isGroup: true, link: link)
        let record = mutation.record
        let decoded = try LdapMutation(type: try #require(LdapRecordType(rawValue: record.type)), payload: record.payload)
        #expect(decoded == mutation)
        var state = LdapTargetState()
        state.apply(decoded)
        state.apply(.members(target: "corp", group: "g1", added: ["u1", "u2"], removed: []))
        state.apply(.entry(target: "corp", id: "u1", isGroup: false, link: nil))
        #expect(state.groups["g1"]?.members == ["u2"])
    }
}
