import EntraHTTP
import Foundation
import Testing

/// The simulator's realistic Graph model through its HTTP API: listings with paging, partitions
/// and counts, delta page caps and `latest`, the resource-unit bucket, `$batch`, the time per page.
@Suite("the simulator's Graph model")
struct GraphModelEndToEndTests {
    /// UPNs that start with a digit, `_`, `'`, `#`, an upper-case letter and a non-ASCII letter.
    static let oddNames = ["7seven", "_under", "'quote", "#hash", "Upper", "Ørsted", "a+plus"]

    /// A Graph client with a token of the simulator.
    struct Graph {
        let sim: Simulator
        let token: String

        init(_ sim: Simulator) throws {
            self.sim = sim
            let form = "client_id=11111111-2222-3333-4444-555555555555&client_secret=\(sim.clientSecret)&grant_type=client_credentials"
                + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
            let response = try sim.http.perform(HTTPRequest(method: "POST", url: "\(sim.baseURL)/\(sim.tenantId)/oauth2/v2.0/token",
                                                            headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")],
                                                            body: Array(form.utf8)))
            token = (try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any])["access_token"] as! String
        }

        /// `url`: absolute, or a path under `/v1.0`.
        func get(_ url: String, eventual: Bool = false) throws -> HTTPResponse {
            var headers = [(name: "Authorization", value: "Bearer \(token)")]
            if eventual { headers.append((name: "ConsistencyLevel", value: "eventual")) }
            return try sim.http.perform(HTTPRequest(url: url.hasPrefix("http") ? url : "\(sim.baseURL)/v1.0\(url)", headers: headers, timeout: 30))
        }

