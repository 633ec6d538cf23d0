import Foundation

/// The peer of a control connection, from SO_PEERCRED.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// One incoming varlink call.
public struct VarlinkCall: Sendable {
    public var method: String
    /// Raw JSON of the `parameters` object (`{}` when absent).
    public var parameters: [UInt8]
    public var oneway: Bool
    public var more: Bool
    public var peer: PeerCredentials

    public init(method: String, parameters: [UInt8] = Array("{}".utf8), oneway: Bool = false, more: Bool = false, peer: PeerCredentials) {
        self.method = method
        self.parameters = parameters
        self.oneway = oneway
        self.more = more
        self.peer = peer
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(parameters))
        } catch let error as DecodingError {
            var name = "parameters"
            switch error {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                name = c.codingPath.last?.stringValue ?? name
            case .keyNotFound(let key, _):
                name = key.stringValue
            @unknown default: break
            }
            throw VarlinkError.invalidParameter(name)
        }
    }

    /// Parses `{"method":..,"parameters":{..},"oneway":..,"more":..}`.
    static func parse(_ bytes: [UInt8], peer: PeerCredentials) -> VarlinkCall? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let method = object["method"] as? String, !method.isEmpty else { return nil }
        var parameters: [UInt8] = Array("{}".utf8)
        if let p = object["parameters"] {
            guard p is [String: Any], let data = try? JSONSerialization.data(withJSONObject: p) else { return nil }
            parameters = Array(data)
        }
        return VarlinkCall(method: method, parameters: parameters, oneway: object["oneway"] as? Bool ?? false,
                           more: object["more"] as? Bool ?? false, peer: peer)
    }
}

/// A varlink error reply: a qualified name and a parameters object.
public struct VarlinkError: Error, Sendable, CustomStringConvertible {
    public var name: String
    public var parameters: [UInt8]

    public init(name: String, rawParameters: [UInt8] = Array("{}".utf8)) {
        self.name = name
        self.parameters = rawParameters
    }

    public init(name: String, parameters: some Encodable) throws {
        self.name = name
        self.parameters = Array(try JSONEncoder().encode(parameters))
    }

    static func single(_ name: String, _ key: String, _ value: String) -> VarlinkError {
        let data = (try? JSONSerialization.data(withJSONObject: [key: value])) ?? Data("{}".utf8)
        return VarlinkError(name: name, rawParameters: Array(data))
    }

    public static func methodNotFound(_ method: String) -> VarlinkError { single("org.varlink.service.MethodNotFound", "method", method) }
    public static func interfaceNotFound(_ interface: String) -> VarlinkError { single("org.varlink.service.InterfaceNotFound", "interface", interface) }
    public static func invalidParameter(_ parameter: String) -> VarlinkError { single("org.varlink.service.InvalidParameter", "parameter", parameter) }
    public static func methodNotImplemented(_ method: String) -> VarlinkError { single("org.varlink.service.MethodNotImplemented", "method", method) }

    public var description: String { "\(name) \(String(decoding: parameters, as: UTF8.self))" }
}

/// What the server says about itself in `org.varlink.service.GetInfo`.
public struct VarlinkServiceInfo: Sendable {
    public var vendor: String
    public var product: String
    public var version: String
    public var url: String
    /// Interface name → its IDL text.
    public var interfaces: [String: String]

    public init(vendor: String, product: String, version: String, url: String, interfaces: [String: String]) {
        self.vendor = vendor
        self.product = product
        self.version = version
        self.url = url
        self.interfaces = interfaces
    }
}

/// Limits that keep one bad client from hurting others.
///
/// | limit | default | when exceeded |
/// |---|---|---|
/// | `maxMessageBytes` | 1 MiB | error reply, connection closed |
/// | `maxConnections` | 256 | the longest-idle connection is closed for the new one; if none is idle, the new one is refused |
/// | `maxCallsInFlight` | 16 | the connection is not read until replies go out (a pipelining client cannot monopolise the handlers) |
/// | `outputHighWater` | 1 MiB | the connection is not read until its unsent replies drop below this (a client that never reads stalls only itself) |
/// | `maxPendingOutputBytes` | 64 MiB | more than this held in two or more unread replies (finished in any order) closes the connection; a single reply may be larger |
public struct VarlinkLimits: Sendable {
    public var maxMessageBytes = 1 << 20
    public var maxConnections = 256
    public var maxCallsInFlight = 16
    public var outputHighWater = 1 << 20
    public var maxPendingOutputBytes = 64 << 20
    /// Unparsed input held across all connections (unfinished messages and calls waiting to be
    /// read): above it, the connection holding the most is closed.
    public var maxTotalInputBytes = 16 << 20
    public init() {}
}

enum VarlinkWire {
    static let serviceDescription = """
        # The Varlink Service Interface is provided by every varlink service.
        interface org.varlink.service

        method GetInfo() -> (vendor: string, product: string, version: string, url: string, interfaces: []string)
        method GetInterfaceDescription(interface: string) -> (description: string)

        error InterfaceNotFound (interface: string)
        error MethodNotFound (method: string)
        error MethodNotImplemented (method: string)
        error InvalidParameter (parameter: string)
        """

    static func reply(parameters: [UInt8], continues: Bool) -> [UInt8] {
        var out = Array(#"{"parameters":"#.utf8)
        out += parameters
        if continues { out += Array(#","continues":true"#.utf8) }
        out += Array("}".utf8)
        out.append(0)
        return out
    }

    static func error(_ error: VarlinkError) -> [UInt8] {
        let name = (try? JSONEncoder().encode(error.name)).map(Array.init) ?? Array("\"\"".utf8)
        var out = Array(#"{"error":"#.utf8) + name + Array(#","parameters":"#.utf8) + error.parameters + Array("}".utf8)
        out.append(0)
        return out
    }
}
