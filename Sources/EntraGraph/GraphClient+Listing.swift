import EntraDirectory
import EntraHTTP
import Foundation

/// One page of a plain listing (`/users`, `/groups`, `/groups/{id}/members`).
public struct ListPage<Entry: Sendable>: Sendable {
    public var entries: [Entry]
    public var nextLink: String?
    /// `x-ms-throttle-limit-percentage`: how full Graph's RU bucket was, when past 0.8.
    public var throttlePercentage: Double?
}

/// What a parallel full sync reads: `$deltaToken=latest` links, plain listings with up to 999
/// objects a page, and the tenant's counts. Every request goes through `get`, so the token still
/// goes only to the Graph endpoint's origin.
extension GraphClient {
    /// A delta link for "now", without any objects (`$deltaToken=latest`), with the same `$select`
    /// as a full round, so the rounds from it return what a full round would have.
    public func latestDeltaLink(_ kind: DeltaKind, cancel: CancellationFlag) throws(GraphError) -> String {
        let response = try get(initialURL(kind) + "&$deltatoken=latest", cancel: cancel)
        let links = response.body.withUnsafeBytes { bytes in
            kind == .users ? DeltaPageParser.users(bytes).map { ($0.nextLink, $0.deltaLink, $0.entries.count) }
                           : DeltaPageParser.groups(bytes).map { ($0.nextLink, $0.deltaLink, $0.entries.count) }
        }
        guard let (next, delta, count) = links, next == nil, count == 0, let delta else {
            throw GraphError(kind: .badResponse,
                             message: "\(kind.rawValue)/delta?$deltatoken=latest: expected an empty page with an @odata.deltaLink",
                             httpStatus: response.status, requestId: response.header("request-id"))
        }
        try checkOrigin(delta, named: "the @odata.deltaLink of \(kind.rawValue)/delta?$deltatoken=latest")
        return delta
    }

    /// `/users/$count` or `/groups/$count` (with `ConsistencyLevel: eventual`); with `prefix`, the
    /// users whose `userPrincipalName` starts with it (`$filter=startswith(...)`).
    public func count(_ kind: DeltaKind, prefix: String? = nil, cancel: CancellationFlag) throws(GraphError) -> Int {
        var url = "\(graphEndpoint)/v1.0/\(kind.rawValue)/$count"
        if let prefix { url += "?$filter=" + Self.startsWith(prefix) }
        let response = try get(url, extraHeaders: [(name: "ConsistencyLevel", value: "eventual")], cancel: cancel)
        let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let count = Int(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text), count >= 0 else {
            throw GraphError(kind: .badResponse, message: "\(kind.rawValue)/$count: expected a number, got '\(text.prefix(40))'",
                             httpStatus: response.status, requestId: response.header("request-id"))
        }
        return count
    }

    /// The first page of the users whose `userPrincipalName` starts with `prefix` (Graph matches
    /// case-insensitively), 999 a page, with the properties a delta round selects.
    public func userListURL(prefix: String) -> String {
        "\(graphEndpoint)/v1.0/users?$top=999&$select=\(DirectoryUser.selectedProperties.joined(separator: ","))"
            + "&$filter=\(Self.startsWith(prefix))"
    }

    /// `startswith(userPrincipalName,'prefix')`, encoded for a query.
    static func startsWith(_ prefix: String) -> String {
        let literal = prefix.replacingOccurrences(of: "'", with: "''")  // OData: a quote in a string is doubled
        return queryEncode("startswith(userPrincipalName,'\(literal)')")
    }

    public var groupListURL: String {
        "\(graphEndpoint)/v1.0/groups?$top=999&$select=\(DirectoryGroup.selectedProperties.filter { $0 != "members" }.joined(separator: ","))"
    }

    public func membersURL(group: String) -> String {
        "\(graphEndpoint)/v1.0/groups/\(group)/members?$select=id&$top=999"
    }

