import EntraDirectory
import Foundation
import Testing
@testable import EntraGraph

@Suite("Graph pages and logs")
struct GraphDecodingTests {
    @Test func deltaPagesDecodeStrictly() throws {
        let page = """
            {"@odata.context":"x","@odata.nextLink":"https://n","value":[
              {"id":"u1","displayName":"A","jobTitle":null,"unknownProperty":{"x":1},"assignedLicenses":[{"skuId":"s2","disabledPlans":[]},{"skuId":"s1"}]},
              {"id":"u2","@removed":{"reason":"changed"}},
              {"id":"u3","@removed":{"reason":"deleted"}}]}
            """
        let decoded = try JSONDecoder().decode(DeltaPage<UserEntry>.self, from: Data(page.utf8))
        #expect(decoded.nextLink == "https://n")
        #expect(decoded.value.map(\.delta) == [
            .upsert(DirectoryUser(id: "u1", displayName: "A", assignedLicenses: ["s1", "s2"])),
            .removed(id: "u2", reason: .changed), .removed(id: "u3", reason: .deleted),
        ])
        let bad = #"{"value":[{"id":"u1","accountEnabled":"yes"}]}"#
        do {
            _ = try JSONDecoder().decode(DeltaPage<UserEntry>.self, from: Data(bad.utf8))
            Issue.record("expected a decoding error")
        } catch let error as DecodingError {
            #expect(error.locationDescription.contains("value[0].accountEnabled"))
        }
        let groups = ##"{"value":[{"id":"g","displayName":"G","members@delta":[{"@odata.type":"#microsoft.graph.group","id":"g2"},{"@odata.type":"#microsoft.graph.user","id":"u","@removed":{"reason":"deleted"}}]}]}"##
        let g = try JSONDecoder().decode(DeltaPage<GroupEntry>.self, from: Data(groups.utf8))
        #expect(g.value[0].delta == .upsert(DirectoryGroup(id: "g", displayName: "G"), members: [
            MemberDelta(id: "g2", kind: .group, removed: false), MemberDelta(id: "u", kind: .user, removed: true),
        ]))
    }

    @Test func tokenAndDeltaLinksAreRedactedInLogs() {
        #expect(GraphClient.redact("https://g/v1.0/users/delta?$deltatoken=SECRET&$select=id") == "https://g/v1.0/users/delta?$deltatoken=…&$select=id")
        #expect(GraphClient.formEncode("a b&c=d/+") == "a%20b%26c%3Dd%2F%2B")
    }
}
