import EntraConfig
import EntraDirectory
import EntraHTTP
import Foundation
import Logging
import EntraLock

/// Which delta collection a round reads.
public enum DeltaKind: String, Sendable {
    case users
    case groups
}

/// Every entry of one delta round, from the first page to the `@odata.deltaLink`.
public struct DeltaRound<Entry: Sendable>: Sendable {
    public var entries: [Entry]
    /// Where the next round starts.
    public var deltaLink: String
    /// True when the round started without a delta token: it lists the whole directory.
    public var full: Bool
    /// Why a round that was meant to be incremental became a full one (410, syncStateNotFound, ...).
    public var resyncReason: String?
    public var pages: Int

    public init(entries: [Entry], deltaLink: String, full: Bool, resyncReason: String? = nil, pages: Int) {
        self.entries = entries
        self.deltaLink = deltaLink
        self.full = full
        self.resyncReason = resyncReason
        self.pages = pages
    }
}

/// Counters of one client, for status and metrics.
public struct GraphRequestCounters: Sendable, Equatable {
    public var requests = 0
    public var throttled = 0
    public var retries = 0
    public var tokenRequests = 0
    public init() {}

    /// The sum of two clients' counters (a profile's retired clients plus its current one).
    public static func + (a: Self, b: Self) -> Self {
        var sum = a
        sum.requests += b.requests
        sum.throttled += b.throttled
        sum.retries += b.retries
        sum.tokenRequests += b.tokenRequests
        return sum
    }
}

/// Reads Microsoft Graph for one profile: token, delta rounds, retries.
///
/// A profile runs one sync at a time; a parallel full sync sends requests from several threads, each
/// on its own HTTP client (`perform`). Its state is guarded.
public final class GraphClient: Sendable {
    private let profile: Profile
    /// Idle HTTP clients (each one connection, one request at a time): a request takes one, or
    /// makes one when none is idle, so parallel requests (`ParallelFullSync`) each have their own.
    private let idleClients: Locked<[HTTPClient]>
    private let httpOptions: HTTPClientOptions
    private let retry: RetryPolicy
    private let logger: Logger
    /// The only origin that receives the Graph token: the profile's Graph endpoint's.
    private let graphOrigin: URLOrigin?
    private let cachedToken = Locked<(token: String, renewAt: ContinuousClock.Instant)?>(nil)
    private let counterState = Locked(GraphRequestCounters())
    /// Until when Graph asked this client to wait (a 429's `Retry-After`): every request of the
    /// client waits it out, not only the one that was throttled, so parallel requests do not
    /// storm a bucket that is dry.
    private let throttledUntil = Locked<ContinuousClock.Instant?>(nil)

    public init(profile: Profile, retryPolicy: RetryPolicy? = nil, logger: Logger) throws(HTTPError) {
        self.profile = profile
        self.retry = retryPolicy ?? RetryPolicy(maxAttempts: profile.maxAttempts)
        self.logger = logger
        self.graphOrigin = URLOrigin(profile.graphEndpoint)
        self.httpOptions = HTTPClientOptions(caFile: profile.caFile, proxy: profile.proxy)
        self.idleClients = Locked([try HTTPClient(options: httpOptions)])
    }

    public var counters: GraphRequestCounters { counterState.withLock { $0 } }

    var graphEndpoint: String { profile.graphEndpoint }

    /// A request inside a `$batch` was answered 429: counted, and every request of the client waits
    /// `retryAfter` seconds, as after a 429 of its own.
    public func noteThrottled(retryAfter: Double) {
        counterState.withLock { $0.throttled += 1 }
        let until = ContinuousClock.now + .milliseconds(Int64(min(retryAfter, 300) * 1000))
        throttledUntil.withLock { $0 = max($0 ?? until, until) }
    }

    /// True when a client made for `a` serves `b` as well: same tenant, app, credential, endpoints,
    /// TLS and proxy, deadlines. A reload that changed anything else (interval, scope, outputs, push
    /// targets) keeps the client, and with it the cached token and the counters.
    public static func sameConnection(_ a: Profile, _ b: Profile) -> Bool {
        a.tenantId == b.tenantId && a.clientId == b.clientId && a.clientSecret == b.clientSecret && a.certificate == b.certificate
            && a.cloud == b.cloud && a.loginEndpoint == b.loginEndpoint && a.graphEndpoint == b.graphEndpoint
            && a.caFile == b.caFile && a.proxy == b.proxy && a.requestTimeout == b.requestTimeout && a.maxAttempts == b.maxAttempts
    }