        func json(_ url: String, eventual: Bool = false) throws -> [String: Any] {
            let response = try get(url, eventual: eventual)
            guard response.status == 200 else { throw HarnessError("GET \(url): \(response.status) \(String(decoding: response.body, as: UTF8.self))") }
            return try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any]
        }

        /// Every page from `url` on; returns the entries and the number of pages.
        func all(_ url: String, eventual: Bool = false) throws -> (entries: [[String: Any]], pages: Int) {
            var next: String? = url
            var entries: [[String: Any]] = []
            var pages = 0
            while let url = next {
                let page = try json(url, eventual: eventual)
                entries += page["value"] as! [[String: Any]]
                pages += 1
                next = page["@odata.nextLink"] as? String
                #expect(page["@odata.deltaLink"] == nil || next == nil)
            }
            return (entries, pages)
        }

        func stats() throws -> [String: Int] {
            try sim.admin("GET", "/_sim/stats") as! [String: Int]
        }
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    static func startsWith(_ prefix: String) -> String {
        "/users?$top=999&$select=id,userPrincipalName&$filter=" + encode("startswith(userPrincipalName,'\(prefix.replacingOccurrences(of: "'", with: "''"))')")
    }

    @Test("user listings page by $top, partition by startswith case-insensitively, hide soft-deleted users, and count")
    func users() throws {
        let sim = try Simulator(users: 25, groups: 2, memberships: 10)
        for name in Self.oddNames {
            try sim.admin("POST", "/_sim/users", ["userPrincipalName": "\(name)@contoso.onmicrosoft.com", "displayName": name, "accountEnabled": true])
        }
        let state = try sim.admin("GET", "/_sim/state") as! [String: Any]
        let live = (state["users"] as! [[String: Any]])
        let soft = live[3]["id"] as! String
        try sim.admin("DELETE", "/_sim/users/\(soft)")
        let liveIds = Set(live.map { $0["id"] as! String }).subtracting([soft])
        let graph = try Graph(sim)

        let listed = try graph.all("/users?$top=4&$select=id,userPrincipalName")
        #expect(listed.pages == (liveIds.count + 3) / 4)
        #expect(listed.entries.map { $0["id"] as! String }.count == liveIds.count)
        #expect(Set(listed.entries.map { $0["id"] as! String }) == liveIds)
        #expect(listed.entries.allSatisfy { Set($0.keys) == ["id", "userPrincipalName"] })
        #expect(try graph.get("/users?$top=1000").status == 400)
        #expect(try graph.get("/users?$filter=" + Self.encode("endswith(userPrincipalName,'x')")).status == 400)

        // Each odd first character is its own partition; letters match either case.
        for name in Self.oddNames {
            let found = try graph.all(Self.startsWith(String(name.prefix(1)))).entries.compactMap { $0["userPrincipalName"] as? String }
            let expected = live.compactMap { $0["userPrincipalName"] as? String }
                .filter { $0.lowercased().hasPrefix(name.prefix(1).lowercased()) && $0 != live[3]["userPrincipalName"] as? String }
            #expect(found.sorted() == expected.sorted(), "\(name)")
            #expect(found.contains("\(name)@contoso.onmicrosoft.com"), "\(name): \(found)")
        }
        #expect(try graph.all(Self.startsWith("u")).entries.contains { $0["userPrincipalName"] as? String == "Upper@contoso.onmicrosoft.com" })
        #expect(try graph.all(Self.startsWith("ø")).entries.count == 1)

        #expect(try graph.get("/users/$count").status == 400, "$count needs ConsistencyLevel: eventual")
        let count = try graph.get("/users/$count", eventual: true)
        #expect(count.status == 200 && String(decoding: count.body, as: UTF8.self) == "\(liveIds.count)")
        #expect(try graph.json(Self.startsWith("_") + "&$count=true", eventual: true)["@odata.count"] as? Int == 1)
        #expect((try graph.stats())["requests.usersCount"] == 2)
    }

    @Test("groups list without members; members page by $top with their type, soft-deleted users hidden; groups count")
    func groupsAndMembers() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 60)
        let group = try sim.admin("POST", "/_sim/groups", ["displayName": "nested parent"]) as! [String: Any]
        let groupId = group["id"] as! String
        let state = try sim.admin("GET", "/_sim/state") as! [String: Any]
        let users = (state["users"] as! [[String: Any]]).map { $0["id"] as! String }
        let child = (state["groups"] as! [[String: Any]])[0]["id"] as! String
        for user in users.prefix(11) { try sim.admin("POST", "/_sim/groups/\(groupId)/members", ["id": user]) }
        try sim.admin("POST", "/_sim/groups/\(groupId)/members", ["id": child])
        try sim.admin("DELETE", "/_sim/users/\(users[0])")
        let graph = try Graph(sim)

        let groups = try graph.all("/groups?$top=2&$select=id,displayName")
        #expect(groups.pages == 3 && groups.entries.count == 5)
        #expect(groups.entries.allSatisfy { $0["members@delta"] == nil && $0["members"] == nil })
        let members = try graph.all("/groups/\(groupId)/members?$select=id&$top=5")
        #expect(members.pages == 3)
        let ids = members.entries.map { $0["id"] as! String }
        #expect(ids.sorted() == (Array(users[1..<11]) + [child]).sorted(), "the soft-deleted user is hidden")
        #expect(members.entries.filter { $0["@odata.type"] as? String == "#microsoft.graph.group" }.map { $0["id"] as! String } == [child])
        #expect(members.entries.allSatisfy { Set($0.keys) == ["id", "@odata.type"] })
        #expect(try graph.get("/groups/00000000-0000-4000-8000-00000000dead/members").status == 404)
        #expect(String(decoding: try graph.get("/groups/$count", eventual: true).body, as: UTF8.self) == "5")
        #expect((try graph.stats())["requests.groupMembers"] == 4)
    }

    @Test("delta pages carry at most the member links cap; $deltaToken=latest gives a link for now and no objects")
    func deltaCapsAndLatest() throws {
        let sim = try Simulator(users: 60, groups: 3, memberships: 150, pageSize: 200, memberSlice: 1000)
        try sim.admin("POST", "/_sim/settings", ["maxLinksPerPage": 20])
        let graph = try Graph(sim)
        var next: String? = "/groups/delta?$select=id,displayName,members"
        var members: [String: Set<String>] = [:]
        var pages = 0
        var deltaLink: String?
        while let url = next {
            let page = try graph.json(url)
            pages += 1
            let value = page["value"] as! [[String: Any]]
            let links = value.reduce(0) { $0 + (($1["members@delta"] as? [Any])?.count ?? 0) }
            #expect(links <= 20, "page \(pages) has \(links) member links")
            for entry in value {
                let id = entry["id"] as! String
                for member in entry["members@delta"] as? [[String: Any]] ?? [] { members[id, default: []].insert(member["id"] as! String) }
            }
            next = page["@odata.nextLink"] as? String
            deltaLink = page["@odata.deltaLink"] as? String
        }
        #expect(pages >= 150 / 20)
        let expected = (try sim.admin("GET", "/_sim/state") as! [String: Any])["groups"] as! [[String: Any]]
        for group in expected {
            #expect(members[group["id"] as! String] ?? [] == Set(group["members"] as? [String] ?? []))
        }
        #expect(deltaLink != nil)

        let latest = try graph.json("/users/delta?$deltaToken=latest&$select=id,displayName")
        #expect((latest["value"] as! [Any]).isEmpty && latest["@odata.nextLink"] == nil)
        let link = try #require(latest["@odata.deltaLink"] as? String)
        #expect((try graph.json(link)["value"] as! [Any]).isEmpty, "nothing changed since latest")
        let user = try sim.admin("POST", "/_sim/users", ["userPrincipalName": "late@contoso.onmicrosoft.com", "displayName": "Late"]) as! [String: Any]
        let after = try graph.all(link).entries
        #expect(after.map { $0["id"] as! String } == [user["id"] as! String])
        #expect(Set(after[0].keys) == ["id", "displayName"], "the latest link keeps its $select")
        let groupsLatest = try graph.json("/groups/delta?$deltatoken=LATEST")
        #expect((groupsLatest["value"] as! [Any]).isEmpty && groupsLatest["@odata.deltaLink"] != nil)
    }

    @Test("the resource-unit bucket charges each request its cost, warns near the limit and answers 429 with Retry-After when dry")
    func resourceUnits() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 10)
        let graph = try Graph(sim)
        #expect(try graph.get("/users?$top=1").header("x-ms-resource-unit") == nil, "no bucket by default")
        try sim.admin("POST", "/_sim/settings", ["resourceUnits": "auto"])
        #expect((try graph.stats())["resourceUnitCapacity"] == 3_500, "a tenant under 50 users gets 3,500 RU per 10 s")
        let group = ((try sim.admin("GET", "/_sim/state") as! [String: Any])["groups"] as! [[String: Any]])[0]["id"] as! String
        for (url, cost) in [("/users?$top=1", "2"), ("/users?$top=1&$select=id", "1"), ("/groups/\(group)/members", "3"),
                            ("/groups/\(group)/members?$select=id", "2"), ("/users/delta", "1"), ("/groups?$top=1", "1"),
                            ("/users?$top=1&$expand=manager", "3")] {
            #expect(try graph.get(url).header("x-ms-resource-unit") == cost, "\(url)")
        }

        // 12 RU per 10 s: six list requests of 2 RU empty it, the seventh waits.
        try sim.admin("DELETE", "/_sim/stats")
        try sim.admin("POST", "/_sim/settings", ["resourceUnits": 12])
        var percentages: [String?] = []
        for _ in 0..<6 {
            let response = try graph.get("/users?$top=1")
            #expect(response.status == 200)
            percentages.append(response.header("x-ms-throttle-limit-percentage"))
        }
        #expect(percentages.prefix(3).allSatisfy { $0 == nil }, "\(percentages)")
        #expect(percentages.last! != nil, "past 0.8 of the bucket: \(percentages)")
        let throttled = try graph.get("/users?$top=1")
        #expect(throttled.status == 429)
        let retryAfter = try #require(Int(throttled.header("retry-after") ?? ""))
        #expect((1...2).contains(retryAfter))
        #expect(throttled.header("x-ms-throttle-scope")?.hasPrefix("Tenant_Application/") == true)
        let error = try JSONSerialization.jsonObject(with: Data(throttled.body)) as! [String: Any]
        #expect((error["error"] as? [String: Any])?["code"] as? String == "TooManyRequests")
        Thread.sleep(forTimeInterval: Double(retryAfter))
        #expect(try graph.get("/users?$top=1").status == 200, "Retry-After was long enough")
        let stats = try graph.stats()
        #expect(stats["throttledRequests"] == 1 && stats["requests.usersList"] == 8 && stats["resourceUnits"] == 14, "\(stats)")
    }

    @Test("$batch answers up to 20 requests, each charged and throttled on its own")
    func batch() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 10)
        let graph = try Graph(sim)
        try sim.admin("POST", "/_sim/settings", ["resourceUnits": 5])
        func post(_ requests: [[String: Any]]) throws -> HTTPResponse {
            try sim.http.perform(HTTPRequest(method: "POST", url: "\(sim.baseURL)/v1.0/$batch",
                                             headers: [(name: "Authorization", value: "Bearer \(graph.token)"), (name: "Content-Type", value: "application/json")],
                                             body: Array(try JSONSerialization.data(withJSONObject: ["requests": requests]))))
        }
        #expect(try post((1...21).map { ["id": "\($0)", "method": "GET", "url": "/users/$count"] }).status == 400)
        // 2 + 2 RU fit into 5; the third list request does not.
        let response = try post((1...3).map { ["id": "\($0)", "method": "GET", "url": "/users?$top=2"] }
                                + [["id": "4", "method": "GET", "url": "/users/$count", "headers": ["ConsistencyLevel": "eventual"]]])
        #expect(response.status == 200)
        let answers = (try JSONSerialization.jsonObject(with: Data(response.body)) as! [String: Any])["responses"] as! [[String: Any]]
        #expect(answers.map { $0["status"] as! Int } == [200, 200, 429, 200], "\(answers)")
        #expect(((answers[0]["body"] as? [String: Any])?["value"] as? [Any])?.count == 2)
        #expect((answers[2]["headers"] as? [String: String])?["Retry-After"] != nil)
        #expect(answers[3]["body"] as? String == "10")
        let stats = try graph.stats()
        #expect(stats["requests.batch"] == 2 && stats["requests.usersList"] == 3 && stats["throttledRequests"] == 1, "\(stats)")
    }

    @Test("the time per page has its median and, with a sigma, a lognormal spread")
    func latency() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 2, extra: ["--page-latency", "4"])
        let graph = try Graph(sim)
        for _ in 0..<10 { _ = try graph.get("/users?$top=1") }
        #expect((try graph.stats())["heldMillis"] == 40)
        try sim.admin("POST", "/_sim/settings", ["latencySigma": 1.0])
        try sim.admin("DELETE", "/_sim/stats")
        for _ in 0..<30 { _ = try graph.get("/users/delta") }
        let held = try #require((try graph.stats())["heldMillis"])
        #expect(held != 120 && held > 30, "\(held)")
    }
}
