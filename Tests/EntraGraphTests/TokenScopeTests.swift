@testable import EntraGraph
import EntraHTTP
import Foundation
import Testing
import TestSupport

/// The Graph token goes to the Graph endpoint's origin and nowhere else; the client secret goes
/// to the token endpoint and nowhere else. A listener on a second loopback address plays the thief.
@Suite("token scope")
struct TokenScopeTests {
    /// A server on another origin (127.0.0.2) that would answer like Graph if anything reached it.
    private static func thief() -> TinyServer {
        TinyServer(host: "127.0.0.2") { _ in FakeGraph.json(#"{"value":[],"@odata.deltaLink":"http://127.0.0.2/d"}"#) }
    }

    private static func expectRefused(_ thief: TinyServer, _ body: () throws -> Void) throws -> GraphError {
        let error = try #require(throws: GraphError.self) { try body() }
        #expect(error.kind == .foreignOrigin, "\(error)")
        #expect(error.message.contains(thief.baseURL), "the error names the link's origin: \(error.message)")
        #expect(thief.connections == 0, "\(thief.received)")
        return error
    }

    @Test("a page whose @odata.nextLink or @odata.deltaLink is on another origin fails the round; nothing reaches it")
    func foreignLinks() throws {
        let thief = Self.thief()
        defer { thief.stop() }
        for link in ["@odata.nextLink", "@odata.deltaLink"] {
            let graph = FakeGraph { _, _ in
                FakeGraph.json(#"{"value":[1],"\#(link)":"\#(thief.baseURL)/v1.0/users/delta?$skiptoken=stolen"}"#)
            }
            defer { graph.stop() }
            let error = try Self.expectRefused(thief) {
                _ = try graph.client().round(.users, from: nil, cancel: CancellationFlag(), decode: FakeGraph.decode)
            }
            #expect(error.message.contains(link) && error.message.contains(graph.origin), "\(error.message)")
        }
    }

    @Test("a link downgraded from https to http, or a stored link on another origin, is refused before any request")
    func downgradeAndStoredLinks() throws {
        let graph = FakeGraph { _, _ in FakeGraph.json(#"{"value":[],"@odata.deltaLink":"x"}"#) }
        defer { graph.stop() }
        let secure = try graph.client(graphEndpoint: "https://127.0.0.1:\(graph.server.port)")
        let downgraded = try #require(throws: GraphError.self) {
            _ = try secure.get("\(graph.origin)/v1.0/users/delta?$deltatoken=1", cancel: CancellationFlag())
        }
        #expect(downgraded.kind == .foreignOrigin)
        #expect(downgraded.message.contains("https://127.0.0.1:\(graph.server.port)"), "\(downgraded.message)")
        #expect(graph.server.connections == 0, "not even the token was requested: \(graph.server.received)")

        let thief = Self.thief()
        defer { thief.stop() }
        let error = try Self.expectRefused(thief) {
            _ = try graph.client().userRound(from: "\(thief.baseURL)/v1.0/users/delta?$deltatoken=old", cancel: CancellationFlag())
        }
        #expect(error.hint?.contains("--full") == true)
        #expect(graph.server.connections == 0)
    }

    @Test("a redirect from Graph or from the token endpoint is never followed")
    func redirects() throws {
        let thief = Self.thief()
        defer { thief.stop() }
        let location = "Location: \(thief.baseURL)/v1.0/users/delta"
        let graph = FakeGraph { _, _ in FakeGraph.json("{}", status: "302 Found", headers: [location]) }
        defer { graph.stop() }
        let error = try Self.expectRefused(thief) {
            _ = try graph.client().round(.users, from: nil, cancel: CancellationFlag(), decode: FakeGraph.decode)
        }
        #expect(error.message.contains("302"))

        let login = TinyServer { _ in FakeGraph.json("{}", status: "307 Temporary Redirect", headers: [location]) }
        defer { login.stop() }
        let client = try graph.client(loginEndpoint: login.baseURL)
        let tokenError = try #require(throws: GraphError.self) { _ = try client.accessToken(cancel: CancellationFlag()) }
        #expect(tokenError.kind == .authentication)
        #expect(tokenError.message.contains("307") && tokenError.message.contains(thief.baseURL), "\(tokenError.message)")
        #expect(login.connections == 1, "no retry of a redirect")
        #expect(thief.connections == 0)
    }
}
