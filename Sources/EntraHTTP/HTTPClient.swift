import CCurl
import CCurlShim
import Foundation
import EntraLock

/// The project's only HTTP stack: one reused libcurl easy handle (keep-alive, gzip, HTTP/2).
///
/// The handle is made on the first request and kept (with its connection) until
/// `closeConnections()`: a profile between runs holds no descriptor for Graph.
public final class HTTPClient: Sendable {
    /// `@unchecked`: the handle is only touched inside `handle`'s lock.
    private final class Handle: @unchecked Sendable {
        let curl: UnsafeMutableRawPointer
        init(_ curl: UnsafeMutableRawPointer) { self.curl = curl }
        deinit { curl_easy_cleanup(curl) }
    }

    /// Per-request state reached from the C callbacks through an Unmanaged pointer.
    private final class Transfer {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        var limit: Int
        var tooLarge = false
        let cancel: CancellationFlag?
        init(limit: Int, cancel: CancellationFlag?) {
            self.limit = limit
            self.cancel = cancel
        }
    }

    private let handle = Locked<Handle?>(nil)
    private let options: HTTPClientOptions
    private let caBlob: [UInt8]?

    private static let globalInit: Bool = { curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK }()

    public init(options: HTTPClientOptions) throws(HTTPError) {
        _ = Self.globalInit
        self.options = options
        if let caFile = options.caFile {
            guard let extra = FileManager.default.contents(atPath: caFile) else {
                throw HTTPError(kind: .tls, curlCode: -1, message: "cannot read CAFile \(caFile)")
            }
            let systemPath = esc_default_cainfo().map { String(cString: $0) } ?? "/etc/ssl/certs/ca-certificates.crt"
            let system = FileManager.default.contents(atPath: systemPath) ?? Data()
            caBlob = Array(system) + Array("\n".utf8) + Array(extra)
        } else {
            caBlob = nil
        }
    }

    public func perform(_ request: HTTPRequest, cancel: CancellationFlag? = nil) throws(HTTPError) -> HTTPResponse {
        let result: Result<HTTPResponse, HTTPError> = handle.withLock { handle in
            if handle == nil {
                guard let curl = curl_easy_init() else {
                    return .failure(HTTPError(kind: .resources, curlCode: Int(CURLE_OUT_OF_MEMORY.rawValue),
                                              message: "cannot start a request to \(Self.host(request.url)): out of memory"))
                }
                handle = Handle(curl)
            }
            return performLocked(request, curl: handle!.curl, cancel: cancel)
        }
        return try result.get()
    }

    /// Closes the connection kept for the next request and the handle's own descriptors (libcurl's
    /// wakeup socket pair). Waits for a request in progress. The next request connects again.
    public func closeConnections() {
        let released = handle.withLock { $0.take() }
        withExtendedLifetime(released) {}  // curl_easy_cleanup runs here, outside the lock
    }

    private static func host(_ url: String) -> String { URLComponents(string: url)?.host ?? url }

