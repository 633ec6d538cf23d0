import Dispatch
import EntraEvents
import Glibc

/// One client connection. Confined to the server's queue; replies hop onto it.
/// `@unchecked Sendable`: all mutable state is touched only on `server.queue`.
final class VarlinkConnection: @unchecked Sendable {
    let fd: Int32
    let peer: PeerCredentials
    unowned let server: VarlinkServer
    let limits: VarlinkLimits
    private var input: [UInt8] = []
    private var output: [UInt8] = []
    /// Bytes of `output` already sent; compacted lazily so a large reply is not moved on every send.
    private var outputSent = 0
    private var readSource: EventSource?
    private var writeSource: EventSource?
    /// Activated the first time there is output; until then it only holds its descriptor.
    private var writeActivated = false
    private var writeActive = false
    private var closed = false
    private var nextCall = 0
    private var nextToSend = 0
    /// Finished or streamed replies waiting for earlier calls: call number → chunks, and whether done.
    private var pending: [Int: (chunks: [[UInt8]], done: Bool)] = [:]
    /// Bytes held in `pending`.
    private var pendingBytes = 0
    /// Bytes ever appended to `output` and ever sent: positions in the connection's reply stream.
    private var appendedTotal = 0
    private var sentTotal = 0
    /// Where each complete reply moved to `output` ends in the stream, while part of it is unsent.
    private var replyEnds: [Int] = []
    /// When bytes last arrived; at the connection limit the longest-idle connection is closed first.
    private(set) var lastActivity = DispatchTime.now()
    /// Reading stops while the client has too many calls in flight or leaves too many replies unread.
    private var readPaused = false

    /// No call in progress and nothing left to send: closing it loses nothing the client asked for.
    var isIdle: Bool { nextToSend == nextCall && output.count == outputSent }

    /// Input received and not yet parsed into calls (counted in the server's overall budget).
    var inputBytes: Int { input.count }

    /// For log lines; never the client's bytes.
    var who: String { "pid \(peer.pid) uid \(peer.uid)" }

    private var overloaded: Bool {
        nextCall - nextToSend >= limits.maxCallsInFlight || output.count - outputSent >= limits.outputHighWater
    }

    init(fd: Int32, peer: PeerCredentials, server: VarlinkServer, limits: VarlinkLimits) {
        self.fd = fd
        self.peer = peer
        self.server = server
        self.limits = limits
    }

    func start() {
        let source = EventLoop.shared.readSource(fileDescriptor: fd, queue: server.queue)
        source.setEventHandler { [self] in readAvailable() }
        readSource = source
        // The write source's descriptor (a duplicate) is taken now, with the connection's own:
        // replies must never need a descriptor later, when runs may have taken them all.
        var write = EventLoop.shared.writeSource(fileDescriptor: fd, queue: server.queue)
        if !write.isValid && server.releaseReserve() {
            write = EventLoop.shared.writeSource(fileDescriptor: fd, queue: server.queue)
        }
        write.setEventHandler { [self] in flush() }
        writeSource = write
        source.activate()
    }

