import EntraDirectory
@testable import EntraGraph
import Foundation
import Testing

/// The byte-level page parser must agree with the `Decodable` entries wherever it answers.
struct DeltaPageParserTests {
    private func viaDecoder(users page: String) throws -> DeltaPageParser.Page<UserDelta> {
        let decoded = try JSONDecoder().decode(DeltaPage<UserEntry>.self, from: Data(page.utf8))
        return .init(entries: decoded.value.map(\.delta), nextLink: decoded.nextLink, deltaLink: decoded.deltaLink)
    }

    private func viaDecoder(groups page: String) throws -> DeltaPageParser.Page<GroupDelta> {
        let decoded = try JSONDecoder().decode(DeltaPage<GroupEntry>.self, from: Data(page.utf8))
        return .init(entries: decoded.value.map(\.delta), nextLink: decoded.nextLink, deltaLink: decoded.deltaLink)
    }

    private func parse(users page: String) -> DeltaPageParser.Page<UserDelta>? {
        Array(page.utf8).withUnsafeBytes { DeltaPageParser.users($0) }
    }

    private func parse(groups page: String) -> DeltaPageParser.Page<GroupDelta>? {
        Array(page.utf8).withUnsafeBytes { DeltaPageParser.groups($0) }
    }

    private func expectSame(users page: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try viaDecoder(users: page)
        let parsed = try #require(parse(users: page), sourceLocation: sourceLocation)
        #expect(parsed.entries == expected.entries, sourceLocation: sourceLocation)
        #expect(parsed.nextLink == expected.nextLink, sourceLocation: sourceLocation)
        #expect(parsed.deltaLink == expected.deltaLink, sourceLocation: sourceLocation)
    }