    public func userListPage(_ url: String, cancel: CancellationFlag) throws(GraphError) -> ListPage<UserDelta> {
        try listPage(url, what: "users", cancel: cancel) { body in
            if let page = body.withUnsafeBytes({ DeltaPageParser.users($0) }) { return (page.entries, page.nextLink) }
            let page = try JSONDecoder().decode(DeltaPage<UserEntry>.self, from: Data(body))
            return (page.value.map(\.delta), page.nextLink)
        }
    }

    /// Groups without their members (`members` is not selected: `GroupDelta.upsert` with none).
    public func groupListPage(_ url: String, cancel: CancellationFlag) throws(GraphError) -> ListPage<GroupDelta> {
        try listPage(url, what: "groups", cancel: cancel) { body in
            if let page = body.withUnsafeBytes({ DeltaPageParser.groups($0) }) { return (page.entries, page.nextLink) }
            let page = try JSONDecoder().decode(DeltaPage<GroupEntry>.self, from: Data(body))
            return (page.value.map(\.delta), page.nextLink)
        }
    }

    /// A page of a group's direct members; nil when the group no longer exists (404).
    public func memberPage(_ url: String, cancel: CancellationFlag) throws(GraphError) -> ListPage<MemberDelta>? {
        do {
            return try listPage(url, what: "group members", cancel: cancel) { body in
                if let page = body.withUnsafeBytes({ DeltaPageParser.members($0) }) { return (page.entries, page.nextLink) }
                let page = try JSONDecoder().decode(MemberListPage.self, from: Data(body))
                return (page.value.map { MemberDelta(id: ObjectID($0.id), kind: MemberKind(odataType: $0.type), removed: false) }, page.nextLink)
            }
        } catch let error where error.httpStatus == 404 {
            return nil
        }
    }

    private func listPage<Entry>(_ url: String, what: String, cancel: CancellationFlag,
                                 decode: ([UInt8]) throws -> ([Entry], String?)) throws(GraphError) -> ListPage<Entry> {
        let response = try get(url, cancel: cancel)
        let contentType = response.header("content-type") ?? ""
        guard contentType.lowercased().contains("json") else {
            throw GraphError(kind: .badResponse, message: "\(what) list \(Self.redact(url)): expected JSON, got Content-Type '\(contentType)'",
                             httpStatus: response.status, requestId: response.header("request-id"))
        }
        let parsed: ([Entry], String?)
        do {
            parsed = try decode(response.body)
        } catch let error as DecodingError {
            throw GraphError(kind: .badResponse, message: "\(what) list \(Self.redact(url)): invalid response at \(error.locationDescription)",
                             httpStatus: response.status, requestId: response.header("request-id"))
        } catch {
            throw GraphError(kind: .badResponse, message: "\(what) list \(Self.redact(url)): invalid JSON: \(error)",
                             httpStatus: response.status, requestId: response.header("request-id"))
        }
        if let next = parsed.1 {
            guard next != url else { throw GraphError(kind: .badResponse, message: "\(what) list: @odata.nextLink points to the same page") }
            try checkOrigin(next, named: "the @odata.nextLink of a \(what) list page")
        }
        return ListPage(entries: parsed.0, nextLink: parsed.1,
                        throttlePercentage: response.header("x-ms-throttle-limit-percentage").flatMap { Double($0) })
    }