    /// Closes the connections kept alive since the last request: a profile between runs holds none.
    /// Clients made for parallel requests are dropped, the first one is kept without a connection.
    public func closeConnections() {
        let first = idleClients.withLock { clients -> HTTPClient? in
            let first = clients.first
            clients = first.map { [$0] } ?? []
            return first
        }
        first?.closeConnections()
    }

    /// Performs `request` on an idle client (or a new one), which is idle again afterwards.
    private func perform(_ request: HTTPRequest, cancel: CancellationFlag) throws(HTTPError) -> HTTPResponse {
        let client: HTTPClient
        if let idle = idleClients.withLock({ $0.popLast() }) { client = idle } else { client = try HTTPClient(options: httpOptions) }
        defer { idleClients.withLock { $0.append(client) } }
        return try client.perform(request, cancel: cancel)
    }

    // MARK: Delta rounds

    /// Runs a `/users/delta` round from `deltaLink`, or a full one when it is nil or Graph demands a resync.
    /// - Parameter resyncHere: false: a resync Graph demands is thrown (`.resyncRequired`), for the
    ///   caller to read the full round another way (`ParallelFullSync`).
    public func userRound(from deltaLink: String?, resyncHere: Bool = true, cancel: CancellationFlag) throws(GraphError) -> DeltaRound<UserDelta> {
        try round(.users, from: deltaLink, resyncHere: resyncHere, cancel: cancel) { (body: [UInt8]) throws -> ([UserDelta], String?, String?) in
            if let page = body.withUnsafeBytes({ DeltaPageParser.users($0) }) { return (page.entries, page.nextLink, page.deltaLink) }
            let page = try JSONDecoder().decode(DeltaPage<UserEntry>.self, from: Data(body))
            return (page.value.map(\.delta), page.nextLink, page.deltaLink)
        }
    }

    /// Runs a `/groups/delta` round (with `members@delta`) from `deltaLink`, or a full one.
    public func groupRound(from deltaLink: String?, resyncHere: Bool = true, cancel: CancellationFlag) throws(GraphError) -> DeltaRound<GroupDelta> {
        try round(.groups, from: deltaLink, resyncHere: resyncHere, cancel: cancel) { (body: [UInt8]) throws -> ([GroupDelta], String?, String?) in
            if let page = body.withUnsafeBytes({ DeltaPageParser.groups($0) }) { return (page.entries, page.nextLink, page.deltaLink) }
            let page = try JSONDecoder().decode(DeltaPage<GroupEntry>.self, from: Data(body))
            return (page.value.map(\.delta), page.nextLink, page.deltaLink)
        }
    }

    public func initialURL(_ kind: DeltaKind) -> String {
        let select = kind == .users ? DirectoryUser.selectedProperties : DirectoryGroup.selectedProperties
        return "\(profile.graphEndpoint)/v1.0/\(kind.rawValue)/delta?$select=\(select.joined(separator: ","))"
    }

    /// Runs a round whose pages `decode` turns into entries and links (internal for tests).
    func round<Entry: Sendable>(
        _ kind: DeltaKind, from deltaLink: String?, resyncHere: Bool = true, cancel: CancellationFlag,
        decode: ([UInt8]) throws -> ([Entry], String?, String?)
    ) throws(GraphError) -> DeltaRound<Entry> {
        var start = deltaLink
        var resyncReason: String?
        var restarts = 0
        while true {
            do {
                var round = try followPages(kind, start: start ?? initialURL(kind), cancel: cancel, decode: decode)
                round.full = start == nil
                round.resyncReason = resyncReason
                return round
            } catch let error where error.kind == .resyncRequired && restarts < 3 {
                restarts += 1
                if start != nil {
                    guard resyncHere else { throw error }
                    logger.warning("Graph asked for a full resync of \(kind.rawValue): \(error.message)")
                    resyncReason = error.message
                    start = nil
                } else {
                    logger.warning("Graph reset the \(kind.rawValue) round while paging (\(error.message)); starting it again")
                }
            }
        }
    }

