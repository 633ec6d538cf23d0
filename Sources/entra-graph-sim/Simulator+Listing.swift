import Foundation

/// Graph's plain listings, as a parallel full sync reads them:
/// - `GET /users?$top=&$select=&$filter=startswith(userPrincipalName,'x')&$count=true`: live users
///   (soft-deleted ones are not listed, as in Graph), up to 999 a page, matching case-insensitively;
/// - `GET /groups?$top=&$select=`: live groups, without members;
/// - `GET /groups/{id}/members?$select=id&$top=`: direct members with their `@odata.type`
///   (soft-deleted users are hidden, as in Graph);
/// - `GET /users/$count`, `/groups/$count`: a plain-text number; they need `ConsistencyLevel: eventual`;
///   `/users/$count` also takes the `startswith` filter.
/// Pages go in id order; `@odata.nextLink` repeats the query with `$skiptoken` set to the last id
/// served, so a page is never skipped or served twice while the tenant changes.
extension Simulator {
    func listing(_ parts: [String], _ request: Request) -> Response? {
        guard request.method == "GET" else { return nil }
        if parts.count == 3, parts[2] == "$count", parts[1] == "users" || parts[1] == "groups" {
            return count(kind: parts[1], request)
        }
        if parts.count == 2, parts[1] == "users" || parts[1] == "groups" {
            return list(kind: parts[1], request)
        }
        if parts.count == 4, parts[1] == "groups", parts[3] == "members" {
            return members(group: parts[2].lowercased(), request)
        }
        return nil
    }

    private func count(kind: String, _ request: Request) -> Response {
        guard request.header("consistencylevel")?.lowercased() == "eventual" else {
            return graphError(400, "Request_BadRequest", "$count is only supported with the header 'ConsistencyLevel: eventual'.", request)
        }
        let n: Int
        if let filter = request.query["$filter"] {
            guard kind == "users", let value = Self.startsWith(filter, property: "userPrincipalName") else {
                return graphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'userPrincipalName' of resource 'User'.", request)
            }
            n = listIndex.users(value.lowercased(), tenant).count
        } else {
            n = kind == "users" ? tenant.userStatus.values.filter { $0 == .live }.count : tenant.groups.count - tenant.deletedGroups.count
        }
        return Response(status: 200, headers: [("Content-Type", "text/plain;charset=utf-8")], body: Array(String(n).utf8))
    }

    /// `$top`: default 100, 1–999; nil otherwise (`badPageSize`).
    private func pageSize(_ request: Request) -> Int? {
        let top = Int(request.query["$top"] ?? "100") ?? -1
        return (1...999).contains(top) ? min(top, settings.listPageCap) : nil
    }

    private func badPageSize(_ request: Request) -> Response {
        graphError(400, "Request_UnsupportedQuery", "Invalid page size specified: '\(request.query["$top"] ?? "")'. Must be between 1 and 999 inclusive.", request)
    }

    private func list(kind: String, _ request: Request) -> Response {
        guard let top = pageSize(request) else { return badPageSize(request) }
        var prefix: String?
        if let filter = request.query["$filter"] {
            guard kind == "users", let value = Self.startsWith(filter, property: "userPrincipalName") else {
                return graphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'userPrincipalName' of resource 'User'.", request)
            }
            prefix = value.lowercased()
        }
        if request.query["$count"] == "true", request.header("consistencylevel")?.lowercased() != "eventual" {
            return graphError(400, "Request_BadRequest", "$count is only supported with the header 'ConsistencyLevel: eventual'.", request)
        }
        let select = request.query["$select"].map { $0.split(separator: ",").map(String.init) }
        let keys = kind == "users" ? select ?? Tenant.defaultUserProperties : select.map { $0.filter { $0 != "members" } }
        let matching = kind == "users" ? listIndex.users(prefix, tenant) : listIndex.groups(tenant)
        let selectKey = "\(kind)|\(keys?.joined(separator: ",") ?? "*")"
        return listPage(kind: kind, sortedIds: matching, top: top, request: request,
                        count: request.query["$count"] == "true" ? matching.count : nil) { out, id in
            out.bytes += listIndex.encoded(id, kind: kind, selectKey: selectKey, keys: keys, tenant)
        }
    }