    private func readAvailable() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !closed && !overloaded {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return close() }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                return close()
            }
            lastActivity = .now()
            input.append(contentsOf: buffer[0..<n])
            server.inputChanged(by: n)
            if closed { return }
            handleBufferedCalls()
            if closed { return }
            // Unless reading paused, every complete message was taken: what is left is one unfinished message.
            if !overloaded && input.count > limits.maxMessageBytes {
                server.log("closing control client \(who): a message longer than \(limits.maxMessageBytes) bytes")
                enqueue(call: nextCall, VarlinkWire.error(.invalidParameter("message too large")), done: true)
                nextCall += 1
                flush()
                return close()
            }
        }
        if overloaded && !closed && !readPaused {
            readSource?.suspend()
            readPaused = true
        }
    }

    private func handleBufferedCalls() {
        while !closed && !overloaded, let end = input.firstIndex(of: 0) {
            let message = Array(input[..<end])
            input.removeSubrange(...end)
            server.inputChanged(by: -(end + 1))
            handle(message)
        }
    }

    private func handle(_ message: [UInt8]) {
        let number = nextCall
        nextCall += 1
        guard let call = VarlinkCall.parse(message, peer: peer) else {
            server.log("closing control client \(who): not a varlink message")
            enqueue(call: number, VarlinkWire.error(.invalidParameter("method")), done: true)
            flush()
            return close()
        }
        let replier = VarlinkReplier(oneway: call.oneway) { [weak self] bytes, done in
            guard let self else { return }
            self.server.queue.async { self.enqueue(call: number, bytes, done: done) }
        }
        server.dispatch(call, replier)
    }

    private func enqueue(call: Int, _ bytes: [UInt8], done: Bool) {
        guard !closed else { return }
        var entry = pending[call] ?? ([], false)
        if !bytes.isEmpty {
            entry.chunks.append(bytes)
            pendingBytes += bytes.count
        }
        entry.done = entry.done || done
        pending[call] = entry
        // Replies go out in call order: stream the current call's chunks, move on when it is done.
        while let current = pending[nextToSend] {
            for chunk in current.chunks {
                output += chunk
                appendedTotal += chunk.count
                pendingBytes -= chunk.count
            }
            if current.done {
                pending[nextToSend] = nil
                nextToSend += 1
                replyEnds.append(appendedTotal)
            } else {
                pending[nextToSend] = ([], false)
                break
            }
        }
        // One reply may be larger than the bound (`users --json` of a large tenant); more than the
        // bound held in several unread replies, finished in any order, closes the connection.
        if output.count - outputSent + pendingBytes > limits.maxPendingOutputBytes && heldReplies > 1 {
            server.log("closing control client \(who): more than \(limits.maxPendingOutputBytes) bytes of replies it does not read")
            return close()
        }
        flush()
    }

    /// Replies with bytes not yet sent: complete ones in `output`, the one streaming into it, and
    /// those waiting in `pending` for earlier calls.
    private var heldReplies: Int {
        let streaming = appendedTotal > (replyEnds.last ?? sentTotal) && appendedTotal > sentTotal ? 1 : 0
        return replyEnds.count + streaming + pending.values.reduce(0) { $0 + ($1.chunks.isEmpty ? 0 : 1) }
    }

    private func flush() {
        while outputSent < output.count && !closed {
            let n = output.withUnsafeBytes { send(fd, $0.baseAddress! + outputSent, $0.count - outputSent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                return close()
            }
            outputSent += n
            sentTotal += n
        }
        if let sentReplies = replyEnds.firstIndex(where: { $0 > sentTotal }) {
            replyEnds.removeFirst(sentReplies)
        } else {
            replyEnds.removeAll()
        }
        if outputSent == output.count {
            output.removeAll(keepingCapacity: output.count < 1 << 20)
            outputSent = 0
        } else if outputSent > 1 << 20 && outputSent * 2 > output.count {
            output.removeFirst(outputSent)
            outputSent = 0
        }
        if readPaused && !closed && !overloaded {
            readPaused = false
            readSource?.resume()
            handleBufferedCalls()
        }
        if closed { return }
        if output.isEmpty {
            if writeActive { writeSource?.suspend(); writeActive = false }
        } else if !closed {
            if !writeActivated, let writeSource {
                writeActivated = true
                writeActive = true
                writeSource.activate()
            } else if !writeActive {
                writeSource?.resume()
                writeActive = true
            }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        if readPaused { readSource?.resume() }  // a suspended source must not be released
        readSource?.cancel()
        if let writeSource {
            if !writeActive { writeSource.resume() }
            writeSource.cancel()
        }
        Glibc.close(fd)
        server.inputChanged(by: -input.count)
        input = []
        output = []
        outputSent = 0
        pending = [:]
        server.connectionClosed(fd)
    }
}