    /// Follows a round's pages from `start`. While a page is decoded, the next one downloads: its
    /// `@odata.nextLink` is guessed from the bytes (`PagePrefetch`), and the prefetched response is
    /// used only when the decoded page names the same link. A wrong guess costs one request; its
    /// outcome, error or not, is dropped. Every page's request ends before this returns or throws.
    private func followPages<Entry: Sendable>(
        _ kind: DeltaKind, start: String, cancel: CancellationFlag,
        decode: ([UInt8]) throws -> ([Entry], String?, String?)
    ) throws(GraphError) -> DeltaRound<Entry> {
        var entries: [Entry] = []
        var url = start
        var pages = 0
        var response = try get(url, cancel: cancel)
        while true {
            pages += 1
            let contentType = response.header("content-type") ?? ""
            guard contentType.lowercased().contains("json") else {
                throw GraphError(kind: .badResponse,
                                 message: "\(kind.rawValue)/delta page \(pages): expected JSON, got Content-Type '\(contentType)'",
                                 httpStatus: response.status, requestId: response.header("request-id"))
            }
            var prefetch: PagePrefetch?
            if let guess = PagePrefetch.nextLink(in: response.body), guess != url, graphOrigin != nil, URLOrigin(guess) == graphOrigin {
                prefetch = PagePrefetch(url: guess) { [self] next throws(GraphError) in try get(next, cancel: cancel) }
            }
            let parsed: ([Entry], String?, String?)
            do {
                parsed = try decodePage(response, number: pages, kind, decode)
            } catch {
                _ = prefetch?.wait()
                throw error
            }
            response.body = []  // the entries are out: hold no more than the prefetched page
            let prefetched = prefetch.map { (url: $0.url, outcome: $0.wait()) }
            entries.append(contentsOf: parsed.0)
            switch (parsed.1, parsed.2) {
            case (_, let deltaLink?) where parsed.1 == nil:
                try checkOrigin(deltaLink, named: "the @odata.deltaLink of \(kind.rawValue)/delta page \(pages)")
                return DeltaRound(entries: entries, deltaLink: deltaLink, full: false, resyncReason: nil, pages: pages)
            case (let next?, nil):
                guard next != url else {
                    throw GraphError(kind: .badResponse, message: "\(kind.rawValue)/delta page \(pages): @odata.nextLink points to the same page")
                }
                try checkOrigin(next, named: "the @odata.nextLink of \(kind.rawValue)/delta page \(pages)")
                url = next
                if let prefetched, prefetched.url == next {
                    response = try prefetched.outcome.get()
                } else {
                    if let prefetched { logger.debug("Guessed the wrong next \(kind.rawValue)/delta page (\(Self.redact(prefetched.url))); fetching the right one") }
                    response = try get(next, cancel: cancel)
                }
            case (.some, .some):
                throw GraphError(kind: .badResponse, message: "\(kind.rawValue)/delta page \(pages): has both @odata.nextLink and @odata.deltaLink")
            default:
                throw GraphError(kind: .badResponse, message: "\(kind.rawValue)/delta page \(pages): has neither @odata.nextLink nor @odata.deltaLink")
            }
        }
    }

    /// A page's entries and links, or the page's decoding error.
    private func decodePage<Entry>(
        _ response: HTTPResponse, number page: Int, _ kind: DeltaKind, _ decode: ([UInt8]) throws -> ([Entry], String?, String?)
    ) throws(GraphError) -> ([Entry], String?, String?) {
        do {
            return try decode(response.body)
        } catch let error as DecodingError {
            throw GraphError(kind: .badResponse,
                             message: "\(kind.rawValue)/delta page \(page): invalid response at \(error.locationDescription)",
                             httpStatus: response.status, requestId: response.header("request-id"))
        } catch {
            throw GraphError(kind: .badResponse, message: "\(kind.rawValue)/delta page \(page): invalid JSON: \(error)",
                             httpStatus: response.status, requestId: response.header("request-id"))
        }
    }

    // MARK: Requests

