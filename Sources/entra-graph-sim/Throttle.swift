import Foundation

/// Graph's throttling for identity and access: token buckets of resource units (RU).
///
/// Each request costs RU (`cost(method:path:query:)`) and must fit into every bucket of its scopes:
/// the bucket per app and tenant, 3,500 / 5,000 / 8,000 RU per 10 s for tenants with under 50 /
/// 50–500 / over 500 users, and, when configured, the per-app bucket across tenants (Graph:
/// 150,000 RU per 20 s; off unless `--app-resource-units` sets it). Buckets are made per scope on
/// first use; a request is admitted only when every bucket of its scopes has room, and then it is
/// charged to all of them.
///
/// | request | RU |
/// |---|---|
/// | any request | 1 |
/// | `GET /users` (a list) | 2 |
/// | `GET /groups/{id}/members` | 3 |
/// | `GET /groups/{id}/transitiveMembers` | 5 |
/// | with `$select` | −1 |
/// | with `$expand` | +1 |
/// Never less than 1. Delta requests count as "any request" (UNCONFIRMED: Graph's table has no row
/// for them).
///
/// Responses carry `x-ms-resource-unit` (what the request cost) and, once a bucket is more than
/// 80 % spent, `x-ms-throttle-limit-percentage` (its fill, 0.8–1.8 as Graph writes it). A request
/// that does not fit gets 429 with `Retry-After`: the whole seconds until its cost has refilled.
struct Throttle {
    /// A bucket of `capacity` RU that refills fully in `window` seconds, continuously.
    struct Limit {
        var scope: String
        var capacity: Double
        var window: Double
        var tokens: Double
        var updated: Double

        init(scope: String, capacity: Double, window: Double, now: Double) {
            self.scope = scope
            self.capacity = capacity
            self.window = window
            tokens = capacity
            updated = now
        }

        var rate: Double { capacity / window }

        mutating func refill(_ now: Double) {
            tokens = min(capacity, tokens + max(0, now - updated) * rate)
            updated = now
        }

        /// How much of the bucket is spent, 0…1.
        var used: Double { 1 - tokens / capacity }
    }

    enum Decision: Equatable {
        /// `percentage`: the fullest bucket's fill, when past 0.8.
        case admitted(cost: Int, percentage: Double?)
        /// `perApp`: the bucket that had no room is the app's across tenants.
        case throttled(cost: Int, retryAfter: Int, scope: String, perApp: Bool)
    }

    /// The size of a kind of bucket; capacity 0: that kind is off.
    struct Shape {
        var capacity: Double = 0
        var window: Double = 10
    }

    /// The bucket per app and tenant.
    var tenantShape = Shape()
    /// The bucket per app across all tenants (off unless configured).
    var appShape = Shape(capacity: 0, window: 20)
    /// Every bucket in use, by scope.
    private(set) var limits: [String: Limit] = [:]

    var enabled: Bool { tenantShape.capacity > 0 || appShape.capacity > 0 }

    /// Forgets every bucket (new shapes take effect with full buckets).
    mutating func reset() { limits = [:] }

    /// The app+tenant bucket Graph gives a tenant of `users` users, RU per 10 s.
    static func tenantCapacity(users: Int) -> Int {
        users < 50 ? 3_500 : users <= 500 ? 5_000 : 8_000
    }

    static func cost(method: String, path: String, query: [String: String]) -> Int {
        let parts = path.split(separator: "/")
        var cost = 1
        if method == "GET" {
            if parts.count == 2, parts[1] == "users" { cost = 2 }
            if parts.count == 4, parts[1] == "groups", parts[3] == "members" { cost = 3 }
            if parts.count == 4, parts[1] == "groups", parts[3] == "transitiveMembers" { cost = 5 }
        }
        if query["$select"] != nil { cost -= 1 }
        if query["$expand"] != nil { cost += 1 }
        return max(1, cost)
    }

    /// Charges `cost` to every bucket of the request's scopes, or none of them when one has no room.
    mutating func charge(_ cost: Int, app: String, tenant: String, now: Double) -> Decision {
        guard enabled else { return .admitted(cost: cost, percentage: nil) }
        var scopes: [(String, Shape, Bool)] = []
        if tenantShape.capacity > 0 { scopes.append(("Tenant_Application/\(app)/\(tenant)", tenantShape, false)) }
        if appShape.capacity > 0 { scopes.append(("Application/\(app)", appShape, true)) }
        for (scope, shape, _) in scopes {
            if limits[scope] == nil { limits[scope] = Limit(scope: scope, capacity: shape.capacity, window: shape.window, now: now) }
            limits[scope]!.refill(now)
        }
        if let (scope, _, perApp) = scopes.first(where: { limits[$0.0]!.tokens < Double(cost) }) {
            let short = limits[scope]!
            let wait = (Double(cost) - short.tokens) / short.rate
            return .throttled(cost: cost, retryAfter: max(1, Int(wait.rounded(.up))), scope: scope, perApp: perApp)
        }
        for (scope, _, _) in scopes { limits[scope]!.tokens -= Double(cost) }
        let fullest = scopes.map { limits[$0.0]!.used }.max() ?? 0
        return .admitted(cost: cost, percentage: fullest > 0.8 ? fullest : nil)
    }
}
