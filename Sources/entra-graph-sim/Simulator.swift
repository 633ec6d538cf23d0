import Foundation

struct Settings {
    var tenantId: String
    var domain: String
    var clientId: String
    var clientSecret: String
    var pageSize: Int
    var memberSlice: Int
    var tokenLifetime: Int
    /// Milliseconds each Graph page (delta, list, members, count) is held before it is answered:
    /// Graph's server time per page, the median when `latencySigma` is above 0.
    var pageLatencyMs = 0
    /// The lognormal tail of the time per page (`PageLatency`); 0: every page takes the median.
    var latencySigma = 0.0
    /// Graph's cap on member links per delta page (500 on Graph); 0: none.
    var maxLinksPerPage = 0
    /// The resource-unit bucket per app and tenant (`Throttle`): "off", "auto" (by the tenant's
    /// size, as Graph) or RU per 10 s.
    var resourceUnits = "off"
    /// Seconds the RU bucket takes to refill (Graph: 10); tests shorten it to keep throttled runs quick.
    var resourceUnitsWindow = 10.0
    /// The per-app bucket across every tenant (`Throttle`), RU per `appResourceUnitsWindow`
    /// (Graph: 150,000 per 20 s); 0: off.
    var appResourceUnits = 0
    var appResourceUnitsWindow = 20.0
    /// More tenant ids the simulator answers for, each with the same directory: the app's other
    /// customers, for the per-app bucket across tenants.
    var extraTenants: Set<String> = []
    /// The most objects a list page holds whatever `$top` asks (Graph may send fewer than asked);
    /// tests lower it to page small tenants.
    var listPageCap = 999
    var consent = true
    var secretExpired = false
    var certificate: AssertionVerifier?
}

struct FaultRule {
    var path: String
    var method: String?
    var status: Int
    var retryAfter: String?
    var count: Int
    var code: String?
    var message: String?
    var headers: [String: String]
    var delayMs: Int
    var body: String?
    var afterRequests: Int
    /// "reset", "truncate", "pad", or "decoy": a page ending in a nested `@odata.nextLink` key
    /// (valid JSON that a client guessing the next link from the bytes would follow by mistake).
    var action: String?
    /// With action "pad": bytes of padding added to the page (a huge, valid page).
    var padBytes = 0
}

struct Round {
    var pages: [[UInt8]]
}

/// The simulated tenant's HTTP face: token endpoint, Graph delta API and the admin API for tests.
final class Simulator: @unchecked Sendable {  // every field is guarded by `lock`
    private let lock = NSLock()
    var settings: Settings
    let tenant: Tenant
    /// Issued tokens: when each expires and the tenant it was issued for.
    private var tokens: [String: (expiry: Date, tenant: String)] = [:]
    /// The tenants the per-app bucket answered 429 (`appThrottledTenants` in `/_sim/stats`).
    var appThrottledTenants: Set<String> = []
    private var rounds: [String: Round] = [:]
    private var roundCache = RoundCache()
    private var nextRound = 1
    private var generation = 1
    private var resetMode = "gone"
    private var faults: [FaultRule] = []
    /// Seeded random faults (`Simulator+Chaos.swift`); guarded by `lock` like the rest.
    var chaos = Chaos()
    private var requestLog: [[String: Any]] = []
    /// `/_sim/stats`: also `requests.KIND` (`Simulator.kind`), `resourceUnits` spent,
    /// `throttledRequests` (429s sent by any RU bucket), `appThrottledRequests` (those sent by the
    /// per-app bucket) and `appThrottledTenants` (how many tenants got them).
    var stats: [String: Int] = ["tokenRequests": 0, "graphRequests": 0, "bytesServed": 0, "resourceUnits": 0, "throttledRequests": 0]
    var throttle = Throttle()
    var latency = PageLatency()
    var listIndex = ListIndex()
    /// Seconds the simulated server's clock is ahead (tests of clock-skew detection).
    private var clockSkew: Double = 0