    private func performLocked(_ request: HTTPRequest, curl c: UnsafeMutableRawPointer, cancel: CancellationFlag?) -> Result<HTTPResponse, HTTPError> {
        curl_easy_reset(c)
        let transfer = Transfer(limit: options.maxResponseBytes, cancel: cancel)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let socketErrno = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        socketErrno.initialize(to: 0)
        defer { socketErrno.deallocate() }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        if request.body != nil { headerList = curl_slist_append(headerList, "Expect:") }

        let code: CURLcode = request.url.withCString { url in
            request.method.withCString { method in
                options.userAgent.withCString { agent in
                    errorBuffer.withUnsafeMutableBufferPointer { errbuf in
                        (request.body ?? []).withUnsafeBytes { body in
                            _ = esc_setopt_ptr(c, CURLOPT_URL, url)
                            _ = esc_setopt_ptr(c, CURLOPT_ERRORBUFFER, errbuf.baseAddress)
                            _ = esc_setopt_long(c, CURLOPT_NOSIGNAL, 1)
                            _ = esc_setopt_socket_errno(c, socketErrno)
                            _ = esc_setopt_ptr(c, CURLOPT_PROTOCOLS_STR, "http,https")
                            _ = esc_setopt_ptr(c, CURLOPT_USERAGENT, agent)
                            _ = esc_setopt_ptr(c, CURLOPT_ACCEPT_ENCODING, "")
                            _ = esc_setopt_long(c, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
                            _ = esc_setopt_long(c, CURLOPT_TCP_KEEPALIVE, 1)
                            _ = esc_setopt_long(c, CURLOPT_SSL_VERIFYPEER, 1)
                            _ = esc_setopt_long(c, CURLOPT_SSL_VERIFYHOST, 2)
                            _ = esc_setopt_long(c, CURLOPT_FOLLOWLOCATION, 0)
                            _ = esc_setopt_long(c, CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
                            _ = esc_setopt_long(c, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout * 1000))
                            _ = esc_setopt_long(c, CURLOPT_LOW_SPEED_LIMIT, 1)
                            _ = esc_setopt_long(c, CURLOPT_LOW_SPEED_TIME, Int(options.lowSpeedTime))
                            if let proxy = options.proxy { _ = esc_setopt_ptr(c, CURLOPT_PROXY, proxy) }
                            if let blob = caBlob {
                                _ = blob.withUnsafeBytes { esc_setopt_blob(c, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
                            }
                            _ = esc_setopt_slist(c, CURLOPT_HTTPHEADER, headerList)
                            if request.method == "GET" {
                                _ = esc_setopt_long(c, CURLOPT_HTTPGET, 1)
                            } else {
                                _ = esc_setopt_ptr(c, CURLOPT_CUSTOMREQUEST, method)
                            }
                            if request.body != nil {
                                _ = esc_setopt_off(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                                _ = esc_setopt_ptr(c, CURLOPT_POSTFIELDS, body.count > 0 ? body.baseAddress : UnsafeRawPointer(bitPattern: 1))
                            }
                            _ = esc_setopt_write_cb(c, CURLOPT_WRITEFUNCTION, HTTPClient.onBody)
                            _ = esc_setopt_ptr(c, CURLOPT_WRITEDATA, context.toOpaque())
                            _ = esc_setopt_write_cb(c, CURLOPT_HEADERFUNCTION, HTTPClient.onHeader)
                            _ = esc_setopt_ptr(c, CURLOPT_HEADERDATA, context.toOpaque())
                            _ = esc_setopt_long(c, CURLOPT_NOPROGRESS, 0)
                            _ = esc_setopt_xferinfo_cb(c, HTTPClient.onProgress)
                            _ = esc_setopt_ptr(c, CURLOPT_XFERINFODATA, context.toOpaque())
                            return curl_easy_perform(c)
                        }
                    }
                }
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var text = String(cString: curl_easy_strerror(code)) + (detail.isEmpty ? "" : ": \(detail)")
            let kind: HTTPError.Kind
            switch code {
            case CURLE_OUT_OF_MEMORY:
                kind = .resources
            case _ where socketErrno.pointee == EMFILE || socketErrno.pointee == ENFILE:
                // socket() failed: not the network's fault, and retrying at once will not help.
                kind = .resources
                text += " (socket: \(String(cString: strerror(socketErrno.pointee))); the daemon has too many files open: raise LimitNOFILE= in its unit, or run fewer profiles)"
            case CURLE_COULDNT_RESOLVE_HOST: kind = .resolve
            case CURLE_COULDNT_RESOLVE_PROXY: kind = .proxy
            case CURLE_COULDNT_CONNECT: kind = options.proxy != nil ? .proxy : .connect
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_ABORTED_BY_CALLBACK: kind = transfer.tooLarge ? .tooLarge : .cancelled
            case CURLE_WRITE_ERROR where transfer.tooLarge: kind = .tooLarge
            case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
                 CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                kind = .tls
            case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_BAD_CONTENT_ENCODING:
                kind = .sendOrReceive
            default: kind = .other
            }
            return .failure(HTTPError(kind: kind, curlCode: Int(code.rawValue), message: "\(Self.host(request.url)): \(text)"))
        }
        var status = 0
        _ = esc_getinfo_long(c, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
    }

    private static let onBody: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
        let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
        let n = size * count
        if transfer.body.count + n > transfer.limit {
            transfer.tooLarge = true
            return 0
        }
        if let data { data.withMemoryRebound(to: UInt8.self, capacity: n) { transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) } }
        return n
    }

    private static let onHeader: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { data, size, count, user in
        let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
        let n = size * count
        guard let data else { return n }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
        if line.hasPrefix("HTTP/") {
            transfer.headers = [:]  // a new response (100-continue, proxy CONNECT)
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
            if name == "content-length", let length = Int(value), length <= transfer.limit, transfer.body.isEmpty {
                transfer.body.reserveCapacity(length)
            }
            transfer.headers[name] = value
        }
        return n
    }

    private static let onProgress: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = { user, _, _, _, _ in
        let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
        return transfer.cancel?.isCancelled == true ? 1 : 0
    }
}