    /// GETs a Graph URL with auth, retries and error mapping; returns only 2xx responses.
    ///
    /// The token goes only to the origin of the profile's Graph endpoint: a URL on any other origin
    /// (a tampered `@odata.nextLink`, a stored delta link from another endpoint, an `https` link
    /// downgraded to `http`) fails before anything is sent, and redirects are never followed.
    /// - Parameter extraHeaders: more request headers (`ConsistencyLevel: eventual` for `$count`).
    public func get(_ url: String, extraHeaders: [(name: String, value: String)] = [], cancel: CancellationFlag) throws(GraphError) -> HTTPResponse {
        try send("GET", url, body: nil, extraHeaders: extraHeaders, cancel: cancel)
    }

    /// Every request to Graph: `get`, and the `POST` of a `$batch`, with the same checks and retries.
    func send(_ method: String, _ url: String, body: [UInt8]?, extraHeaders: [(name: String, value: String)] = [],
              cancel: CancellationFlag) throws(GraphError) -> HTTPResponse {
        try checkOrigin(url)
        var attempt = 0
        var refreshedToken = false
        var rng = SystemRandomNumberGenerator()
        while true {
            attempt += 1
            if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
            if let until = throttledUntil.withLock({ $0 }) {
                let left = (until - .now).components
                if left.seconds > 0 || left.attoseconds > 0 { try sleep(Double(left.seconds) + Double(left.attoseconds) / 1e18, cancel: cancel) }
            }
            let token = try accessToken(cancel: cancel)
            let clientRequestId = UUID().uuidString.lowercased()
            let request = HTTPRequest(
                method: method, url: url,
                headers: [
                    (name: "Authorization", value: "Bearer \(token)"),
                    (name: "Accept", value: "application/json"),
                    (name: "Prefer", value: "odata.maxpagesize=999"),
                    (name: "client-request-id", value: clientRequestId),
                    (name: "return-client-request-id", value: "true"),
                ] + (attempt > 1 ? [(name: "retry-attempt", value: String(attempt - 1))] : []) + extraHeaders,
                body: body, timeout: profile.requestTimeout)
            counterState.withLock { $0.requests += 1 }
            let response: HTTPResponse
            do {
                response = try perform(request, cancel: cancel)
            } catch {
                if error.kind == .cancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
                let retryable = error.kind != .tls && error.kind != .tooLarge
                logger.warning("Graph request failed: \(error.message)", metadata: ["client_request_id": "\(clientRequestId)", "attempt": "\(attempt)"])
                guard retryable, attempt < retry.maxAttempts else {
                    throw GraphError(kind: .transport, message: "\(method) \(Self.redact(url)): \(error.message)",
                                     hint: Self.transportHint(error), clientRequestId: clientRequestId)
                }
                counterState.withLock { $0.retries += 1 }
                try sleep(retry.delay(afterAttempt: attempt, retryAfter: nil, using: &rng), cancel: cancel)
                continue
            }
            let requestId = response.header("request-id")
            if (200..<300).contains(response.status) { return response }
            let body = try? JSONDecoder().decode(GraphErrorBody.self, from: Data(response.body))
            let code = body?.error?.code
            let message = body?.error?.message ?? "HTTP \(response.status)"
            let failure = GraphError(kind: .httpStatus, message: "\(method) \(Self.redact(url)): HTTP \(response.status) \(code ?? ""): \(message)",
                                     httpStatus: response.status, code: code, clientRequestId: clientRequestId, requestId: requestId)
            logger.warning("Graph answered HTTP \(response.status) \(code ?? "")",
                           metadata: ["client_request_id": "\(clientRequestId)", "request_id": "\(requestId ?? "-")", "attempt": "\(attempt)"])
            switch response.status {
            case 429, 503, 504:
                counterState.withLock { $0.throttled += response.status == 429 ? 1 : 0 }
                guard attempt < retry.maxAttempts else {
                    var exhausted = failure
                    exhausted.kind = .retriesExhausted
                    exhausted.message = "Graph kept answering HTTP \(response.status) after \(attempt) attempts: \(message)"
                    exhausted.hint = "Graph is throttling or unavailable; the next scheduled run will try again."
                    throw exhausted
                }
                counterState.withLock { $0.retries += 1 }
                let delay = retry.delay(afterAttempt: attempt, retryAfter: response.header("retry-after"), using: &rng)
                if response.status == 429 {
                    let until = ContinuousClock.now + .milliseconds(Int64(delay * 1000))
                    throttledUntil.withLock { $0 = max($0 ?? until, until) }
                }
                try sleep(delay, cancel: cancel)
            case 401 where !refreshedToken:
                refreshedToken = true
                cachedToken.withLock { $0 = nil }
            case 401:
                var unauthorized = failure
                unauthorized.kind = .unauthorized
                unauthorized.hint = "Graph rejected a freshly issued token. Check that GraphEndpoint and Cloud match the tenant's cloud."
                throw unauthorized
            case 300..<400:
                throw redirectRefused(response, from: "Graph at \(URLOrigin.describe(profile.graphEndpoint))", failure)
            case 403:
                var denied = failure
                denied.kind = .permissionDenied
                denied.hint = GraphError.permissionHint
                throw denied
            case 410:
                var resync = failure
                resync.kind = .resyncRequired
                resync.message = "410 Gone (sync reset)"
                throw resync
            case 400 where code == "syncStateNotFound" || code == "resyncRequired" || code == "Directory_ExpiredPageToken":
                var resync = failure
                resync.kind = .resyncRequired
                resync.message = "\(code ?? ""): \(message)"
                throw resync
            default:
                throw failure
            }
        }
    }

