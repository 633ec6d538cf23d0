import Foundation

/// Random network faults for tests: each Graph or token request draws, from a seeded generator,
/// whether it fails and how. The same seed and the same request sequence give the same faults.
///
/// Admin API: `POST /_sim/chaos {"seed": 7, "rate": 0.3, "stallMs": 3000, "kinds": ["reset", ...]}`
/// turns it on (`kinds` defaults to all of `ChaosKind`), `DELETE /_sim/chaos` turns it off, and
/// `GET /_sim/chaos` returns how often each kind was injected. Faults set with `/_sim/faults`
/// take precedence.
struct Chaos {
    var enabled = false
    var rng = SplitMix64(seed: 1)
    var rate = 0.2
    var stallMs = 3000
    var kinds = ChaosKind.allCases
    /// Requests still to answer with 5xx in the current burst.
    var burstLeft = 0
    var burstStatus = 503
    var injected: [String: Int] = [:]
}

/// What a chaotic request suffers.
enum ChaosKind: String, CaseIterable {
    case delay, reset, truncate, invalidJSON, wrongContentType, errorBody200, serverErrorBurst
    case throttleRetryAfter, throttleNoRetryAfter, stall, expiredToken, expiredPageToken
}

extension Simulator {
    /// The fault this request suffers under chaos, if any. Called with the lock held.
    func chaosFault(_ request: Request) -> FaultRule? {
        guard chaos.enabled else { return nil }
        var rule = FaultRule(path: "", method: nil, status: 0, retryAfter: nil, count: 1, code: nil, message: nil,
                             headers: [:], delayMs: 0, body: nil, afterRequests: 0, action: nil)
        if chaos.burstLeft > 0 {
            chaos.burstLeft -= 1
            rule.status = chaos.burstStatus
            chaos.injected[ChaosKind.serverErrorBurst.rawValue, default: 0] += 1
            return rule
        }
        // Draw both numbers for every request, so one request's kind never shifts the next one's draw.
        let roll = Double.random(in: 0..<1, using: &chaos.rng)
        let pick = Int.random(in: 0..<max(1, chaos.kinds.count), using: &chaos.rng)
        guard roll < chaos.rate, !chaos.kinds.isEmpty else { return nil }
        let kind = chaos.kinds[pick]
        let isGraph = request.path.hasPrefix("/v1.0/")
        switch kind {
        case .delay:
            rule.delayMs = 20 + Int(chaos.rng.next() % 200)
        case .reset:
            rule.action = "reset"
        case .truncate:
            rule.action = "truncate"
        case .invalidJSON:
            rule.status = 200
            rule.body = "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#users\",\"value\":[{\"id\":"
        case .wrongContentType:
            rule.status = 200
            rule.headers = ["Content-Type": "text/html; charset=utf-8"]
            rule.body = "<html><body>Service temporarily unavailable</body></html>"
        case .errorBody200:
            rule.status = 200
            rule.body = "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"An internal server error occurred.\"}}"
        case .serverErrorBurst:
            chaos.burstStatus = [500, 502, 503, 504][Int(chaos.rng.next() % 4)]
            chaos.burstLeft = Int(chaos.rng.next() % 3)
            rule.status = chaos.burstStatus
        case .throttleRetryAfter:
            rule.status = 429
            rule.code = "TooManyRequests"
            rule.retryAfter = "\(chaos.rng.next() % 2)"
        case .throttleNoRetryAfter:
            rule.status = 429
            rule.code = "TooManyRequests"
        case .stall:
            rule.delayMs = chaos.stallMs
        case .expiredToken where isGraph:
            rule.status = 401
            rule.code = "InvalidAuthenticationToken"
            rule.message = "Access token has expired or is not yet valid."
        case .expiredPageToken where isGraph && request.query["$skiptoken"] != nil:
            rule.status = 400
            rule.code = "Directory_ExpiredPageToken"
            rule.message = "The specified page token value has expired and can no longer be included in your request."
        case .expiredToken, .expiredPageToken:
            return nil  // not applicable to this request
        }
        chaos.injected[kind.rawValue, default: 0] += 1
        return rule
    }

    /// `/_sim/chaos`: turn chaos on or off, or read what it injected. Called with the lock held.
    func chaosAdmin(_ method: String, _ body: [String: Any]) -> Response {
        switch method {
        case "POST":
            var next = Chaos()
            next.enabled = true
            next.rng = SplitMix64(seed: UInt64(truncatingIfNeeded: body["seed"] as? Int ?? 1))
            next.rate = min(1, max(0, body["rate"] as? Double ?? (body["rate"] as? Int).map(Double.init) ?? 0.2))
            next.stallMs = body["stallMs"] as? Int ?? 3000
            if let names = body["kinds"] as? [String] {
                let kinds = names.compactMap(ChaosKind.init(rawValue:))
                guard kinds.count == names.count else {
                    return .json(400, ["error": "unknown kind; known: \(ChaosKind.allCases.map(\.rawValue).joined(separator: ", "))"])
                }
                next.kinds = kinds
            }
            next.injected = chaos.injected
            chaos = next
            return .json(200, [:])
        case "DELETE":
            chaos.enabled = false
            chaos.burstLeft = 0
            return .json(200, ["injected": chaos.injected])
        default:
            return .json(200, ["enabled": chaos.enabled, "injected": chaos.injected])
        }
    }
}
