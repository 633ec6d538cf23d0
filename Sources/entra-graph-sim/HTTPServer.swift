import Foundation
import Glibc

/// A parsed HTTP request.
struct Request {
    var method: String
    var target: String
    var path: String
    var query: [String: String]
    var headers: [String: String]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// What to send back.
struct Response {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// Test faults: close without answering, or send half the body.
    var resetConnection = false
    var truncateBody = false

    static func json(_ status: Int, _ object: Any, headers: [(String, String)] = []) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(data))
    }
}

/// A small HTTP/1.1 server: a thread per connection, keep-alive, Content-Length bodies.
final class HTTPServer: @unchecked Sendable {  // immutable after init; the handler does its own locking
    let fd: Int32
    let port: Int
    let handler: @Sendable (Request) -> Response

    init(host: String, port: Int, handler: @escaping @Sendable (Request) -> Response) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            throw NSError(domain: "entra-graph-sim", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))"])
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    func run() -> Never {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { continue }
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let thread = Thread { [self] in serve(client) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            // Read the head.
            var headEnd: Int?
            while headEnd == nil {
                headEnd = find(buffer, [13, 10, 13, 10])
                if headEnd != nil { break }
                if buffer.count > 65536 { return }
                let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                buffer += chunk[0..<n]
                if buffer.first == 0x16 {
                    // A TLS ClientHello on this plain-HTTP port: answer like an HTTP server would.
                    let reply = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                    _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    return
                }
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            buffer.removeFirst(headEnd! + 4)
            var lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.removeFirst().split(separator: " ")
            guard requestLine.count >= 2 else { return }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while buffer.count < length {
                let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return }
                buffer += chunk[0..<n]
            }
            let body = Array(buffer[0..<length])
            buffer.removeFirst(length)
            var target = String(requestLine[1])
            var proxied = false
            if target.hasPrefix("http://"), let slash = target.dropFirst(7).firstIndex(of: "/") {
                // Absolute form: a client using this simulator as its HTTP proxy.
                target = String(target[slash...])
                proxied = true
            }
            if proxied { headers["x-sim-proxied"] = "1" }
            let (path, query) = Self.split(target)
            let request = Request(method: String(requestLine[0]), target: target, path: path, query: query, headers: headers, body: body)
            let response = handler(request)
            if response.resetConnection { return }
            var out = Array("HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n".utf8)
            var hasType = false
            for (name, value) in response.headers {
                if name.lowercased() == "content-type" { hasType = true }
                out += Array("\(name): \(value)\r\n".utf8)
            }
            if !hasType && !response.body.isEmpty { out += Array("Content-Type: application/json\r\n".utf8) }
            out += Array("Content-Length: \(response.body.count)\r\n\r\n".utf8)
            out += response.truncateBody ? Array(response.body.prefix(response.body.count / 2)) : response.body
            var sent = 0
            while sent < out.count {
                let n = out.withUnsafeBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                sent += n
            }
            if response.truncateBody || headers["connection"]?.lowercased() == "close" { return }
        }
    }

    private func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    static func split(_ target: String) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target.removingPercentEncoding ?? target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = (String(parts[0]).removingPercentEncoding ?? String(parts[0])).lowercased()
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(parts[1])) : ""
            query[key] = value
        }
        let path = String(target[..<q])
        return (path.removingPercentEncoding ?? path, query)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 410: "Gone"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }
}