    /// A valid access token, from the cache or the token endpoint.
    public func accessToken(cancel: CancellationFlag) throws(GraphError) -> String {
        let now = ContinuousClock.now
        if let cached = cachedToken.withLock({ $0 }), cached.renewAt > now { return cached.token }
        var attempt = 0
        var rng = SystemRandomNumberGenerator()
        while true {
            attempt += 1
            if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
            var fields = [("client_id", profile.clientId), ("scope", profile.graphScope), ("grant_type", "client_credentials")]
            if let certificate = profile.certificate {
                do {
                    let assertion = try ClientAssertion.make(certificate, clientId: profile.clientId, audience: profile.tokenURL)
                    fields += [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                               ("client_assertion", assertion)]
                } catch {
                    throw GraphError(kind: .authentication, message: error.description,
                                     hint: "Check PrivateKeyFile=: it must hold the RSA private key of CertificateFile=, in PEM.")
                }
            } else {
                fields.append(("client_secret", profile.clientSecret.value))
            }
            let form = fields.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
            let clientRequestId = UUID().uuidString.lowercased()
            let request = HTTPRequest(
                method: "POST", url: profile.tokenURL,
                headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded"),
                          (name: "Accept", value: "application/json"),
                          (name: "client-request-id", value: clientRequestId)],
                body: Array(form.utf8), timeout: profile.requestTimeout)
            counterState.withLock { $0.tokenRequests += 1 }
            let response: HTTPResponse
            do {
                response = try perform(request, cancel: cancel)
            } catch {
                if error.kind == .cancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
                guard error.kind != .tls, attempt < retry.maxAttempts else {
                    throw GraphError(kind: .transport, message: "token request to \(profile.tokenURL): \(error.message)",
                                     hint: Self.transportHint(error), clientRequestId: clientRequestId)
                }
                try sleep(retry.delay(afterAttempt: attempt, retryAfter: nil, using: &rng), cancel: cancel)
                continue
            }
            if response.status == 200 {
                guard let token = try? JSONDecoder().decode(TokenResponse.self, from: Data(response.body)), !token.access_token.isEmpty else {
                    throw GraphError(kind: .badResponse, message: "token endpoint answered 200 without an access_token", httpStatus: 200)
                }
                let lifetime = max(token.expires_in ?? 3599, 0)
                let margin = min(300, lifetime / 10)
                cachedToken.withLock { $0 = (token.access_token, now + .milliseconds(Int64((lifetime - margin) * 1000))) }
                return token.access_token
            }
            if (300..<400).contains(response.status) {
                throw redirectRefused(response, from: "the token endpoint at \(URLOrigin.describe(profile.tokenURL))",
                                      GraphError(kind: .authentication, message: "", httpStatus: response.status,
                                                 clientRequestId: clientRequestId, requestId: response.header("request-id")))
            }
            if [429, 500, 502, 503, 504].contains(response.status), attempt < retry.maxAttempts {
                try sleep(retry.delay(afterAttempt: attempt, retryAfter: response.header("retry-after"), using: &rng), cancel: cancel)
                continue
            }
            let body = try? JSONDecoder().decode(TokenErrorBody.self, from: Data(response.body))
            let description = body?.error_description?.split(separator: "\r\n").first.map(String.init)
                ?? body?.error_description ?? "HTTP \(response.status)"
            let aadsts = body?.error_codes?.first
            throw GraphError(kind: .authentication,
                             message: "token request failed: HTTP \(response.status) \(body?.error ?? ""): \(description)",
                             hint: aadsts.flatMap(GraphError.hint(forAADSTS:)),
                             httpStatus: response.status, code: aadsts.map { "AADSTS\($0)" },
                             clientRequestId: clientRequestId, requestId: response.header("request-id"))
        }
    }

    // MARK: Helpers

    /// Waits, waking early when the run is cancelled.
    private func sleep(_ seconds: Double, cancel: CancellationFlag) throws(GraphError) {
        let end = Date().addingTimeInterval(seconds)
        while true {
            if cancel.isCancelled { throw GraphError(kind: .cancelled, message: "cancelled") }
            let left = end.timeIntervalSinceNow
            if left <= 0 { return }
            Thread.sleep(forTimeInterval: min(left, 0.05))
        }
    }

    static func formEncode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// Refuses a URL that is not on the Graph endpoint's origin, before it gets the token.
    func checkOrigin(_ url: String, named what: String = "a link") throws(GraphError) {
        guard let graphOrigin, URLOrigin(url) == graphOrigin else {
            let configured = graphOrigin?.description ?? "'\(profile.graphEndpoint)'"
            throw GraphError(kind: .foreignOrigin,
                             message: "refused to send the Graph token to \(URLOrigin.describe(url)): \(what) is not on the Graph endpoint \(configured)",
                             hint: "Graph's links always stay on its own host, so a response was tampered with (a TLS-intercepting proxy?) "
                                 + "or the Graph endpoint changed: if you changed GraphEndpoint= or Cloud=, run "
                                 + "`entra-syncctl run-now \(profile.name) --full` to start again from the new endpoint.")
        }
    }

    /// A 3xx is never followed: the token (or the client secret) must not travel to where it points.
    private func redirectRefused(_ response: HTTPResponse, from who: String, _ failure: GraphError) -> GraphError {
        var refused = failure
        let location = response.header("location")
        if failure.kind != .authentication, location.flatMap(URLOrigin.init) != graphOrigin { refused.kind = .foreignOrigin }
        refused.message = "\(who) answered HTTP \(response.status), a redirect to \(location.map(URLOrigin.describe) ?? "nowhere (no Location)"); "
            + "redirects are not followed, so no credential leaves the configured endpoint"
        refused.hint = "Check GraphEndpoint=, LoginEndpoint=, Cloud= and any proxy between this host and Microsoft: Microsoft's endpoints do not redirect these requests."
        return refused
    }

    /// Delta and skip tokens are long and opaque; logs get the path only.
    static func redact(_ url: String) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        let head = String(url[..<query])
        let params = url[url.index(after: query)...].split(separator: "&").map { param -> String in
            let name = param.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return name.lowercased().hasSuffix("token") ? "\(name)=…" : String(param)
        }
        return head + "?" + params.joined(separator: "&")
    }

    public static func transportHint(_ error: HTTPError) -> String? {
        switch error.kind {
        case .tls: "TLS verification failed. If a proxy or private CA intercepts TLS, give its certificate with CAFile=."
        case .proxy: "The proxy could not be reached. Check Proxy= or the https_proxy environment."
        case .resolve: "The host name could not be resolved. Check DNS and the endpoint settings."
        case .connect: "The connection was refused or unreachable. Check the network, firewall and Proxy=."
        case .timeout: "The request timed out. Check the network; RequestTimeout= sets the deadline."
        default: nil
        }
    }
}
