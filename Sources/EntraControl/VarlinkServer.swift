import Dispatch
import EntraEvents
import Foundation
import Glibc
import EntraLock
import Synchronization

/// Answers one call; safe to use from any thread, later than the handler returns.
public final class VarlinkReplier: Sendable {
    private let send: @Sendable ([UInt8], Bool) -> Void
    private let done = Atomic<Bool>(false)
    let oneway: Bool

    /// `send` gets each encoded reply message and whether it is the last one (tests capture replies this way).
    public init(oneway: Bool, send: @escaping @Sendable ([UInt8], Bool) -> Void) {
        self.oneway = oneway
        self.send = send
    }

    public func reply(_ parameters: some Encodable, continues: Bool = false) {
        let bytes = (try? JSONEncoder().encode(parameters)).map(Array.init) ?? Array("{}".utf8)
        reply(rawParameters: bytes, continues: continues)
    }

    public func reply(rawParameters: [UInt8], continues: Bool = false) {
        guard !done.load(ordering: .acquiring) else { return }
        if !continues { done.store(true, ordering: .releasing) }
        send(oneway ? [] : VarlinkWire.reply(parameters: rawParameters, continues: continues), !continues)
    }

    public func fail(_ error: VarlinkError) {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        send(oneway ? [] : VarlinkWire.error(error), true)
    }
}

/// A varlink server on a Unix stream socket: event-driven, no thread per connection.
public final class VarlinkServer: Sendable {
    private let path: String
    private let ownsPath: Bool
    private let listenFD: Int32
    private let info: VarlinkServiceInfo
    private let limits: VarlinkLimits
    private let handler: @Sendable (VarlinkCall, VarlinkReplier) -> Void
    /// Says when a client is closed or refused for breaking the limits.
    let log: @Sendable (String) -> Void
    let queue = DispatchQueue(label: "entra-sync.varlink")
    /// Calls run in parallel, on as many threads as there are processors (at least two).
    private let handlers = WorkPool(name: "entra-sync.varlink.handlers", threads: max(2, ProcessInfo.processInfo.activeProcessorCount))
    private let state = Locked(State())

    struct State: ~Copyable {
        var source: EventSource?
        var connections: [Int32: VarlinkConnection] = [:]
        var stopped = false
        /// A descriptor (/dev/null) held in reserve: when accept fails for lack of descriptors, it is
        /// given up to take the waiting client, so `status` answers while runs use every descriptor.
        /// Two: a client's connection takes one for its socket and one for its write source (a dup).
        var reserveFDs: [Int32] = []
        /// Accepting waits (out of descriptors and no reserve): the listener would fire without end.
        var acceptPaused = false
        /// Input bytes all connections hold unparsed (`VarlinkLimits.maxTotalInputBytes`).
        var inputBytes = 0
    }

    /// How long accepting waits when descriptors ran out and the reserve is in use.
    static let acceptRetryDelay = DispatchTimeInterval.milliseconds(100)