    @Test func usersPagesMatchJSONDecoder() throws {
        try expectSame(users: """
            {"@odata.context":"x","@odata.nextLink":"https://n?$skiptoken=r1.1","value":[
              {"id":"u1","displayName":"A","jobTitle":null,"unknownProperty":{"x":[1,-2.5e3,true,null,"s"]},
               "assignedLicenses":[{"skuId":"s2","disabledPlans":[]},{"skuId":"s1"},{"skuId":null}]},
              {"id":"u2","@removed":{"reason":"changed"}},
              {"displayName":"late id","id":"u3","@removed":{"reason":"deleted"}},
              {"id":"u4","@removed":{}},
              {"id":"u5","@removed":null,"accountEnabled":false,"businessPhones":[],"assignedLicenses":null},
              {"id":"u6","givenName":"Zo\\u00eb \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\n\\t","surname":"Müller Ωmega","accountEnabled":true,
               "userPrincipalName":"a@b","mail":"m","department":"d","employeeId":"E1","mailNickname":"n","onPremisesImmutableId":"i"}
            ]}
            """)
        try expectSame(users: #" { "value" : [ ] , "@odata.deltaLink" : "https://d?$deltatoken=1~2~users~" } "#)
        try expectSame(users: #"{"value":null,"@odata.deltaLink":null,"@odata.nextLink":"n"}"#)
        try expectSame(users: #"{"@odata.deltaLink":"d"}"#)
    }

    @Test func groupPagesMatchJSONDecoder() throws {
        let page = ##"""
            {"value":[
              {"id":"g","displayName":"G","groupTypes":["Unified"],"mailEnabled":true,"securityEnabled":false,"description":null,
               "members@delta":[{"@odata.type":"#microsoft.graph.group","id":"g2"},
                                {"@odata.type":"#microsoft.graph.user","id":"u","@removed":{"reason":"deleted"}},
                                {"@odata.type":"#microsoft.graph.servicePrincipal","id":"sp"},
                                {"id":"x"},{"@odata.type":"#microsoft.graph.thing","id":"t"},{"@odata.type":null,"id":"n"}]},
              {"id":"h","groupTypes":[],"members@delta":null,"mail":"h@x","mailNickname":"h"},
              {"id":"gone","@removed":{"reason":"deleted"}}
            ],"@odata.deltaLink":"d"}
            """##
        let expected = try viaDecoder(groups: page)
        let parsed = try #require(parse(groups: page))
        #expect(parsed.entries == expected.entries)
        #expect(parsed.deltaLink == "d")
    }

    @Test func memberListsAndBatchesMatchJSONDecoder() throws {
        let page = ##"{"@odata.context":"x","value":[{"id":"11111111-2222-3333-4444-555555555555","@odata.type":"#microsoft.graph.user"},"##
            + ##"{"@odata.type":"#microsoft.graph.group","id":"21111111-2222-3333-4444-555555555555"},{"id":"31111111-2222-3333-4444-555555555555"}],"##
            + ##""@odata.nextLink":"http://h/v1.0/groups/g/members?$skiptoken=a\/b"}"##
        let decoded = try JSONDecoder().decode(MemberListPage.self, from: Data(page.utf8))
        let parsed = try #require(Array(page.utf8).withUnsafeBytes { DeltaPageParser.members($0) })
        #expect(parsed.entries == decoded.value.map { MemberDelta(id: ObjectID($0.id), kind: MemberKind(odataType: $0.type), removed: false) })
        #expect(parsed.nextLink == decoded.nextLink && parsed.nextLink == "http://h/v1.0/groups/g/members?$skiptoken=a/b")

        let batch = ##"{"responses":[{"id":"1","status":200,"headers":{"x-ms-resource-unit":"2","Retry-After":"3"},"body":"## + page + "},"
            + ##"{"id":"0","status":429,"headers":{"Retry-After":"7"},"body":{"error":{"code":"TooManyRequests","message":"m"}}},"##
            + ##"{"status":404,"id":"2","body":null}]}"##
        let items = try #require(Array(batch.utf8).withUnsafeBytes { DeltaPageParser.memberBatch($0) })
        let envelope = try JSONDecoder().decode(BatchEnvelope.self, from: Data(batch.utf8))
        #expect(items.map(\.id) == envelope.responses.map(\.id) && items.map(\.status) == [200, 429, 404])
        #expect(items.map(\.headers) == envelope.responses.map { $0.headers ?? [:] })
        #expect(items[0].body?.entries == parsed.entries && items[0].body?.nextLink == parsed.nextLink)
        #expect(items[1].body == nil && envelope.responses[1].body == nil, "an error body is no member list")
        #expect(items[2].body == nil)
        // Not an envelope: nil, and the caller's JSONDecoder says why.
        for bad in [##"{"responses":{}}"##, ##"{"value":[]}"##, ##"{"responses":[{"id":"1"}]}"##, batch + "x"] {
            #expect(Array(bad.utf8).withUnsafeBytes { DeltaPageParser.memberBatch($0) } == nil, "\(bad)")
        }
    }

    @Test func whatItDoesNotAcceptGoesToJSONDecoder() {
        for bad in [
            #"{"value":[{"id":"u1","accountEnabled":"yes"}]}"#,  // wrong type: JSONDecoder names the place
            #"{"value":[{"displayName":"no id"}]}"#,
            #"{"value":[{"id":null}]}"#,
            #"{"value":[{"id":"u1",}]}"#,
            #"{"value":[{"id":"u1"}]"#,
            #"{"value":[{"id":"u1"}]} x"#,
            #"{"value":[{"id":"u1","x":01}]}"#,
            #"{"value":[{"id":"u1","x":tru}]}"#,
            #"{"value":[{"id":"u\x"}]}"#,
            #"{"value":[{"id":"\ud800"}]}"#,
            #"{"value":[{"i\u0064":"u1"}]}"#,
            "{\"value\":[{\"id\":\"a\tb\"}]}",
            "[]",
            "",
        ] {
            #expect(parse(users: bad) == nil, "\(bad)")
        }
        #expect(Array([0x7B, 0x22, 0x76, 0x61, 0x6C, 0x75, 0x65, 0x22, 0x3A, 0x5B, 0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D, 0x5D, 0x7D] as [UInt8])
            .withUnsafeBytes { DeltaPageParser.users($0) } == nil)
    }

    /// Strings are scanned eight bytes at a time: a special byte must be seen at any offset.
    @Test func specialBytesAtEveryOffsetOfALongString() throws {
        for offset in 0..<24 {
            let before = String(repeating: "x", count: offset), after = String(repeating: "y", count: 24 - offset)
            #expect(parse(users: "{\"value\":[{\"id\":\"\(before)\t\(after)\"}]}") == nil, "raw tab at \(offset)")
            #expect(parse(users: "{\"value\":[{\"id\":\"\(before)\u{1F}\(after)\"}]}") == nil, "raw 0x1F at \(offset)")
            for inner in ["\\\"", "\\\\", "\\n", "é", "😀", "\u{7F}"] {
                let page = "{\"value\":[{\"id\":\"\(before)\(inner)\(after)\",\"displayName\":\"\(after)\(inner)\(before)\"}]}"
                try expectSame(users: page)
            }
            // Invalid UTF-8 anywhere in a long string is not accepted.
            let invalid = Array("{\"value\":[{\"id\":\"\(before)".utf8) + [0xFF] + Array("\(after)\"}]}".utf8)
            #expect(invalid.withUnsafeBytes { DeltaPageParser.users($0) } == nil, "0xFF at \(offset)")
        }
    }

    @Test func seededRandomPagesMatchJSONDecoder() throws {
        var rng = SeededGenerator(seed: 42)
        let samples = ["", "a", "Zoë", "Ωmega", "😀", "quote\"d", "back\\slash", "line\nfeed", "tab\t", "\u{01}", "/slash/"]
        func randomString() -> String { (0..<Int(rng.next() % 3 + 1)).map { _ in samples[Int(rng.next() % UInt64(samples.count))] }.joined() }
        func randomValue(_ depth: Int) -> Any {
            switch rng.next() % (depth > 2 ? 4 : 6) {
            case 0: return randomString()
            case 1: return Int(rng.next() % 1000) - 500
            case 2: return rng.next() % 2 == 0
            case 3: return NSNull()
            case 4: return (0..<Int(rng.next() % 3)).map { _ in randomValue(depth + 1) }
            default: return Dictionary(uniqueKeysWithValues: (0..<Int(rng.next() % 3)).map { i in ("k\(i)", randomValue(depth + 1)) })
            }
        }
        for _ in 0..<200 {
            var users: [[String: Any]] = []
            for n in 0..<Int(rng.next() % 5) {
                var user: [String: Any] = ["id": "u\(n)-\(randomString())"]
                for key in ["userPrincipalName", "displayName", "givenName", "surname", "mail", "jobTitle", "department"] where rng.next() % 3 != 0 {
                    user[key] = rng.next() % 4 == 0 ? NSNull() : randomString()
                }
                if rng.next() % 2 == 0 { user["accountEnabled"] = rng.next() % 3 == 0 ? NSNull() : rng.next() % 2 == 0 }
                if rng.next() % 2 == 0 { user["assignedLicenses"] = (0..<Int(rng.next() % 3)).map { _ in ["skuId": randomString(), "disabledPlans": []] } }
                if rng.next() % 3 == 0 { user["extra\(rng.next() % 3)"] = randomValue(0) }
                if rng.next() % 5 == 0 { user["@removed"] = ["reason": rng.next() % 2 == 0 ? "changed" : "deleted"] }
                users.append(user)
            }
            var page: [String: Any] = ["@odata.context": "ctx", "value": users]
            page[rng.next() % 2 == 0 ? "@odata.nextLink" : "@odata.deltaLink"] = "https://graph/\(randomString())"
            let text = String(decoding: try JSONSerialization.data(withJSONObject: page, options: [.withoutEscapingSlashes]), as: UTF8.self)
            try expectSame(users: text)
        }
    }
}

/// A 64-bit linear congruential generator (Knuth's MMIX constants), for reproducible random pages.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state ^ (state >> 29)
    }
}
