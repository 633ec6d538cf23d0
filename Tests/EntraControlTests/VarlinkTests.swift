import Foundation
import EntraLock
import Synchronization
import Testing
@testable import EntraControl

struct Echo: Codable, Equatable { var text: String }

@Suite("varlink", .serialized)
struct VarlinkTests {
    let dir: String
    var path: String { dir + "/s.sock" }

    init() {
        dir = Self.temporaryDirectory("vlt")
    }

    /// A new directory under /tmp, short enough for a socket path.
    static func temporaryDirectory(_ prefix: String) -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    func server(limits: VarlinkLimits = .init(), log: @escaping @Sendable (String) -> Void = { _ in },
                _ handler: @escaping @Sendable (VarlinkCall, VarlinkReplier) -> Void = VarlinkTests.echo) throws -> VarlinkServer {
        let info = VarlinkServiceInfo(vendor: "t", product: "p", version: "1", url: "u",
                                      interfaces: ["io.test": "interface io.test\nmethod Echo(text: string) -> (text: string)\n"])
        let server = try VarlinkServer(path: path, info: info, limits: limits, log: log, handler: handler)
        server.start()
        return server
    }

    static let echo: @Sendable (VarlinkCall, VarlinkReplier) -> Void = { call, replier in
        switch call.method {
        case "io.test.Echo":
            do { replier.reply(try call.decode(Echo.self)) } catch let e as VarlinkError { replier.fail(e) } catch {}
        case "io.test.Later":
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { replier.reply(Echo(text: "late")) }
        case "io.test.Stream":
            for i in 0..<3 { replier.reply(Echo(text: "\(i)"), continues: i < 2) }
        case "io.test.Big":
            replier.reply(Echo(text: String(repeating: "x", count: 8 << 20)))
        case "io.test.BigLater":
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) { replier.reply(Echo(text: String(repeating: "y", count: 8 << 20))) }
        case "io.test.Peer":
            replier.reply(["uid": Int(call.peer.uid), "pid": Int(call.peer.pid)])
        default:
            replier.fail(.methodNotFound(call.method))
        }
    }

    /// Sends raw bytes and reads raw replies (NUL-separated) until `count` arrived or the peer closed.
    func raw(_ bytes: [UInt8], replies count: Int) throws -> [String] {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = try VarlinkClient.address(path)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while buffer.filter({ $0 == 0 }).count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            buffer += chunk[0..<n]
        }
        return buffer.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func callReplyAndErrors() throws {
        let s = try server()
        defer { s.stop() }
        let client = try VarlinkClient(path: path)
        #expect(try client.call("io.test.Echo", parameters: Echo(text: "hi"), as: Echo.self) == Echo(text: "hi"))
        #expect(throws: VarlinkClientError.self) { try client.call("io.test.Nope", parameters: Echo(text: "")) }
        do {
            _ = try client.call("io.test.Echo", parameters: ["wrong": 1])
            Issue.record("expected an error")
        } catch VarlinkClientError.remote(let name, let parameters) {
            #expect(name == "org.varlink.service.InvalidParameter")
            #expect(String(decoding: parameters, as: UTF8.self).contains("text"))
        }
        #expect(try client.call("io.test.Later", parameters: Echo(text: ""), as: Echo.self).text == "late")
        var streamed: [String] = []
        try client.callMore("io.test.Stream", parameters: Echo(text: "")) { streamed.append(try JSONDecoder().decode(Echo.self, from: Data($0)).text) }
        #expect(streamed == ["0", "1", "2"])
        let peer = try JSONSerialization.jsonObject(with: Data(try client.call("io.test.Peer", parameters: Echo(text: "")))) as! [String: Int]
        #expect(peer["uid"] == Int(getuid()))
        #expect(peer["pid"] == Int(getpid()))
    }

    @Test func serviceInterface() throws {
        let s = try server()
        defer { s.stop() }
        let client = try VarlinkClient(path: path)
        let info = try JSONSerialization.jsonObject(with: Data(try client.call("org.varlink.service.GetInfo", parameters: [String: String]()))) as! [String: Any]
        #expect(info["interfaces"] as? [String] == ["org.varlink.service", "io.test"])
        let description = try JSONSerialization.jsonObject(with: Data(try client.call("org.varlink.service.GetInterfaceDescription", parameters: ["interface": "io.test"]))) as! [String: String]
        #expect(description["description"]?.contains("method Echo") == true)
        #expect(throws: VarlinkClientError.self) { try client.call("org.varlink.service.GetInterfaceDescription", parameters: ["interface": "io.none"]) }
        #expect(throws: VarlinkClientError.self) { try client.call("io.none.X", parameters: [String: String]()) }
    }

    @Test func pipelinedCallsAreAnsweredInOrder() throws {
        let s = try server()
        defer { s.stop() }
        var message: [UInt8] = []
        message += Array(#"{"method":"io.test.Later"}"#.utf8) + [0]
        message += Array(#"{"method":"io.test.Echo","parameters":{"text":"second"}}"#.utf8) + [0]
        let replies = try raw(message, replies: 2)
        #expect(replies.count == 2)
        #expect(replies.first?.contains("late") == true)
        #expect(replies.last?.contains("second") == true)
    }

    @Test func badClientsDoNotHurtOthers() throws {
        let s = try server()
        defer { s.stop() }
        // Garbage gets an error and the connection is closed.
        let garbage = try raw(Array("not json".utf8) + [0], replies: 1)
        #expect(garbage.first?.contains("InvalidParameter") == true)
        // An oversized message without a terminator.
        let big = try raw([UInt8](repeating: 65, count: (1 << 20) + 10), replies: 1)
        #expect(big.first?.contains("InvalidParameter") == true)
        // Many idle connections and a client that never reads a big reply.
        var idle: [Int32] = []
        for _ in 0..<200 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = try VarlinkClient.address(path)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            idle.append(fd)
        }
        let message = Array(#"{"method":"io.test.Big"}"#.utf8) + [0]
        _ = message.withUnsafeBytes { send(idle[0], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let client = try VarlinkClient(path: path, timeout: 5)
        #expect(try client.call("io.test.Echo", parameters: Echo(text: "still here"), as: Echo.self).text == "still here")
        for fd in idle { close(fd) }
    }

    func connectIdle() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = try VarlinkClient.address(path)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        return fd
    }

    @Test("at the connection limit the longest-idle client makes room, with a log line")
    func idleClientsAreEvicted() throws {
        var limits = VarlinkLimits()
        limits.maxConnections = 4
        let lines = Locked<[String]>([])
        let s = try server(limits: limits, log: { line in lines.withLock { $0.append(line) } })
        defer { s.stop() }
        let idle = try (0..<6).map { _ in try connectIdle() }
        defer { for fd in idle { close(fd) } }
        let client = try VarlinkClient(path: path, timeout: 5)
        #expect(try client.call("io.test.Echo", parameters: Echo(text: "in"), as: Echo.self).text == "in")
        #expect(lines.withLock { $0.contains { $0.contains("closing idle control client") } })
    }

    @Test("a client that pipelines calls and reads nothing is not read further: its calls stay bounded")
    func pipeliningIsBounded() throws {
        var limits = VarlinkLimits()
        limits.maxCallsInFlight = 2
        limits.outputHighWater = 64 << 10
        let handled = Atomic<Int>(0)
        let s = try server(limits: limits, { call, replier in
            guard call.method == "io.test.Fill" else { return VarlinkTests.echo(call, replier) }
            handled.add(1, ordering: .relaxed)
            replier.reply(Echo(text: String(repeating: "y", count: 16 << 10)))
        })
        defer { s.stop() }
        let fd = try connectIdle()
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let message = Array(#"{"method":"io.test.Fill"}"#.utf8) + [0]
        for _ in 0..<2000 {
            guard message.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == message.count else { break }
        }
        Thread.sleep(forTimeInterval: 0.3)  // unbounded handling would reach 2000 well within this
        // 64 KiB of unsent replies of 16 KiB each, plus the calls in flight, plus what the socket buffer took.
        #expect(handled.load(ordering: .relaxed) < 100, "\(handled.load(ordering: .relaxed)) calls handled for a client that reads nothing")
        let client = try VarlinkClient(path: path, timeout: 5)
        #expect(try client.call("io.test.Echo", parameters: Echo(text: "others"), as: Echo.self).text == "others")
    }

    @Test("unfinished messages of many clients stay within the overall input budget; the budget frees again")
    func overallInputBudget() throws {
        var limits = VarlinkLimits()
        limits.maxTotalInputBytes = 256 << 10
        let log = LogLines()
        let s = try server(limits: limits, log: log.append)
        defer { s.stop() }
        // Four clients each send 100 KiB of one message and never finish it: 400 KiB held.
        let fds = try (0..<4).map { _ in try connectIdle() }
        let partial = Array(#"{"method":"io.test.Echo","parameters":{"text":""#.utf8) + [UInt8](repeating: 120, count: 100 << 10)
        for fd in fds {
            #expect(partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == partial.count)
        }
        #expect(log.waitFor("all clients together more than 262144", timeout: 10))
        // At least one of them was closed (reads end of file), not all four.
        let closedCount = fds.filter { fd in
            var tv = timeval(tv_sec: 0, tv_usec: 300_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }.count
        #expect((1..<4).contains(closedCount), "\(closedCount) of 4 clients closed")
        for fd in fds { close(fd) }
        // Closed connections give their bytes back: a 200 KiB call (under the budget alone) is answered.
        let deadline = Date().addingTimeInterval(10)
        while s.bufferedInputBytes > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(s.bufferedInputBytes == 0)
        let client = try VarlinkClient(path: path, timeout: 5)
        let text = String(repeating: "z", count: 200 << 10)
        #expect(try client.call("io.test.Echo", parameters: Echo(text: text), as: Echo.self).text == text)
    }

    /// Log lines a server writes, for tests to wait on.
    final class LogLines: Sendable {
        private let lines = Locked<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        /// Polls until a line contains `text`, up to `timeout` seconds.
        func waitFor(_ text: String, timeout: Double = 60) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if lines.withLock({ $0.contains { $0.contains(text) } }) { return true }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return false
        }
    }

    /// A server whose unread-output bound is 1 MiB.
    func serverWithSmallOutputBound(_ log: LogLines) throws -> VarlinkServer {
        var limits = VarlinkLimits()
        limits.maxPendingOutputBytes = 1 << 20
        return try server(limits: limits, log: log.append)
    }

    /// Sends `methods` as calls in one write, so the server reads them together (once a reply is
    /// pending it stops reading a client that does not read: calls sent one by one would race with
    /// that), from a client that then reads nothing. Returns its descriptor.
    func sendWithoutReading(_ methods: [String]) throws -> Int32 {
        let fd = try connectIdle()
        let message: [UInt8] = methods.flatMap { Array(#"{"method":"\#($0)"}"#.utf8) + [0] }
        #expect(message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == message.count)
        return fd
    }

    @Test("one reply may exceed the pending-output bound; a non-reader piling up such replies is closed")
    func largeReplies() throws {
        let log = LogLines()
        let s = try serverWithSmallOutputBound(log)
        defer { s.stop() }
        // Deadlines are generous: each 8 MiB reply is encoded by a debug build, slowly on a loaded machine.
        let client = try VarlinkClient(path: path, timeout: 60)
        #expect(try client.call("io.test.Big", parameters: [String: String](), as: Echo.self).text.count == 8 << 20)
        let fd = try sendWithoutReading(Array(repeating: "io.test.Big", count: 4))
        defer { close(fd) }
        #expect(log.waitFor("of replies it does not read"))
        #expect(try client.call("io.test.Echo", parameters: Echo(text: "still"), as: Echo.self).text == "still")
    }

    @Test("replies that finish out of order still count: a non-reader cannot pile them up behind a slow first call")
    func outOfOrderReplies() throws {
        let log = LogLines()
        let s = try serverWithSmallOutputBound(log)
        defer { s.stop() }
        // The first call answers 2 s later, the two after it at once: theirs wait behind it.
        let fd = try sendWithoutReading(["io.test.BigLater", "io.test.Big", "io.test.Big"])
        defer { close(fd) }
        #expect(log.waitFor("of replies it does not read"))
    }

    @Test func socketFileLifecycle() throws {
        // A stale socket file is replaced.
        FileManager.default.createFile(atPath: path, contents: Data())
        let s = try server()
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o660)
        // A second server on a live socket is refused.
        #expect(throws: (any Error).self) { _ = try VarlinkServer(path: path, info: .init(vendor: "", product: "", version: "", url: "", interfaces: [:])) { _, _ in } }
        s.stop()
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect { try VarlinkClient(path: path) } throws: { "\($0)".contains("Is entra-syncd running?") }
    }
}
