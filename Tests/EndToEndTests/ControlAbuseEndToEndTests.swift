import Foundation
import Testing
import TestSupport

/// Misbehaving control clients: the daemon keeps serving the others and keeps syncing.
@Suite("control socket abuse end to end")
struct ControlAbuseEndToEndTests {
    /// A raw client socket; `timeout` bounds every send and receive.
    final class RawClient {
        let fd: Int32

        init(_ path: String, timeout: Double = 5) throws {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else {
                let code = errno
                Glibc.close(fd)
                throw HarnessError("connect \(path): \(String(cString: strerror(code)))")
            }
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { Glibc.close(fd) }

        /// Sends what it can; returns the bytes sent (less when the peer stops reading or closes).
        @discardableResult
        func send(_ bytes: [UInt8]) -> Int {
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                sent += n
            }
            return sent
        }

        /// Reads until the peer closes (or the receive timeout); returns what arrived and whether it closed.
        func readToEnd(limit: Int = 1 << 20) -> (bytes: [UInt8], closed: Bool) {
            var result: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while result.count < limit {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 { return (result, true) }
                if n < 0 { return (result, errno == ECONNRESET) }
                result += buffer[0..<n]
            }
            return (result, false)
        }
    }

    static func call(_ method: String, _ parameters: String = "{}") -> [UInt8] {
        Array(#"{"method":"\#(method)","parameters":\#(parameters)}"#.utf8) + [0]
    }

    /// The daemon answers a normal client promptly and still syncs.
    func expectServing(_ daemon: DaemonHarness, _ sim: Simulator, seed: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let started = Date()
        let status = try daemon.ctl(["status", "contoso"])
        #expect(status.status == 0, "status failed: \(status.stderr)", sourceLocation: sourceLocation)
        #expect(Date().timeIntervalSince(started) < 5, sourceLocation: sourceLocation)
        try sim.admin("POST", "/_sim/churn", ["seed": seed, "changes": 5])
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()), sourceLocation: sourceLocation)
    }

    @Test("oversized, partial and garbage messages, 300 idle connections and a client that never reads")
    func abuse() throws {
        let sim = try Simulator(users: 150, groups: 5, memberships: 200, pageSize: 100)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let baseline = Harness.memory(daemon.pid, "VmRSS")

        // Oversized: an error reply, then the connection is closed.
        let big = try RawClient(daemon.socket)
        big.send([UInt8](repeating: UInt8(ascii: "a"), count: 3 << 20))
        let bigReply = big.readToEnd()
        #expect(bigReply.closed)
        #expect(String(decoding: bigReply.bytes, as: UTF8.self).contains("org.varlink.service.InvalidParameter"))

        // Garbage with a terminator: an error reply, then closed.
        var rng = SeededGenerator(seed: 5)
        let garbage = try RawClient(daemon.socket)
        garbage.send((0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next() | 1) } + [0])
        let garbageReply = garbage.readToEnd()
        #expect(garbageReply.closed)
        #expect(String(decoding: garbageReply.bytes, as: UTF8.self).contains("\"error\""))

        // A partial message that never ends, and a message sent a byte at a time.
        let partial = try RawClient(daemon.socket)
        partial.send(Array(#"{"method":"io.entrasync.Manager.Status","parameters":{"#.utf8))
        let trickle = try RawClient(daemon.socket)
        for byte in Self.call("io.entrasync.Manager.Status") { trickle.send([byte]) }
        let trickleReply = trickle.readToEnd(limit: 1)
        #expect(!trickleReply.bytes.isEmpty)

        // More idle connections than the daemon's connection limit (256).
        var idle: [RawClient] = []
        for _ in 0..<300 { idle.append(try RawClient(daemon.socket)) }
        try expectServing(daemon, sim, seed: 1)

        // A client that pipelines big queries and never reads the replies.
        let greedy = try RawClient(daemon.socket, timeout: 0.5)
        let query = Self.call("io.entrasync.Manager.Users", #"{"profile":"contoso"}"#)
        var calls = 0
        while calls < 5000 {
            if greedy.send(query) < query.count { break }  // the daemon stopped reading: back-pressure
            calls += 1
        }
        try expectServing(daemon, sim, seed: 2)
        let grown = Harness.memory(daemon.pid, "VmRSS") - baseline
        print("control abuse: \(calls) unread Users calls accepted; RSS grew by \(grown >> 20) MiB")
        #expect(grown < 48 << 20, "the daemon buffered \(grown >> 20) MiB for a client that does not read")

        // Everything at once is still fine, and the daemon says what it did.
        try expectServing(daemon, sim, seed: 3)
        #expect(daemon.log.contains("control client"), "no log line about closed control clients")
        withExtendedLifetime((partial, idle, greedy)) {}
        #expect(try daemon.stop(SIGTERM) == 0)
    }
}