    /// RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (written by hand: a `DateFormatter`
    /// per response cost more than rendering a page).
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    init(settings: Settings, tenant: Tenant) {
        self.settings = settings
        self.tenant = tenant
        latency.medianMs = settings.pageLatencyMs
        latency.sigma = settings.latencySigma
        configureThrottle()
    }

    func handle(_ request: Request) -> Response {
        if request.path.hasPrefix("/_sim/") {
            lock.lock()
            defer { lock.unlock() }
            return admin(request)
        }
        // Faults first; delays happen outside the lock, so other connections are served meanwhile.
        lock.lock()
        // Requests being answered at once (tests of the daemon's concurrency limit).
        stats["inFlight", default: 0] += 1
        stats["maxInFlight"] = max(stats["maxInFlight"] ?? 0, stats["inFlight"]!)
        let fault = matchFault(request) ?? chaosFault(request)
        if let fault, fault.delayMs > 0 { stats["delayedRequests", default: 0] += 1 }  // tests wait for a request to be held
        // The RU bucket and the time per page (a batch: its slowest request); a 429 is not held.
        var answered: Response?
        var latencyMs = 0
        var admittedHeaders: [(String, String)] = []
        if fault == nil || fault!.status == 0 {
            if request.method == "POST" && request.path == "/v1.0/$batch" {
                (answered, latencyMs) = batch(request)
            } else {
                let admission = admit(request)
                (answered, latencyMs, admittedHeaders) = (admission.rejected, admission.latencyMs, admission.headers)
            }
        }
        if latencyMs > 0 {
            stats["heldPages", default: 0] += 1
            stats["heldMillis", default: 0] += latencyMs
        }
        lock.unlock()
        let delayMs = (fault?.delayMs ?? 0) + latencyMs
        if delayMs > 0 { Thread.sleep(forTimeInterval: Double(delayMs) / 1000) }
        lock.lock()
        defer { lock.unlock() }
        stats["inFlight", default: 1] -= 1
        var response: Response
        if let fault, fault.status > 0 {
            var headers = fault.headers.map { ($0.key, $0.value) }
            if let retryAfter = fault.retryAfter { headers.append(("Retry-After", retryAfter)) }
            if let body = fault.body {
                let type: [(String, String)] = fault.headers["Content-Type"] == nil ? [("Content-Type", "application/json")] : []
                response = Response(status: fault.status, headers: type + headers, body: Array(body.utf8))
            } else {
                response = graphError(fault.status, fault.code ?? "Fault", fault.message ?? "Injected fault", request, headers: headers)
            }
        } else {
            response = answered ?? route(request)
            response.headers += admittedHeaders
        }
        if fault?.action == "reset" { response.resetConnection = true }
        if fault?.action == "truncate" { response.truncateBody = true }
        if fault?.action == "decoy", response.body.last == UInt8(ascii: "}") {
            let decoy = "http://\(request.header("host") ?? "localhost")\(request.path)?$skiptoken=decoy"
            response.body = response.body.dropLast() + Array(",\"@sim.decoy\":{\"@odata.nextLink\":\"\(decoy)\"}}".utf8)
        }
        if let fault, fault.action == "pad", response.body.first == UInt8(ascii: "{") {
            // An annotation clients must skip, as they skip Graph's own "@odata.*" ones.
            response.body = Array("{\"@sim.padding\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: fault.padBytes)
                + Array("\",".utf8) + response.body.dropFirst()
        }
        response.headers.append(("request-id", UUID().uuidString.lowercased()))
        response.headers.append(("Date", Self.httpDate(Date().addingTimeInterval(clockSkew))))
        if let id = request.header("client-request-id") { response.headers.append(("client-request-id", id)) }
        stats["bytesServed", default: 0] += response.body.count
        if request.header("x-sim-proxied") != nil { stats["proxiedRequests", default: 0] += 1 }
        requestLog.append(["method": request.method, "path": request.target, "prefer": request.header("prefer") ?? "",
                           "clientRequestId": request.header("client-request-id") ?? "",
                           "authorization": request.header("authorization") != nil, "status": response.status])
        if requestLog.count > 10000 { requestLog.removeFirst(requestLog.count - 10000) }
        return response
    }

    private func matchFault(_ request: Request) -> FaultRule? {
        for i in faults.indices where request.target.contains(faults[i].path) && (faults[i].method == nil || faults[i].method == request.method) {
            if faults[i].afterRequests > 0 {
                faults[i].afterRequests -= 1
                return nil
            }
            let rule = faults[i]
            faults[i].count -= 1
            if faults[i].count <= 0 { faults.remove(at: i) }
            return rule
        }
        return nil
    }

    // MARK: Routing

    func route(_ request: Request) -> Response {
        let parts = request.path.split(separator: "/").map(String.init)
        if parts.count == 4, parts[1] == "oauth2", parts[2] == "v2.0", parts[3] == "token", request.method == "POST" {
            return token(tenant: parts[0], request)
        }
        if parts.count == 4, parts[1] == "v2.0", parts[2] == ".well-known", parts[3] == "openid-configuration" {
            guard knownTenant(parts[0]) else { return aadError(400, "invalid_tenant", 90002, "Tenant '\(parts[0])' not found.") }
            let base = "http://\(request.header("host") ?? "localhost")"
            return .json(200, ["token_endpoint": "\(base)/\(settings.tenantId)/oauth2/v2.0/token",
                               "issuer": "https://login.microsoftonline.com/\(settings.tenantId)/v2.0"])
        }
        guard parts.first == "v1.0" else { return graphError(404, "Request_ResourceNotFound", "Resource not found.", request) }
        stats["graphRequests", default: 0] += 1
        guard let auth = request.header("authorization"), auth.hasPrefix("Bearer "),
              let expiry = tokens[String(auth.dropFirst(7))]?.expiry, expiry > Date() else {
            return graphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.", request)
        }
        guard settings.consent else {
            return graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", request)
        }
        if parts.count == 3, parts[2] == "delta", parts[1] == "users" || parts[1] == "groups" {
            return delta(kind: parts[1], request)
        }
        if let response = listing(parts, request) {
            return response
        }
        return graphError(404, "Request_ResourceNotFound", "Resource '\(request.path)' does not exist.", request)
    }

    private func knownTenant(_ t: String) -> Bool {
        t.lowercased() == settings.tenantId.lowercased() || t.lowercased() == settings.domain.lowercased()
            || settings.extraTenants.contains(t.lowercased())
    }

    /// The tenant the request's bearer token was issued for. Called with the lock held.
    func tokenTenant(_ request: Request) -> String? {
        guard let auth = request.header("authorization"), auth.hasPrefix("Bearer ") else { return nil }
        return tokens[String(auth.dropFirst(7))]?.tenant
    }

    // MARK: Token endpoint

    private func token(tenant t: String, _ request: Request) -> Response {
        stats["tokenRequests", default: 0] += 1
        var form: [String: String] = [:]
        for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            form[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        if let basic = request.header("authorization"), basic.hasPrefix("Basic "),
           let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
           let colon = decoded.firstIndex(of: ":") {
            form["client_id"] = String(decoded[..<colon])
            form["client_secret"] = String(decoded[decoded.index(after: colon)...])
        }
        guard knownTenant(t) else { return aadError(400, "invalid_tenant", 90002, "Tenant '\(t)' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.") }
        guard form["client_id"] == settings.clientId else {
            return aadError(400, "unauthorized_client", 700016, "Application with identifier '\(form["client_id"] ?? "")' was not found in the directory '\(t)'.")
        }
        guard let scope = form["scope"], scope.hasSuffix("/.default") else {
            return aadError(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid.")
        }
        if let assertion = form["client_assertion"] {
            guard form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" else {
                return aadError(400, "invalid_request", 50027, "client_assertion_type is missing or invalid.")
            }
            guard let verifier = settings.certificate else {
                return aadError(401, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - The key was not found.]")
            }
            if let (code, text) = verifier.check(assertion, clientId: settings.clientId, tenantPathSuffix: "/\(t)/oauth2/v2.0/token") {
                return aadError(401, "invalid_client", code, text)
            }
            stats["assertionsAccepted", default: 0] += 1
            return issueToken(tenant: t)
        }
        guard let secret = form["client_secret"], !secret.isEmpty else {
            return aadError(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        }
        guard secret == settings.clientSecret else {
            return aadError(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '\(settings.clientId)'.")
        }
        if settings.secretExpired {
            return aadError(401, "invalid_client", 7000222, "The provided client secret keys for app '\(settings.clientId)' are expired.")
        }
        return issueToken(tenant: t)
    }

    private func issueToken(tenant t: String) -> Response {
        let token = "sim." + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        // The domain and the id of the main tenant are one tenant (one bucket).
        let tenant = t.lowercased() == settings.domain.lowercased() ? settings.tenantId.lowercased() : t.lowercased()
        tokens[token] = (Date().addingTimeInterval(Double(settings.tokenLifetime)), tenant)
        return .json(200, ["token_type": "Bearer", "expires_in": settings.tokenLifetime, "ext_expires_in": settings.tokenLifetime, "access_token": token])
    }

    private func aadError(_ status: Int, _ error: String, _ code: Int, _ text: String) -> Response {
        let trace = UUID().uuidString.lowercased(), correlation = UUID().uuidString.lowercased()
        let now = ISO8601DateFormatter().string(from: Date())
        return .json(status, ["error": error,
                              "error_description": "AADSTS\(code): \(text)\r\nTrace ID: \(trace)\r\nCorrelation ID: \(correlation)\r\nTimestamp: \(now)",
                              "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": correlation,
                              "error_uri": "https://login.microsoftonline.com/error?code=\(code)"])
    }

    func graphError(_ status: Int, _ code: String, _ message: String, _ request: Request, headers: [(String, String)] = []) -> Response {
        .json(status, ["error": ["code": code, "message": message,
                                 "innerError": ["date": ISO8601DateFormatter().string(from: Date()), "request-id": UUID().uuidString.lowercased(),
                                                "client-request-id": request.header("client-request-id") ?? ""]]],
              headers: headers)
    }

    private static let contentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

    // MARK: Delta

    private func delta(kind: String, _ request: Request) -> Response {
        for unsupported in ["$top", "$expand", "$orderby"] where request.query[unsupported] != nil {
            return graphError(400, "Request_UnsupportedQuery", "Unsupported Query.", request)
        }
        let base = "http://\(request.header("host") ?? "localhost")/v1.0/\(kind)/delta"
        if let skip = request.query["$skiptoken"] {
            let parts = skip.split(separator: ".")
            guard parts.count == 2, let index = Int(parts[1]), let round = rounds[String(parts[0])], index < round.pages.count else {
                return graphError(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.", request)
            }
            return page(round.pages[index])
        }
        var since: Int?
        var select: [String]? = request.query["$select"].map { $0.split(separator: ",").map { String($0) } }
        if let token = request.query["$deltatoken"] {
            if token.lowercased() == "latest" {
                return renderRound(kind: kind, since: nil, latest: true, select: select, base: base, preferred: request)
            }
            let fields = token.split(separator: "~", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3, let gen = Int(fields[0]), let seq = Int(fields[1]), fields[2] == kind else {
                return graphError(400, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.", request)
            }
            if gen != generation {
                switch resetMode {
                case "expired":
                    return graphError(400, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.", request)
                case "resync":
                    return graphError(400, "resyncRequired", "The delta token is no longer valid, and the app must reset the sync state.", request)
                default:
                    return graphError(410, "resyncRequired", "The sync state was reset.", request, headers: [("Location", "\(base)?$deltatoken=")])
                }
            }
            since = seq
            select = fields.count > 3 && !fields[3].isEmpty ? fields[3].split(separator: ",").map(String.init) : nil
        }
        return renderRound(kind: kind, since: since, latest: false, select: select, base: base, preferred: request)
    }

    /// Starts a round: its first page, rendered once per tenant state and request (see `RoundCache`).
    private func renderRound(kind: String, since: Int?, latest: Bool, select: [String]?, base: String, preferred: Request) -> Response {
        var size = settings.pageSize
        if let prefer = preferred.header("prefer"), let r = prefer.range(of: "odata.maxpagesize=") {
            let n = Int(prefer[r.upperBound...].prefix { $0.isNumber }) ?? size
            size = max(1, min(size, n))
        }
        let key = RoundCache.Key(kind: kind, since: since, latest: latest, select: select, pageSize: size,
                                 memberSlice: settings.memberSlice, maxLinksPerPage: settings.maxLinksPerPage, base: base, generation: generation)
        if let cached = roundCache.roundId(for: key, sequence: tenant.sequence), let round = rounds[cached] {
            stats["roundCacheHits", default: 0] += 1
            return page(round.pages[0])
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let roundId = "r\(generation)x\(nextRound)"
        nextRound += 1
        let deltaToken = "\(generation)~\(tenant.sequence)~\(kind)~\(select?.joined(separator: ",") ?? "")"
        let encodedToken = deltaToken.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? deltaToken
        var renderer = PageRenderer(pageSize: size, context: "https://graph.microsoft.com/v1.0/$metadata#\(kind)",
                                    nextLinkPrefix: "\(base)?$skiptoken=\(roundId).", deltaLink: "\(base)?$deltatoken=\(encodedToken)")
        renderer.maxLinksPerPage = settings.maxLinksPerPage
        if !latest {
            if kind == "users" {
                PageRenderer.users(tenant, since: since, select: select, into: &renderer)
            } else {
                PageRenderer.groups(tenant, since: since, select: select, slice: settings.memberSlice, into: &renderer)
            }
        }
        let pages = renderer.finish()
        rounds[roundId] = Round(pages: pages)
        roundCache.store(roundId, for: key, sequence: tenant.sequence)
        stats["roundsRendered", default: 0] += 1
        stats["pagesRendered", default: 0] += pages.count
        stats["bytesRendered", default: 0] += pages.reduce(0) { $0 + $1.count }
        stats["renderMicros", default: 0] += Int((DispatchTime.now().uptimeNanoseconds - started) / 1000)
        return page(pages[0])
    }

    func page(_ body: [UInt8]) -> Response {
        Response(status: 200, headers: [("Content-Type", Self.contentType), ("OData-Version", "4.0")], body: body)
    }

    // MARK: Admin

    private func admin(_ request: Request) -> Response {
        let parts = request.path.split(separator: "/").map(String.init).dropFirst().map { $0 }
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
        let notFound = Response.json(404, ["error": "not found"])
        switch (request.method, parts.first ?? "", parts.count) {
        case ("GET", "state", 1):
            return .json(200, tenant.stateJSON())
        case ("GET", "stats", 1):
            return .json(200, stats)
        case ("DELETE", "stats", 1):
            for key in stats.keys { stats[key] = 0 }
            appThrottledTenants = []
            return .json(200, [:])
        case ("GET", "requests", 1):
            return .json(200, ["requests": requestLog])
        case ("DELETE", "requests", 1):
            requestLog = []
            return .json(200, [:])
        case ("POST", "faults", 1):
            faults.append(FaultRule(path: body["path"] as? String ?? "", method: body["method"] as? String,
                                    status: body["status"] as? Int ?? 0, retryAfter: body["retryAfter"] as? String,
                                    count: body["count"] as? Int ?? 1, code: body["code"] as? String, message: body["message"] as? String,
                                    headers: body["headers"] as? [String: String] ?? [:], delayMs: body["delayMs"] as? Int ?? 0,
                                    body: body["body"] as? String, afterRequests: body["afterRequests"] as? Int ?? 0,
                                    action: body["action"] as? String, padBytes: body["padBytes"] as? Int ?? 0))
            return .json(201, [:])
        case (_, "chaos", 1):
            return chaosAdmin(request.method, body)
        case ("DELETE", "faults", 1):
            faults = []
            return .json(200, [:])
        case ("POST", "revoke-tokens", 1):
            tokens = [:]
            return .json(200, [:])
        case ("POST", "reset-sync", 1):
            generation += 1
            resetMode = body["mode"] as? String ?? "gone"
            rounds = [:]
            return .json(200, ["generation": generation])
        case ("POST", "settings", 1):
            if let v = body["pageSize"] as? Int { settings.pageSize = max(1, v) }
            if let v = body["memberSlice"] as? Int { settings.memberSlice = max(1, v) }
            if let v = body["tokenLifetime"] as? Int { settings.tokenLifetime = v }
            if let v = body["pageLatencyMs"] as? Int { settings.pageLatencyMs = max(0, v) }
            if let v = body["latencySigma"] as? Double { settings.latencySigma = max(0, v) }
            if let v = body["maxLinksPerPage"] as? Int { settings.maxLinksPerPage = max(0, v) }
            if let v = body["resourceUnits"] { settings.resourceUnits = "\(v)" }
            if let v = body["resourceUnitsWindow"] as? Double, v > 0 { settings.resourceUnitsWindow = v }
            if let v = body["appResourceUnits"] as? Int { settings.appResourceUnits = max(0, v) }
            if let v = body["appResourceUnitsWindow"] as? Double, v > 0 { settings.appResourceUnitsWindow = v }
            if let v = body["listPageCap"] as? Int { settings.listPageCap = min(999, max(1, v)) }
            (latency.medianMs, latency.sigma) = (settings.pageLatencyMs, settings.latencySigma)
            if ["resourceUnits", "resourceUnitsWindow", "appResourceUnits", "appResourceUnitsWindow"].contains(where: { body[$0] != nil }) {
                configureThrottle()
            }
            if let v = body["consent"] as? Bool { settings.consent = v }
            if let v = body["secretExpired"] as? Bool { settings.secretExpired = v }
            if let v = body["clockSkew"] as? Double { clockSkew = v }
            if let v = body["clockSkew"] as? Int { clockSkew = Double(v) }
            return .json(200, [:])
        case ("POST", "churn", 1):
            let counts = tenant.churn(seed: UInt64(body["seed"] as? Int ?? 1), changes: body["changes"] as? Int ?? 10)
            return .json(200, counts)
        case ("POST", "users", 1):
            let id = tenant.createUser(body)
            return .json(201, tenant.users[id]!)
        case (_, "users", 2), (_, "users", 3):
            let id = parts[1].lowercased()
            guard let status = tenant.userStatus[id], status != .hard else { return notFound }
            switch (request.method, parts.count == 3 ? parts[2] : "") {
            case ("PATCH", ""):
                tenant.patchUser(id, body)
            case ("DELETE", ""):
                if request.query["permanent"] == "true" { tenant.hardDeleteUser(id) } else { tenant.softDeleteUser(id) }
            case ("POST", "restore"):
                guard status == .soft else { return .json(400, ["error": "user is not deleted"]) }
                tenant.restoreUser(id)
            default:
                return notFound
            }
            return .json(200, tenant.users[id]!)
        case ("POST", "groups", 1):
            let id = tenant.createGroup(body)
            return .json(201, tenant.groups[id]!)
        case (_, "groups", 2), (_, "groups", 3), (_, "groups", 4):
            let id = parts[1].lowercased()
            guard tenant.isLiveGroup(id) else { return notFound }
            switch (request.method, parts.count) {
            case ("PATCH", 2): tenant.patchGroup(id, body)
            case ("DELETE", 2): tenant.deleteGroup(id)
            case ("POST", 3) where parts[2] == "members":
                guard let member = (body["id"] as? String)?.lowercased(),
                      tenant.userStatus[member] != nil || tenant.isLiveGroup(member) else { return notFound }
                tenant.addMember(group: id, member: member)
            case ("DELETE", 4) where parts[2] == "members":
                guard tenant.members[id]?[parts[3].lowercased()] != nil else { return notFound }
                tenant.removeMember(group: id, member: parts[3].lowercased())
            default:
                return notFound
            }
            return .json(200, tenant.groups[id]!)
        default:
            return notFound
        }
    }
}
