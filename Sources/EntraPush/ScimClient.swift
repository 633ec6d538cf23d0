import EntraConfig
import EntraHTTP
import EntraMirror
import Foundation

/// Why a SCIM target cannot be used right now; the push stops and is retried later.
public struct ScimTargetError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unavailable, unauthorized, protocolError, cancelled }
    public var kind: Kind
    public var message: String
    public var description: String { message }
}

/// A target's answer to one request.
struct ScimResponse {
    var status: Int
    var body: [UInt8]
    var etag: String?

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    var isSuccess: Bool { (200..<300).contains(status) }

    /// The server's `detail` (RFC 7644 §3.12), else the start of the body.
    var detail: String {
        if let json, let detail = json["detail"] as? String, !detail.isEmpty {
            if let type = json["scimType"] as? String { return "\(detail) (scimType \(type))" }
            return detail
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "HTTP \(status)" : text
    }
}

/// HTTP to one SCIM target: bearer auth, a request rate limit, and bounded retries.
///
/// Retries (per request, at most 4 attempts, jittered ±20%):
///
/// | attempt | wait before it                          |
/// |---------|-----------------------------------------|
/// | 2       | 1 s, or Retry-After (429/503, ≤ 120 s)  |
/// | 3       | 2 s, or Retry-After                     |
/// | 4       | 4 s, or Retry-After                     |
///
/// Transport errors, 429, 500, 502, 503 and 504 are retried; when the attempts run out the target
/// is unavailable. 401 and 403 stop the push at once: the token is wrong.
public final class ScimClient {
    let target: ScimTarget
    private let http: HTTPClient
    private let cancel: CancellationFlag
    private var nextSlot = 0.0
    private(set) var requests = 0
    private(set) var bytesSent = 0
    static let maxAttempts = 4
    static let maxRetryAfter = 120.0

    public init(target: ScimTarget, cancel: CancellationFlag) throws(ScimTargetError) {
        self.target = target
        self.cancel = cancel
        var options = HTTPClientOptions(caFile: target.caFile, proxy: target.proxy)
        options.lowSpeedTime = min(30, target.requestTimeout)
        options.maxResponseBytes = 256 << 20
        do {
            http = try HTTPClient(options: options)
        } catch {
            throw ScimTargetError(kind: .unavailable, message: "SCIM target \(target.name): \(error)")
        }
    }

    /// Sends one request; `path` is relative to the endpoint (starts with "/").
    func send(_ method: String, _ path: String, json: Any? = nil, ifMatch: String? = nil) throws(ScimTargetError) -> ScimResponse {
        var body: [UInt8]?
        if let json {
            guard let data = try? JSONSerialization.data(withJSONObject: json, options: [.withoutEscapingSlashes]) else {
                throw ScimTargetError(kind: .protocolError, message: "cannot encode a \(method) \(path) body")
            }
            body = Array(data)
        }
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(target.bearerToken.value)"),
                                                         ("Accept", "application/scim+json, application/json")]
        if body != nil { headers.append(("Content-Type", "application/scim+json")) }
        if let ifMatch { headers.append(("If-Match", ifMatch)) }
        let request = HTTPRequest(method: method, url: target.endpoint + path, headers: headers, body: body, timeout: target.requestTimeout)
        var lastProblem = ""
        for attempt in 1...Self.maxAttempts {
            try pace()
            requests += 1
            bytesSent += body?.count ?? 0
            var retryAfter: Double?
            do {
                let response = try http.perform(request, cancel: cancel)
                let answer = ScimResponse(status: response.status, body: response.body, etag: response.header("etag"))
                switch response.status {
                case 401, 403:
                    throw ScimTargetError(kind: .unauthorized, message: "SCIM target \(target.name) refused the bearer token (HTTP \(response.status): \(answer.detail)); check \(tokenKey)")
                case 429, 500, 502, 503, 504:
                    lastProblem = "HTTP \(response.status) \(answer.detail)"
                    retryAfter = response.header("retry-after").flatMap(Double.init).map { min(max($0, 0), Self.maxRetryAfter) }
                default:
                    return answer
                }
            } catch let error as ScimTargetError {
                throw error
            } catch let error as HTTPError {
                if error.kind == .cancelled || cancel.isCancelled {
                    throw ScimTargetError(kind: .cancelled, message: "cancelled: the daemon is stopping")
                }
                if error.kind == .tls {
                    throw ScimTargetError(kind: .unavailable, message: "SCIM target \(target.name): TLS failed: \(error.message); set CAFile= if the server uses a private CA")
                }
                lastProblem = error.message
            } catch {
                lastProblem = "\(error)"
            }
            guard attempt < Self.maxAttempts else { break }
            let wait = retryAfter ?? Backoff.request.delay(afterFailures: attempt)
            try sleep(wait)
        }
        throw ScimTargetError(kind: .unavailable, message: "SCIM target \(target.name) unavailable: \(method) \(path) failed \(Self.maxAttempts) times; last: \(lastProblem)")
    }

    private var tokenKey: String {
        switch target.tokenSource {
        case .file(let path): "BearerTokenFile=\(path)"
        case .credential(let name): "BearerTokenCredential=\(name)"
        default: "BearerToken="
        }
    }

    /// Waits for the next request slot of MaxRequestsPerSecond=.
    private func pace() throws(ScimTargetError) {
        guard target.maxRequestsPerSecond > 0 else { return }
        let now = Date().timeIntervalSince1970
        let slot = max(now, nextSlot)
        nextSlot = slot + 1 / target.maxRequestsPerSecond
        if slot > now { try sleep(slot - now) }
    }

    /// Sleeps, waking early when the daemon stops.
    private func sleep(_ seconds: Double) throws(ScimTargetError) {
        let end = Date().timeIntervalSince1970 + seconds
        while true {
            if cancel.isCancelled { throw ScimTargetError(kind: .cancelled, message: "cancelled: the daemon is stopping") }
            let left = end - Date().timeIntervalSince1970
            if left <= 0 { return }
            Thread.sleep(forTimeInterval: min(left, 0.2))
        }
    }
}
