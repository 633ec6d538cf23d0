import Synchronization

/// One HTTP request.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Whole-request deadline in seconds.
    public var timeout: Double

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeout: Double = 60) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response; header names are lowercased.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A transport failure.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// `resources`: the process ran out of file descriptors or memory (not the network's fault).
    public enum Kind: Sendable { case resolve, connect, tls, proxy, timeout, cancelled, sendOrReceive, tooLarge, resources, other }
    public var kind: Kind
    public var curlCode: Int
    public var message: String
    public var description: String { message }
}

public struct HTTPClientOptions: Sendable {
    /// An extra trust anchor, added to the system's CA bundle.
    public var caFile: String?
    /// Proxy URL; nil lets libcurl use https_proxy/no_proxy from the environment.
    public var proxy: String?
    public var connectTimeout: Double = 10
    /// Abort when less than 1 byte/s arrives for this long: a stalled response.
    public var lowSpeedTime: Double = 30
    public var maxResponseBytes: Int = 512 << 20
    public var userAgent: String = "entra-sync/0.1"

    public init(caFile: String? = nil, proxy: String? = nil) {
        self.caFile = caFile
        self.proxy = proxy
    }
}

/// Set from any thread to abort a request or a run.
public final class CancellationFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}
