import EntraConfig
@testable import EntraGraph
import EntraHTTP
import Foundation
import Logging
import EntraLock
import Testing
import TestSupport

/// A token endpoint and delta pages on a `TinyServer`; `route(path, origin)` answers Graph requests
/// (nil: stall), with `origin` the `http://host:port` the client used.
final class FakeGraph: Sendable {
    let server: TinyServer
    let directory: String

    init(delay: Double = 0, route: @escaping @Sendable (_ path: String, _ origin: String) -> [UInt8]?) {
        server = TinyServer { request in
            let line = request.prefix { $0 != "\r" }.split(separator: " ")
            let path = line.count > 1 ? String(line[1]) : ""
            if line.first == "POST" { return FakeGraph.json(#"{"token_type":"Bearer","expires_in":3599,"access_token":"t"}"#) }
            let host = request.split(separator: "\r\n").first { $0.lowercased().hasPrefix("host:") }?.dropFirst(5)
                .trimmingCharacters(in: .whitespaces) ?? ""
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            return route(path, "http://\(host)")
        }
        directory = NSTemporaryDirectory() + "prefetch-" + UUID().uuidString
    }

    var origin: String { "http://127.0.0.1:\(server.port)" }

    /// The paths of the Graph requests received so far, in order.
    var paths: [String] {
        server.received.filter { $0.hasPrefix("GET ") }.map { String($0.split(separator: " ")[1]) }
    }

    func client(maxAttempts: Int = 2, graphEndpoint: String? = nil, loginEndpoint: String? = nil) throws -> GraphClient {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/fake.conf"
        try """
            [Tenant]
            TenantId=contoso.onmicrosoft.com
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecret=s
            LoginEndpoint=\(loginEndpoint ?? origin)
            GraphEndpoint=\(graphEndpoint ?? origin)
            """.write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let profile = try ProfileLoader.load(file: file, environment: [:]).0
        return try GraphClient(profile: profile, retryPolicy: RetryPolicy(maxAttempts: maxAttempts, baseDelay: 0.05),
                               logger: Logger(label: "test"))
    }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func json(_ body: String, status: String = "200 OK", headers: [String] = []) -> [UInt8] {
        let body = Array(body.utf8)
        let head = (["HTTP/1.1 \(status)", "Content-Type: application/json", "Content-Length: \(body.count)"] + headers)
            .joined(separator: "\r\n")
        return Array((head + "\r\n\r\n").utf8) + body
    }

    /// Decodes the pages these tests serve: `value` holds numbers or objects with a number `n`.
    static func decode(_ body: [UInt8]) throws -> ([Int], String?, String?) {
        let page = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
        let numbers = (page["value"] as? [Any] ?? []).compactMap { ($0 as? Int) ?? (($0 as? [String: Any])?["n"] as? Int) }
        return (numbers, page["@odata.nextLink"] as? String, page["@odata.deltaLink"] as? String)
    }
}

/// A counter shared by a server's connection threads.
final class Tally: Sendable {
    private let count = Locked(0)
    /// Adds one; returns the new count.
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}

@Suite("next-page prefetch")
struct PagePrefetchTests {
    @Test("the next link is guessed from the page's last link key; escaped text and other escapes are not guessed")
    func nextLinkGuess() {
        func guess(_ text: String) -> String? { PagePrefetch.nextLink(in: Array(text.utf8)) }
        #expect(guess(#"{"value":[],"@odata.nextLink":"https://g/v1.0/users/delta?$skiptoken=a.1"}"#)
            == "https://g/v1.0/users/delta?$skiptoken=a.1")
        #expect(guess(#"{"value":[],"@odata.nextLink":"https:\/\/g\/v1.0\/users\/delta?$skiptoken=a"}"#)
            == "https://g/v1.0/users/delta?$skiptoken=a")
        #expect(guess(#"{"@odata.nextLink":"https://g/first","value":[{"id":"u@contoso.com","mail":"a@b"}]}"#) == "https://g/first")
        // The same text inside a string is escaped, so it is no key.
        #expect(guess(#"{"value":[{"displayName":"\"@odata.nextLink\":\"https://decoy\""}],"@odata.deltaLink":"https://g/d"}"#) == nil)
        #expect(guess(#"{"value":[{"displayName":"\"@odata.nextLink\":\"https://decoy\""}]}"#) == nil)
        #expect(guess(#"{"value":[],"@odata.nextLink":"https://g/n","@odata.deltaLink":"https://g/d"}"#) == nil)
        #expect(guess(#"{"value":[],"@odata.nextLink":"https://g/n?a=1\u0026b=2"}"#) == nil)
        #expect(guess(#"{"value":[],"@odata.nextLink":"https://g/n"#) == nil)
        #expect(guess(#"{"value":[],"@odata.nextLink":null}"#) == nil)
        #expect(guess("") == nil)
        #expect(guess("@") == nil)
    }