    /// Percent-encodes a query value: everything but unreserved characters (so `#`, `&`, `+`, `'`
    /// and `/` in a UPN prefix reach Graph as themselves).
    static func queryEncode(_ value: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~(),")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

/// `{"value":[{"@odata.type":"#microsoft.graph.user","id":"…"}],"@odata.nextLink":"…"}`
struct MemberListPage: Decodable {
    struct Item: Decodable {
        var id: String
        var type: String?
        enum CodingKeys: String, CodingKey {
            case id
            case type = "@odata.type"
        }
    }

    var value: [Item]
    var nextLink: String?
    enum CodingKeys: String, CodingKey {
        case value
        case nextLink = "@odata.nextLink"
    }
}

/// One answer of a `$batch` of member listings.
public struct BatchAnswer: Sendable {
    public var status: Int
    /// `Retry-After` of a throttled answer, in seconds.
    public var retryAfter: Double?
    /// The first page of members, when `status` is 200.
    public var page: ListPage<MemberDelta>?
}

extension GraphClient {
    /// The first member page of up to 20 groups in one `POST /$batch`; each answer is the group's
    /// own (200, 404 for a group that is gone, 429 with its `Retry-After`, ...).
    public func memberPages(groups: [String], cancel: CancellationFlag) throws(GraphError) -> [String: BatchAnswer] {
        precondition(groups.count <= 20, "Graph takes at most 20 requests in a batch")
        let requests = groups.enumerated().map { ["id": "\($0.offset)", "method": "GET", "url": "/groups/\($0.element)/members?$select=id&$top=999"] }
        let body = (try? JSONSerialization.data(withJSONObject: ["requests": requests])) ?? Data()
        let url = "\(graphEndpoint)/v1.0/$batch"
        let response = try send("POST", url, body: Array(body), extraHeaders: [(name: "Content-Type", value: "application/json")], cancel: cancel)
        // The envelope's own parser first (a million member ids at L); JSONDecoder for its error message.
        var items = response.body.withUnsafeBytes { DeltaPageParser.memberBatch($0) }
        if items == nil {
            let envelope: BatchEnvelope
            do {
                envelope = try JSONDecoder().decode(BatchEnvelope.self, from: Data(response.body))
            } catch {
                throw GraphError(kind: .badResponse, message: "$batch of member listings: invalid response: \(error)",
                                 httpStatus: response.status, requestId: response.header("request-id"))
            }
            items = envelope.responses.map { item in
                DeltaPageParser.BatchItem(id: item.id, status: item.status, headers: item.headers ?? [:], body: item.body.map {
                    DeltaPageParser.Page(entries: $0.value.map { MemberDelta(id: ObjectID($0.id), kind: MemberKind(odataType: $0.type), removed: false) },
                                         nextLink: $0.nextLink)
                })
            }
        }
        var answers: [String: BatchAnswer] = [:]
        for item in items ?? [] {
            guard let index = Int(item.id), groups.indices.contains(index) else {
                throw GraphError(kind: .badResponse, message: "$batch of member listings: an answer with the unknown id '\(item.id)'")
            }
            let header = { (name: String) in item.headers.first { $0.key.lowercased() == name }?.value }
            var page: ListPage<MemberDelta>?
            if item.status == 200 {
                guard let members = item.body else {
                    throw GraphError(kind: .badResponse, message: "$batch: the members of group \(groups[index]) came without a member list")
                }
                if let next = members.nextLink { try checkOrigin(next, named: "the @odata.nextLink of group \(groups[index])'s members") }
                page = ListPage(entries: members.entries, nextLink: members.nextLink,
                                throttlePercentage: header("x-ms-throttle-limit-percentage").flatMap { Double($0) })
            }
            answers[groups[index]] = BatchAnswer(status: item.status, retryAfter: header("retry-after").flatMap { Double($0) }, page: page)
        }
        return answers
    }
}

/// `{"responses":[{"id":"0","status":200,"headers":{…},"body":{…}}]}`; a body that is not a member
/// list (an error) is left out.
struct BatchEnvelope: Decodable {
    struct Item: Decodable {
        var id: String
        var status: Int
        var headers: [String: String]?
        var body: MemberListPage?

        enum CodingKeys: String, CodingKey { case id, status, headers, body }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            status = try c.decode(Int.self, forKey: .status)
            headers = try? c.decode([String: String].self, forKey: .headers)
            body = try? c.decode(MemberListPage.self, forKey: .body)
        }
    }

    var responses: [Item]
}
