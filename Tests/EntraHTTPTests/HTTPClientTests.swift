@testable import EntraHTTP
import Foundation
import Testing
import TestSupport

@Suite("HTTP client")
struct HTTPClientTests {
    @Test func getPostHeadersAndKeepAlive() throws {
        let server = TinyServer { request in TinyServer.response(Array("echo:\(request.count)".utf8), headers: ["X-Test: yes"]) }
        defer { server.stop() }
        let client = try HTTPClient(options: .init())
        let url = "http://127.0.0.1:\(server.port)/path?q=1"
        let first = try client.perform(HTTPRequest(url: url, headers: [(name: "client-request-id", value: "abc")]))
        #expect(first.status == 200)
        #expect(first.header("X-TEST") == "yes")
        let second = try client.perform(HTTPRequest(method: "POST", url: url, body: Array("a=b&c=d".utf8)))
        #expect(second.status == 200)
        #expect(server.connections == 1)
        #expect(server.received[0].contains("client-request-id: abc"))
        #expect(server.received[0].lowercased().contains("accept-encoding:"))
        #expect(server.received[1].hasPrefix("POST /path?q=1"))
        #expect(server.received[1].hasSuffix("a=b&c=d"))
    }

    @Test func gzipBodiesAreDecoded() throws {
        let dir = NSTemporaryDirectory() + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let plain = String(repeating: "{\"value\":[]}", count: 100)
        try plain.write(toFile: dir + "/b", atomically: true, encoding: .utf8)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [dir + "/b"]
        try gzip.run()
        gzip.waitUntilExit()
        let compressed = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.gz")))
        let server = TinyServer { _ in TinyServer.response(compressed, headers: ["Content-Encoding: gzip"]) }
        defer { server.stop() }
        let response = try HTTPClient(options: .init()).perform(HTTPRequest(url: "http://127.0.0.1:\(server.port)/"))
        #expect(String(decoding: response.body, as: UTF8.self) == plain)
    }

    @Test func stalledResponseTimesOut() throws {
        let server = TinyServer { _ in nil }
        defer { server.stop() }
        let started = Date()
        #expect { try HTTPClient(options: .init()).perform(HTTPRequest(url: "http://127.0.0.1:\(server.port)/", timeout: 1)) } throws: {
            ($0 as? HTTPError)?.kind == .timeout
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func cancellationAbortsAStalledRequest() throws {
        let server = TinyServer { _ in nil }
        defer { server.stop() }
        let flag = CancellationFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { flag.cancel() }
        let started = Date()
        #expect { try HTTPClient(options: .init()).perform(HTTPRequest(url: "http://127.0.0.1:\(server.port)/", timeout: 20), cancel: flag) } throws: {
            ($0 as? HTTPError)?.kind == .cancelled
        }
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func transportErrorsAreClassified() throws {
        let server = TinyServer { _ in TinyServer.response(Array(repeating: 65, count: 5000)) }
        defer { server.stop() }
        var options = HTTPClientOptions()
        options.maxResponseBytes = 1000
        #expect { try HTTPClient(options: options).perform(HTTPRequest(url: "http://127.0.0.1:\(server.port)/")) } throws: {
            ($0 as? HTTPError)?.kind == .tooLarge
        }
        // TLS to a server that does not speak it: verification can never be skipped.
        let plain = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(plain, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(plain, 4)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(plain, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        Thread {
            let client = accept(plain, nil, nil)
            let text = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = text.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(client)
            close(plain)
        }.start()
        #expect { try HTTPClient(options: .init()).perform(HTTPRequest(url: "https://127.0.0.1:\(port)/", timeout: 5)) } throws: {
            ($0 as? HTTPError)?.kind == .tls
        }
        // Nothing listens on port 1.
        #expect { try HTTPClient(options: .init()).perform(HTTPRequest(url: "http://127.0.0.1:1/")) } throws: {
            ($0 as? HTTPError)?.kind == .connect
        }
    }

    @Test func retryAfterAndBackoff() {
        var rng = SystemRandomNumberGenerator()
        let policy = RetryPolicy(maxAttempts: 6, baseDelay: 1, maxDelay: 60)
        #expect(policy.delay(afterAttempt: 1, retryAfter: "2.128", using: &rng) == 2.128)
        #expect(policy.delay(afterAttempt: 1, retryAfter: "100000", using: &rng) == 300)
        for attempt in 1...10 {
            let d = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &rng)
            let ceiling = min(60, pow(2, Double(attempt - 1)))
            #expect(d >= ceiling / 2 && d <= ceiling)
        }
    }

    @Test func backoffIsExponentialCappedAndJittered() {
        var rng = SystemRandomNumberGenerator()
        let run = Backoff.run(interval: 300)
        #expect((1...6).map { run.ceiling(afterFailures: $0) } == [30, 60, 120, 240, 300, 300])
        #expect(Backoff.refusedObject.ceiling(afterFailures: 1) == 60)
        #expect(Backoff.refusedObject.ceiling(afterFailures: 100) == 3600)
        #expect(Backoff.request.ceiling(afterFailures: 0) == 1)
        var seen = Set<Int>()
        for failures in 1...50 {
            let d = run.delay(afterFailures: failures, using: &rng)
            let ceiling = run.ceiling(afterFailures: failures)
            #expect(d >= ceiling / 2 && d <= ceiling)
            seen.insert(Int(d / ceiling * 100))
        }
        #expect(seen.count > 5, "jittered: \(seen)")
    }
}