    /// Page n's decode waits until page n+1 has been requested: without the prefetch it never is,
    /// and the test fails at the first deadline. Nothing depends on how fast the machine is.
    @Test("page n+1 is requested while page n is decoded")
    func nextPageDownloadsDuringDecode() throws {
        let last = 6
        let graph = FakeGraph(delay: 0.2) { path, origin in
            let n = Int(path.split(separator: "=").last ?? "") ?? 1
            let link = n < last ? #""@odata.nextLink":"\#(origin)/v1.0/users/delta?$skiptoken=\#(n + 1)""#
                : #""@odata.deltaLink":"\#(origin)/v1.0/users/delta?$deltatoken=x""#
            return FakeGraph.json(#"{"value":[\#(n)],\#(link)}"#)
        }
        defer { graph.stop() }
        let client = try graph.client()
        var requestedDuringDecode: [Int: Bool] = [:]
        let round = try client.round(.users, from: "\(graph.origin)/v1.0/users/delta?$skiptoken=1", cancel: CancellationFlag()) {
            (body: [UInt8]) throws -> ([Int], String?, String?) in
            let page = try FakeGraph.decode(body)
            if let n = page.0.first, n < last, !requestedDuringDecode.values.contains(false) {
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, !graph.paths.contains(where: { $0.hasSuffix("$skiptoken=\(n + 1)") }) {
                    Thread.sleep(forTimeInterval: 0.01)
                }
                requestedDuringDecode[n] = graph.paths.contains { $0.hasSuffix("$skiptoken=\(n + 1)") }
            }
            return page
        }
        #expect(round.entries == Array(1...last))
        #expect(round.pages == last)
        #expect(requestedDuringDecode == Dictionary(uniqueKeysWithValues: (1..<last).map { ($0, true) }))
        #expect(graph.paths.count == last, "\(graph.paths)")
        #expect(client.counters.requests == last)
    }

    @Test("a wrong guess is dropped with its error; a guess for another server is never requested")
    func wrongGuessIsDropped() throws {
        let elsewhere = FakeGraph { _, _ in FakeGraph.json(#"{"value":[]}"#) }
        defer { elsewhere.stop() }
        let foreign = "\(elsewhere.origin)/v1.0/users/delta?$skiptoken=stolen"
        let graph = FakeGraph { path, origin in
            let base = "\(origin)/v1.0/users/delta"
            switch path.split(separator: "=").last ?? "" {
            case "1":  // a nested key after the page's own link: the guess is the decoy
                return FakeGraph.json(#"{"@odata.nextLink":"\#(base)?$skiptoken=2","value":[{"n":1,"x":{"@odata.nextLink":"\#(base)?$skiptoken=decoy"}}]}"#)
            case "decoy":
                return FakeGraph.json(#"{"error":{"code":"Busy","message":"busy"}}"#, status: "503 Service Unavailable", headers: ["Retry-After: 0"])
            case "2":
                return FakeGraph.json(#"{"@odata.nextLink":"\#(base)?$skiptoken=3","value":[{"n":2,"x":{"@odata.nextLink":"\#(foreign)"}}]}"#)
            case "3":
                return FakeGraph.json(#"{"value":[3],"@odata.deltaLink":"\#(base)?$deltatoken=d","y":{"@odata.nextLink":"\#(base)?$skiptoken=gone"}}"#)
            default:
                return FakeGraph.json(#"{"error":{"code":"Request_ResourceNotFound","message":"no"}}"#, status: "404 Not Found")
            }
        }
        defer { graph.stop() }
        let client = try graph.client(maxAttempts: 2)
        let round = try client.round(.users, from: "\(graph.origin)/v1.0/users/delta?$skiptoken=1", cancel: CancellationFlag(), decode: FakeGraph.decode)
        #expect(round.entries == [1, 2, 3])
        #expect(round.deltaLink == "\(graph.origin)/v1.0/users/delta?$deltatoken=d")
        #expect(round.pages == 3)
        let skips = graph.paths.map { $0.split(separator: "=").last.map(String.init) ?? "" }
        #expect(skips == ["1", "decoy", "decoy", "2", "3", "gone"])
        #expect(elsewhere.server.received.isEmpty)
    }

    @Test("errors keep their page numbers and meaning: an invalid page, a failed next page, a self link, a 410 while paging")
    func errorsKeepTheirMeaning() throws {
        // Page 1 is invalid while page 2 is already being fetched: the error names page 1.
        let invalid = FakeGraph(delay: 0.1) { path, origin in
            path.hasSuffix("=1")
                ? FakeGraph.json(#"{"value":[{"n":"one"}],"@odata.nextLink":"\#(origin)/v1.0/users/delta?$skiptoken=2"}"#)
                : FakeGraph.json(#"{"value":[2],"@odata.deltaLink":"\#(origin)/d"}"#)
        }
        defer { invalid.stop() }
        #expect {
            try invalid.client().round(.users, from: "\(invalid.origin)/v1.0/users/delta?$skiptoken=1", cancel: CancellationFlag()) {
                (body: [UInt8]) throws -> ([Int], String?, String?) in
                let page = try FakeGraph.decode(body)
                if page.0.isEmpty { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "n is not a number")) }
                return page
            }
        } throws: { error in
            let error = error as! GraphError
            return error.kind == .badResponse && error.message.hasPrefix("users/delta page 1: invalid response")
        }
        #expect(invalid.paths.count == 2)

        // The prefetched page is the one needed: its error is the round's.
        let denied = FakeGraph { path, origin in
            path.hasSuffix("=1")
                ? FakeGraph.json(#"{"value":[1],"@odata.nextLink":"\#(origin)/v1.0/users/delta?$skiptoken=2"}"#)
                : FakeGraph.json(#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#,
                                 status: "403 Forbidden")
        }
        defer { denied.stop() }
        #expect {
            try denied.client().round(.users, from: "\(denied.origin)/v1.0/users/delta?$skiptoken=1", cancel: CancellationFlag(),
                                      decode: FakeGraph.decode)
        } throws: { ($0 as! GraphError).kind == .permissionDenied }

        // A page linking to itself is not fetched again.
        let loop = FakeGraph { path, origin in FakeGraph.json(#"{"value":[1],"@odata.nextLink":"\#(origin)\#(path)"}"#) }
        defer { loop.stop() }
        #expect {
            try loop.client().round(.users, from: "\(loop.origin)/v1.0/users/delta?$skiptoken=1", cancel: CancellationFlag(),
                                    decode: FakeGraph.decode)
        } throws: { ($0 as! GraphError).message == "users/delta page 1: @odata.nextLink points to the same page" }
        #expect(loop.paths.count == 1)

        // 410 Gone for the prefetched page 2: the round starts again from the beginning, once.
        let resets = Tally()
        let gone = FakeGraph { path, origin in
            if path.hasSuffix("=2"), resets.next() == 1 {
                return FakeGraph.json(#"{"error":{"code":"resyncRequired","message":"reset"}}"#, status: "410 Gone")
            }
            return path.hasSuffix("=2")
                ? FakeGraph.json(#"{"value":[2],"@odata.deltaLink":"\#(origin)/v1.0/users/delta?$deltatoken=d"}"#)
                : FakeGraph.json(#"{"value":[1],"@odata.nextLink":"\#(origin)/v1.0/users/delta?$skiptoken=2"}"#)
        }
        defer { gone.stop() }
        let round = try gone.client().round(.users, from: nil, cancel: CancellationFlag(), decode: FakeGraph.decode)
        #expect(round.entries == [1, 2])
        #expect(round.full)
        #expect(gone.paths.count == 4)
    }

    @Test("cancelling the run aborts a prefetch in flight")
    func cancellationAbortsThePrefetch() throws {
        let graph = FakeGraph { path, origin in
            path.hasSuffix("=1") ? FakeGraph.json(#"{"value":[1],"@odata.nextLink":"\#(origin)/v1.0/users/delta?$skiptoken=2"}"#) : nil
        }
        defer { graph.stop() }
        let client = try graph.client()
        let cancel = CancellationFlag()
        let started = Date()
        #expect {
            try client.round(.users, from: "\(graph.origin)/v1.0/users/delta?$skiptoken=1", cancel: cancel) {
                (body: [UInt8]) throws -> ([Int], String?, String?) in
                try waitUntil(10) { graph.paths.count == 2 }  // page 2 is stalled in flight
                cancel.cancel()
                return try FakeGraph.decode(body)
            }
        } throws: { ($0 as! GraphError).kind == .cancelled }
        #expect(Date().timeIntervalSince(started) < 8)
    }
}

/// Polls until `condition` holds; throws when `seconds` pass first.
private func waitUntil(_ seconds: Double, _ condition: () -> Bool) throws {
    struct Timeout: Error {}
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        guard Date() < deadline else { throw Timeout() }
        Thread.sleep(forTimeInterval: 0.01)
    }
}
