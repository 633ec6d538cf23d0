import Foundation
import Glibc

/// Why a control call failed, in words an operator can act on.
public enum VarlinkClientError: Error, CustomStringConvertible {
    case connect(path: String, errno: Int32)
    case io(String, Int32)
    case protocolError(String)
    case remote(String, [UInt8])

    public var description: String {
        switch self {
        case .connect(let path, let code):
            var text = "cannot connect to \(path): \(String(cString: strerror(code)))."
            if code == EACCES || code == EPERM {
                text += " Only root and members of the socket's group (entra-sync) may use it."
            } else {
                text += " Is entra-syncd running? Use --socket or $ENTRA_SYNC_SOCKET for another path."
            }
            return text
        case .io(let what, let code): return "\(what): \(String(cString: strerror(code)))"
        case .protocolError(let what): return "invalid answer from the daemon: \(what)"
        case .remote(let name, let parameters): return "\(name) \(String(decoding: parameters, as: UTF8.self))"
        }
    }
}

/// A blocking varlink client for one connection.
public final class VarlinkClient {
    private let fd: Int32
    private let timeout: Double
    private var buffer: [UInt8] = []
    /// How much of `buffer` is known to hold no NUL terminator.
    private var scanned = 0

    public init(path: String, timeout: Double = 30) throws(VarlinkClientError) {
        var address = try Self.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .io("socket", errno) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw .connect(path: path, errno: code)
        }
        self.fd = fd
        self.timeout = timeout
    }

    deinit { close(fd) }

    static func address(_ path: String) throws(VarlinkClientError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .protocolError("socket path \(path) is longer than 107 bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    private func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private func send(_ method: String, _ parameters: some Encodable, more: Bool) throws {
        let params = try JSONEncoder().encode(parameters)
        var message = Array(#"{"method":"#.utf8) + Array(try JSONEncoder().encode(method)) + Array(#","parameters":"#.utf8) + Array(params)
        if more { message += Array(#","more":true"#.utf8) }
        message += Array("}".utf8)
        message.append(0)
        var done = 0
        while done < message.count {
            let n = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw VarlinkClientError.io("sending to the daemon", errno)
            }
            done += n
        }
    }

    /// A reply: its parameters as raw JSON bytes, whether more follow, or a remote error.
    private struct Reply {
        var parameters: [UInt8]
        var continues: Bool
    }

    private static let parametersPrefix = Array(#"{"parameters":"#.utf8)
    private static let continuesSuffix = Array(#","continues":true}"#.utf8)

    /// Reads one reply. Replies shaped as this project's server writes them are sliced without a
    /// JSON round trip (large query answers); anything else is parsed generically.
    private func receiveReply() throws -> Reply {
        let message = try receiveMessage()
        if message.starts(with: Self.parametersPrefix), message.last == UInt8(ascii: "}") {
            if message.count > Self.parametersPrefix.count + Self.continuesSuffix.count,
               Array(message.suffix(Self.continuesSuffix.count)) == Self.continuesSuffix {
                return Reply(parameters: Array(message[Self.parametersPrefix.count..<(message.count - Self.continuesSuffix.count)]), continues: true)
            }
            let inner = message[Self.parametersPrefix.count..<(message.count - 1)]
            if inner.first == UInt8(ascii: "{"), inner.last == UInt8(ascii: "}") {
                return Reply(parameters: Array(inner), continues: false)
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] else {
            throw VarlinkClientError.protocolError("not a JSON object")
        }
        return Reply(parameters: try parameters(of: object), continues: object["continues"] as? Bool == true)
    }

    private func receiveMessage() throws -> [UInt8] {
        while true {
            if let end = buffer[scanned...].firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                scanned = 0
                return message
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { throw VarlinkClientError.io("no answer from the daemon", ETIMEDOUT) }
                throw VarlinkClientError.io("reading from the daemon", errno)
            }
            if n == 0 { throw VarlinkClientError.protocolError("the daemon closed the connection") }
            scanned = buffer.count
            buffer += chunk[0..<n]
        }
    }

    private func parameters(of reply: [String: Any]) throws -> [UInt8] {
        let params = reply["parameters"] ?? [String: Any]()
        let data = try JSONSerialization.data(withJSONObject: params)
        if let error = reply["error"] as? String { throw VarlinkClientError.remote(error, Array(data)) }
        return Array(data)
    }

    /// Calls a method and returns the raw reply parameters.
    public func call(_ method: String, parameters: some Encodable, timeout: Double? = nil) throws -> [UInt8] {
        setTimeout(timeout ?? self.timeout)
        try send(method, parameters, more: false)
        return try receiveReply().parameters
    }

    public func call<R: Decodable>(_ method: String, parameters: some Encodable, as: R.Type, timeout: Double? = nil) throws -> R {
        let bytes = try call(method, parameters: parameters, timeout: timeout)
        do {
            return try JSONDecoder().decode(R.self, from: Data(bytes))
        } catch {
            throw VarlinkClientError.protocolError("\(method): \(error)")
        }
    }

    /// Calls with `more` and hands every reply to `onReply` until the last.
    public func callMore(_ method: String, parameters: some Encodable, onReply: ([UInt8]) throws -> Void) throws {
        setTimeout(timeout)
        try send(method, parameters, more: true)
        while true {
            let reply = try receiveReply()
            try onReply(reply.parameters)
            if !reply.continues { return }
        }
    }
}
