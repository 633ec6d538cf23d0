import Foundation

/// What the RU bucket and the time per page make of one Graph request (`Throttle`, `PageLatency`).
struct Admission {
    /// The 429 to send instead of an answer.
    var rejected: Response?
    var latencyMs = 0
    /// `x-ms-resource-unit`, and `x-ms-throttle-limit-percentage` near the limit.
    var headers: [(String, String)] = []
}

extension Simulator {
    /// Builds the buckets from `settings.resourceUnits` and `settings.appResourceUnits`. Called with the lock held.
    func configureThrottle() {
        let capacity: Int
        switch settings.resourceUnits {
        case "off", "0": capacity = 0
        case "auto": capacity = Throttle.tenantCapacity(users: tenant.userStatus.values.filter { $0 == .live }.count)
        default: capacity = max(0, Int(settings.resourceUnits) ?? 0)
        }
        throttle.tenantShape = .init(capacity: Double(capacity), window: settings.resourceUnitsWindow)
        throttle.appShape = .init(capacity: Double(settings.appResourceUnits), window: settings.appResourceUnitsWindow)
        throttle.reset()
        stats["resourceUnitCapacity"] = capacity
        stats["appResourceUnitCapacity"] = settings.appResourceUnits
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// The kind of a request in `/_sim/stats` (`requests.KIND`).
    static func kind(_ request: Request) -> String {
        let parts = request.path.split(separator: "/")
        switch (parts.count, parts.count > 1 ? String(parts[1]) : "", parts.last.map(String.init) ?? "") {
        case (3, "users", "delta"): return "usersDelta"
        case (3, "groups", "delta"): return "groupsDelta"
        case (2, "users", _): return "usersList"
        case (2, "groups", _): return "groupsList"
        case (3, "users", "$count"): return "usersCount"
        case (3, "groups", "$count"): return "groupsCount"
        case (4, "groups", "members"): return "groupMembers"
        case (2, "$batch", _): return "batch"
        default: return "other"
        }
    }

    /// Counts a Graph request, charges its RU and draws its time per page. Called with the lock held.
    func admit(_ request: Request) -> Admission {
        guard request.path.hasPrefix("/v1.0/") else { return Admission() }
        stats["requests.\(Self.kind(request))", default: 0] += 1
        var admission = Admission()
        // The tenant is the one the bearer token was issued for (as Graph reads it from the token).
        let tenant = tokenTenant(request) ?? settings.tenantId.lowercased()
        let cost = Throttle.cost(method: request.method, path: request.path, query: request.query)
        switch throttle.charge(cost, app: settings.clientId, tenant: tenant, now: Self.now()) {
        case .admitted(let cost, let percentage):
            stats["resourceUnits", default: 0] += cost
            if throttle.enabled { admission.headers.append(("x-ms-resource-unit", String(cost))) }
            if let percentage { admission.headers.append(("x-ms-throttle-limit-percentage", String(format: "%.2f", percentage))) }
            if request.method == "GET" { admission.latencyMs = latency.sample() }
        case .throttled(let cost, let retryAfter, let scope, let perApp):
            stats["throttledRequests", default: 0] += 1
            if perApp {
                stats["appThrottledRequests", default: 0] += 1
                appThrottledTenants.insert(tenant)
                stats["appThrottledTenants"] = appThrottledTenants.count
            }
            admission.rejected = graphError(429, "TooManyRequests", "Please retry again later.", request, headers: [
                ("Retry-After", String(retryAfter)), ("x-ms-resource-unit", String(cost)),
                ("x-ms-throttle-limit-percentage", "1.00"), ("x-ms-throttle-scope", scope),
                ("x-ms-throttle-information", "ResourceUnitLimitExceeded"),
            ])
        }
        return admission
    }
}