    private func members(group: String, _ request: Request) -> Response {
        guard tenant.isLiveGroup(group) else {
            return graphError(404, "Request_ResourceNotFound", "Resource '\(group)' does not exist or one of its queried reference-property objects are not present.", request)
        }
        guard let top = pageSize(request) else { return badPageSize(request) }
        let current = tenant.members[group] ?? [:]
        let ids = listIndex.members(group, tenant)
        let select = request.query["$select"].map { $0.split(separator: ",").map(String.init) }
        return listPage(kind: "directoryObjects", sortedIds: ids, top: top, request: request, count: nil) { out, id in
            let type = current[id]!
            if select == ["id"] {
                // What a sync asks (L has a million of these): written straight, as `object` would.
                out.raw("{\"id\":")
                out.string(id)
                out.raw(type == "user" ? ",\"@odata.type\":\"#microsoft.graph.user\"}" : ",\"@odata.type\":\"#microsoft.graph.group\"}")
                return
            }
            let bag = (type == "user" ? tenant.users[id] : tenant.groups[id]) ?? ["id": id]
            out.object(bag, keys: select ?? ["displayName"]) { out in
                out.raw(",\"@odata.type\":\"#microsoft.graph.")
                out.raw(type)
                out.raw("\"")
            }
        }
    }

    /// One page of `sortedIds` after the request's `$skiptoken`, with the next link when more follow.
    private func listPage(kind: String, sortedIds: [String], top: Int, request: Request, count: Int?,
                          entry: (inout JSONBytes, String) -> Void) -> Response {
        var start = 0
        if let after = request.query["$skiptoken"] {
            var low = 0, high = sortedIds.count
            while low < high {
                let mid = (low + high) / 2
                if sortedIds[mid] <= after { low = mid + 1 } else { high = mid }
            }
            start = low
        }
        let end = min(sortedIds.count, start + top)
        var out = JSONBytes()
        out.raw("{\"@odata.context\":")
        out.string("https://graph.microsoft.com/v1.0/$metadata#\(kind)")
        if let count {
            out.raw(",\"@odata.count\":")
            out.raw(String(count))
        }
        out.raw(",\"value\":[")
        for (n, id) in sortedIds[start..<end].enumerated() {
            if n > 0 { out.raw(",") }
            entry(&out, id)
        }
        out.raw("]")
        if end < sortedIds.count {
            // The same query (as the client encoded it), with the last id served as the skip token.
            let base = "http://\(request.header("host") ?? "localhost")\(request.target.split(separator: "?").first ?? "")"
            let kept = request.target.split(separator: "?", maxSplits: 1).dropFirst().first?.split(separator: "&")
                .filter { !$0.lowercased().hasPrefix("$skiptoken=") && !$0.lowercased().hasPrefix("%24skiptoken=") } ?? []
            out.raw(",\"@odata.nextLink\":")
            out.string("\(base)?\((kept + ["$skiptoken=\(sortedIds[end - 1])"]).joined(separator: "&"))")
        }
        out.raw("}")
        return page(out.bytes)
    }

    /// The string literal of `startswith(PROPERTY,'literal')` (OData: `''` is one quote), or nil.
    static func startsWith(_ filter: String, property: String) -> String? {
        let head = "startswith(\(property.lowercased()),'"
        let text = filter.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix(head), text.hasSuffix("')") else { return nil }
        let body = text.dropFirst(head.count).dropLast(2)
        var value = ""
        var quote = false
        for c in body {
            if quote {
                guard c == "'" else { return nil }
                value.append("'")
                quote = false
            } else if c == "'" {
                quote = true
            } else {
                value.append(c)
            }
        }
        return quote ? nil : value
    }
}

/// What the listings page through, kept until the tenant changes, so that a page of a large
/// tenant is a binary search and a concatenation rather than a sort and a rendering (the simulator
/// answers under one lock, so its time per page is every other connection's wait):
/// - sorted ids of the live users (by prefix: from their first character's bucket) and groups,
///   and of each group's live members, built on first use after a change (`Tenant.sequence`);
/// - every object's properties, each value encoded to JSON once (`Fragments`), again only when
///   that object changed (`Tenant.userChanged`, `groupChanged`), and from them its JSON for each
///   `$select` asked, so a change to one object re-encodes that object only.
/// `warm()` builds all of it at start-up, so the first listing of a big tenant costs no more than
/// the next (Graph's own work is not the client's CPU).
struct ListIndex {
    /// An object's properties in key order, each with its value's JSON: `json[ends[i - 1]..<ends[i]]`
    /// (three arrays an object, not one a property: the XL tenant has a million users).
    struct Fragments {
        var keys: [String] = []
        var ends: [Int] = []
        var json: [UInt8] = []
    }

