import Foundation

/// A loopback HTTP server for one test: answers each request with `respond`, counts connections.
public final class TinyServer: @unchecked Sendable {  // counters are guarded by `lock`
    let fd: Int32
    public let port: Int
    /// The loopback address it listens on (any of 127.0.0.0/8: a second host for origin tests).
    public let host: String
    private let lock = NSLock()
    private var accepted = 0
    private var requests: [String] = []
    private let respond: @Sendable (String) -> [UInt8]?

    public init(host: String = "127.0.0.1", respond: @escaping @Sendable (String) -> [UInt8]?) {
        self.respond = respond
        self.host = host
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                lock.withLock { accepted += 1 }
                Thread { [self] in serve(client) }.start()
            }
        }.start()
    }

    public var connections: Int { lock.withLock { accepted } }
    public var received: [String] { lock.withLock { requests } }

    public var baseURL: String { "http://\(host):\(port)" }

    public func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            buffer += chunk[0..<n]
            let text = String(decoding: buffer, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let head = String(text[..<headEnd.lowerBound])
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let total = text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound) + length
            guard buffer.count >= total else { continue }
            let request = String(decoding: buffer[..<total], as: UTF8.self)
            buffer.removeFirst(total)
            lock.withLock { requests.append(request) }
            guard let reply = respond(request) else { Thread.sleep(forTimeInterval: 30); return }
            _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    public static func response(_ body: [UInt8], headers: [String] = []) -> [UInt8] {
        Array(("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8) + body
    }
}