    public init(path: String, mode: mode_t = 0o660, listenFD: Int32? = nil, info: VarlinkServiceInfo,
                limits: VarlinkLimits = .init(), log: @escaping @Sendable (String) -> Void = { _ in },
                handler: @escaping @Sendable (VarlinkCall, VarlinkReplier) -> Void) throws {
        self.path = path
        self.info = info
        self.limits = limits
        self.log = log
        self.handler = handler
        if let listenFD {
            self.listenFD = listenFD
            self.ownsPath = false
            _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
            state.withLock { Self.refill(&$0.reserveFDs) }
            return
        }
        self.ownsPath = true
        var address = try VarlinkClient.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw VarlinkClientError.io("socket", errno) }
        // A stale socket file is replaced; a live server is not.
        if (try? VarlinkClient(path: path, timeout: 1)) != nil {
            close(fd)
            throw VarlinkClientError.io("another server already listens on \(path)", EADDRINUSE)
        }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, chmod(path, mode) == 0, listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw VarlinkClientError.io("cannot listen on \(path)", code)
        }
        self.listenFD = fd
        state.withLock { Self.refill(&$0.reserveFDs) }
    }

    public func start() {
        let source = EventLoop.shared.readSource(fileDescriptor: listenFD, queue: queue)
        source.setEventHandler { [self] in acceptAll() }
        state.withLock { $0.source = source }
        source.activate()
    }

    public func stop() {
        let (source, connections) = state.withLock { s -> (EventSource?, [VarlinkConnection]) in
            s.stopped = true
            let c = Array(s.connections.values)
            s.connections = [:]
            for fd in s.reserveFDs { close(fd) }
            s.reserveFDs = []
            return (s.source, c)
        }
        source?.cancel()
        queue.sync {
            for connection in connections { connection.close() }
        }
        close(listenFD)
        if ownsPath { unlink(path) }
    }

    private func acceptAll() {
        while true {
            var fd = accept(listenFD, nil, nil)
            if fd < 0 && (errno == EMFILE || errno == ENFILE) {
                fd = acceptWithReserve()
            }
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE)
            var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
            var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length)
            let peer = PeerCredentials(pid: cred.0, uid: cred.1, gid: cred.2)
            let (open, stopped) = state.withLock { (Array($0.connections.values), $0.stopped) }
            if stopped {
                close(fd)
                continue
            }
            if open.count >= limits.maxConnections {
                // Idle connections must not lock everyone out: the longest-idle one makes room.
                guard let idlest = open.filter(\.isIdle).min(by: { $0.lastActivity < $1.lastActivity }) else {
                    log("refusing control client pid \(peer.pid) uid \(peer.uid): \(open.count) connections, none idle")
                    close(fd)
                    continue
                }
                log("closing idle control client \(idlest.who) to make room: \(limits.maxConnections) connections is the limit")
                idlest.close()
            }
            let connection = VarlinkConnection(fd: fd, peer: peer, server: self, limits: limits)
            state.withLock { $0.connections[fd] = connection }
            connection.start()
        }
    }

    func connectionClosed(_ fd: Int32) {
        state.withLock { s in
            s.connections.removeValue(forKey: fd)
            if !s.stopped { Self.refill(&s.reserveFDs) }
        }
    }

    /// A connection's unparsed input grew (positive) or shrank. Over the overall budget, the
    /// connection holding the most input is closed: many clients each sending a large unfinished
    /// message cannot make the daemon hold more than the budget. Called on `queue`.
    func inputChanged(by delta: Int) {
        let (total, open) = state.withLock { s -> (Int, [VarlinkConnection]) in
            s.inputBytes += delta
            return (s.inputBytes, s.inputBytes > limits.maxTotalInputBytes ? Array(s.connections.values) : [])
        }
        guard delta > 0, total > limits.maxTotalInputBytes,
              let largest = open.max(by: { $0.inputBytes < $1.inputBytes }) else { return }
        log("closing control client \(largest.who): it holds \(largest.inputBytes) bytes of unread input, and all clients together more than \(limits.maxTotalInputBytes)")
        largest.close()
    }

    /// Input held unparsed across all connections (tests).
    var bufferedInputBytes: Int { state.withLock { $0.inputBytes } }

    private static let reserveCount = 2

    /// Closes one reserved descriptor so a connection can take it; false when none is left. The
    /// reserve is refilled when a connection closes.
    func releaseReserve() -> Bool {
        state.withLock { s in
            guard let fd = s.reserveFDs.popLast() else { return false }
            close(fd)
            return true
        }
    }

    /// Opens reserve descriptors (/dev/null) until there are `reserveCount`, as far as it can.
    private static func refill(_ reserve: inout [Int32]) {
        while reserve.count < reserveCount {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return }
            reserve.append(fd)
        }
    }

    /// Out of descriptors: gives up the reserve to take the waiting client (its descriptor is taken
    /// back when a connection closes). Without a reserve, accepting pauses briefly rather than spin
    /// on a listener that stays readable. Returns the client's descriptor or -1.
    private func acceptWithReserve() -> Int32 {
        let reserve = state.withLock { s -> [Int32] in
            defer { s.reserveFDs = [] }
            return s.reserveFDs
        }
        if !reserve.isEmpty {
            for fd in reserve { close(fd) }
            let fd = accept(listenFD, nil, nil)
            if fd >= 0 {
                log("out of file descriptors: the control client takes the reserved one")
                return fd
            }
            state.withLock { Self.refill(&$0.reserveFDs) }
        }
        let source = state.withLock { s -> EventSource? in
            guard !s.acceptPaused, !s.stopped else { return nil }
            s.acceptPaused = true
            return s.source
        }
        guard let source else { return -1 }
        source.suspend()
        // An EventTimer, not asyncAfter: a dispatch timer makes libdispatch create its own event
        // loop on first use, and it traps (SIGILL) when that finds no descriptor, as here.
        let timer = EventLoop.shared.timer(queue: queue)
        timer.setEventHandler { [self] in
            state.withLock { s in
                s.acceptPaused = false
                if !s.stopped { Self.refill(&s.reserveFDs) }
            }
            source.resume()
            timer.cancel()
        }
        timer.schedule(deadline: .now() + Self.acceptRetryDelay)
        timer.activate()
        return -1
    }

    /// Runs a call: the service interface here, everything else in the handler.
    func dispatch(_ call: VarlinkCall, _ replier: VarlinkReplier) {
        switch call.method {
        case "org.varlink.service.GetInfo":
            struct Info: Encodable { var vendor, product, version, url: String; var interfaces: [String] }
            replier.reply(Info(vendor: info.vendor, product: info.product, version: info.version, url: info.url,
                               interfaces: ["org.varlink.service"] + info.interfaces.keys.sorted()))
        case "org.varlink.service.GetInterfaceDescription":
            struct Request: Decodable { var interface: String }
            struct Reply: Encodable { var description: String }
            guard let request = try? call.decode(Request.self) else { return replier.fail(.invalidParameter("interface")) }
            if request.interface == "org.varlink.service" {
                replier.reply(Reply(description: VarlinkWire.serviceDescription))
            } else if let text = info.interfaces[request.interface] {
                replier.reply(Reply(description: text))
            } else {
                replier.fail(.interfaceNotFound(request.interface))
            }
        default:
            if call.method.hasPrefix("org.varlink.service.") { return replier.fail(.methodNotFound(call.method)) }
            let interface = String(call.method[..<(call.method.lastIndex(of: ".") ?? call.method.startIndex)])
            guard info.interfaces[interface] != nil else { return replier.fail(.interfaceNotFound(interface)) }
            handlers.async { self.handler(call, replier) }
        }
    }
}