    private var sequence = -1
    private var liveUsers: [(id: String, upn: String)]?
    /// Live users by the first character of their lowercased UPN, in id order.
    private var byFirst: [Character: [(id: String, upn: String)]] = [:]
    private var byPrefix: [String?: [String]] = [:]
    private var liveGroups: [String]?
    private var liveMembers: [String: [String]] = [:]
    /// id → (the object's change sequence when encoded, its properties).
    private var fragments: [String: (changed: Int, fragments: Fragments)] = [:]
    /// `kind|select` → id → (the object's change sequence when encoded, its JSON).
    private var encodedObjects: [String: [String: (changed: Int, bytes: [UInt8])]] = [:]

    private mutating func refresh(_ tenant: Tenant) {
        guard tenant.sequence != sequence else { return }
        sequence = tenant.sequence
        liveUsers = nil
        byFirst = [:]
        byPrefix = [:]
        liveGroups = nil
        liveMembers = [:]
    }

    /// Everything a full listing of the tenant as it is now will ask for.
    mutating func warm(_ tenant: Tenant) {
        _ = users(nil, tenant)
        for id in groups(tenant) { _ = members(id, tenant) }
        for id in tenant.users.keys { _ = objectFragments(id, kind: "users", tenant) }
        for id in tenant.groups.keys { _ = objectFragments(id, kind: "groups", tenant) }
    }

    /// Live users whose UPN starts with `prefix` (lowercased; nil: all), by id.
    mutating func users(_ prefix: String?, _ tenant: Tenant) -> [String] {
        refresh(tenant)
        if let ids = byPrefix[prefix] { return ids }
        if liveUsers == nil {
            let live = tenant.users.keys.filter { tenant.userStatus[$0] == .live }.sorted()
                .map { ($0, (tenant.users[$0]?["userPrincipalName"] as? String ?? "").lowercased()) }
            liveUsers = live
            byFirst = Dictionary(grouping: live) { $0.upn.first ?? " " }
        }
        let ids: [String]
        if let prefix, let first = prefix.first {
            ids = (byFirst[first] ?? []).filter { $0.upn.hasPrefix(prefix) }.map(\.id)
        } else {
            ids = liveUsers!.map(\.id)
        }
        byPrefix[prefix] = ids
        return ids
    }

    mutating func groups(_ tenant: Tenant) -> [String] {
        refresh(tenant)
        if let liveGroups { return liveGroups }
        let ids = tenant.groups.keys.filter { !tenant.deletedGroups.contains($0) }.sorted()
        liveGroups = ids
        return ids
    }

    /// A group's direct members as `/members` lists them (soft-deleted users hidden), by id.
    mutating func members(_ group: String, _ tenant: Tenant) -> [String] {
        refresh(tenant)
        if let ids = liveMembers[group] { return ids }
        let ids = (tenant.members[group] ?? [:]).keys.filter { tenant.userStatus[$0] == nil || tenant.userStatus[$0] == .live }.sorted()
        liveMembers[group] = ids
        return ids
    }

    private mutating func objectFragments(_ id: String, kind: String, _ tenant: Tenant) -> (changed: Int, fragments: Fragments) {
        let changed = (kind == "users" ? tenant.userChanged[id] : tenant.groupChanged[id]) ?? -1
        if let cached = fragments[id], cached.changed == changed { return cached }
        let bag = (kind == "users" ? tenant.users[id] : tenant.groups[id])!
        var out = JSONBytes()
        var properties = Fragments()
        for key in bag.keys.sorted() {
            out.value(bag[key]!)
            properties.keys.append(key)
            properties.ends.append(out.bytes.count)
        }
        properties.json = out.bytes
        fragments[id] = (changed, properties)
        return (changed, properties)
    }

    /// The JSON of user or group `id` with the properties `keys` selects, as `JSONBytes.object`
    /// writes it.
    mutating func encoded(_ id: String, kind: String, selectKey: String, keys: [String]?, _ tenant: Tenant) -> [UInt8] {
        let (changed, properties) = objectFragments(id, kind: kind, tenant)
        if let cached = encodedObjects[selectKey]?[id], cached.changed == changed { return cached.bytes }
        var out = JSONBytes()
        out.raw("{")
        var first = true
        for (i, key) in properties.keys.enumerated() where keys == nil || key == "id" || keys!.contains(key) {
            if !first { out.raw(",") }
            first = false
            out.string(key)
            out.raw(":")
            out.bytes += properties.json[(i == 0 ? 0 : properties.ends[i - 1])..<properties.ends[i]]
        }
        out.raw("}")
        encodedObjects[selectKey, default: [:]][id] = (changed, out.bytes)
        return out.bytes
    }
}
