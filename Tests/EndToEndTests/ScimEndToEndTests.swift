import Foundation
import Testing

/// SCIM push against a real SCIM 2.0 server (scim2-server from PyPI, in memory): the daemon syncs
/// the simulated tenant and provisions the application, which is then compared with the mirror
/// object by object. In CI the server must be there (scripts/install-deps.sh installs it).
@Suite("SCIM push end to end", .enabled(if: ScimServer.available || ProcessInfo.processInfo.environment["CI"] != nil))
struct ScimEndToEndTests {
    static func section(_ server: ScimServer, token: String, endpoint: String? = nil, extra: String = "") -> String {
        """

        [SCIM]
        Endpoint=\(endpoint ?? server.endpoint)
        BearerTokenFile=\(token)
        MaxRequestsPerSecond=0
        RequestTimeout=10s
        \(extra)
        """
    }

    static func users(_ sim: Simulator) throws -> [[String: Any]] {
        (try sim.admin("GET", "/_sim/state") as! [String: Any])["users"] as! [[String: Any]]
    }

    static func groups(_ sim: Simulator) throws -> [[String: Any]] {
        (try sim.admin("GET", "/_sim/state") as! [String: Any])["groups"] as! [[String: Any]]
    }

    @Test("scim2-tester confirms the test server speaks SCIM 2.0 (discovery, CRUD, PATCH)")
    func serverConformance() throws {
        #expect(ScimServer.available, "run scripts/install-deps.sh: \(ScimServer.executable) is missing")
        let server = try ScimServer()
        let bin = (ScimServer.executable as NSString).deletingLastPathComponent
        let root = ((bin as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent  // …/.build/scim-venv → …/.build
        let script = (root as NSString).deletingLastPathComponent + "/scripts/scim-conformance.py"
        let result = try Harness.run(bin + "/python", [script, server.endpoint, server.token], timeout: 120)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains(" 0 failed"))
    }

    @Test("initial provisioning, then incremental changes of every kind, object by object")
    func provisionAndChanges() throws {
        let sim = try Simulator(users: 40, groups: 6, memberships: 90)
        let server = try ScimServer()
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(server, token: token))
        try daemon.start()
        var status = try daemon.waitForScim("contoso")
        #expect(try server.differences(from: daemon.exportDirectory("contoso")) == [])
        #expect(status["users"] as? Int == 40 && status["groups"] as? Int == 6)
        let first = status["lastPush"] as! [String: Any]
        #expect(first["created"] as? Int == 46)
        #expect(first["result"] as? String == "succeeded")

        // Every kind of change in Entra.
        let users = try Self.users(sim).map { $0["id"] as! String }
        let groups = try Self.groups(sim)
        try sim.admin("PATCH", "/_sim/users/\(users[0])", ["displayName": "Renamed Person", "surname": "Renamed", "mail": "renamed@contoso.com"])
        try sim.admin("PATCH", "/_sim/users/\(users[1])", ["accountEnabled": false])
        try sim.admin("PATCH", "/_sim/users/\(users[2])", ["mail": NSNull()])
        try sim.admin("DELETE", "/_sim/users/\(users[3])")
        try sim.admin("DELETE", "/_sim/users/\(users[4])?permanent=true")
        let newUser = (try sim.admin("POST", "/_sim/users", ["userPrincipalName": "new.person@contoso.com", "displayName": "New Person",
                                                             "givenName": "New", "surname": "Person", "accountEnabled": true]) as! [String: Any])["id"] as! String
        let newGroup = (try sim.admin("POST", "/_sim/groups", ["displayName": "Vault Users", "securityEnabled": true]) as! [String: Any])["id"] as! String
        try sim.admin("POST", "/_sim/groups/\(newGroup)/members", ["id": newUser])
        try sim.admin("POST", "/_sim/groups/\(newGroup)/members", ["id": users[5]])
        try sim.admin("PATCH", "/_sim/groups/\(groups[0]["id"] as! String)", ["displayName": "Renamed Group"])
        try sim.admin("DELETE", "/_sim/groups/\(groups[1]["id"] as! String)")
        if let member = (groups[2]["members"] as? [String])?.first {
            try sim.admin("DELETE", "/_sim/groups/\(groups[2]["id"] as! String)/members/\(member)")
        }
        try sim.admin("POST", "/_sim/churn", ["seed": 5, "changes": 25])
        _ = try daemon.runNow("contoso")
        status = try daemon.waitForScim("contoso", after: status)
        let diff = try server.differences(from: daemon.exportDirectory("contoso"))
        #expect(diff == [], "\(diff)")
        let push = status["lastPush"] as! [String: Any]
        #expect(push["created"] as! Int >= 2)
        #expect(push["updated"] as! Int >= 3)
        #expect(push["deprovisioned"] as! Int >= 3)  // soft and hard deleted users deactivated, one group deleted
        #expect(push["memberAdds"] as! Int >= 2)
        // Deprovisioned users are deactivated, not deleted (DeprovisionMode=deactivate).
        let gone = try server.resources("Users").filter { $0["externalId"] as? String == users[4] }
        #expect(gone.count == 1 && gone.first?["active"] as? Bool == false)

        // Nothing changed: one discovery request, no operations.
        _ = try daemon.runNow("contoso")
        status = try daemon.waitForScim("contoso", after: status)
        let idle = status["lastPush"] as! [String: Any]
        #expect(idle["requests"] as? Int == 1)
        #expect(idle["created"] as? Int == 0 && idle["updated"] as? Int == 0)
        #expect(!daemon.log.contains(server.token))
        #expect(daemon.log.contains("96c054b9a9e94c84bf1306e2129a1d8f"))
    }

    @Test("membership changes of a 10,000-member group are sent as PATCH deltas")
    func largeGroupDeltas() throws {
        let sim = try Simulator(users: 10_000, groups: 1, memberships: 10_000, pageSize: 999, memberSlice: 500, extra: ["--nested-groups", "0"])
        let server = try ScimServer()
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("big", simulator: sim, extra: Self.section(server, token: token))
        try daemon.start()
        let initial = try daemon.waitForScim("big", timeout: 600)
        let group = try Self.groups(sim)[0]
        let members = group["members"] as! [String]
        #expect(members.count == 10_000)
        #expect(initial["groups"] as? Int == 1)
        let scimGroup = try server.resources("Groups")
        #expect((scimGroup.first?["members"] as? [[String: Any]])?.count == 10_000)

        let newUser = (try sim.admin("POST", "/_sim/users", ["userPrincipalName": "late.joiner@contoso.com", "displayName": "Late Joiner"]) as! [String: Any])["id"] as! String
        try sim.admin("POST", "/_sim/groups/\(group["id"] as! String)/members", ["id": newUser])
        try sim.admin("DELETE", "/_sim/groups/\(group["id"] as! String)/members/\(members[10])")
        try sim.admin("DELETE", "/_sim/groups/\(group["id"] as! String)/members/\(members[20])")
        _ = try daemon.runNow("big")
        // The push that follows this run: pushes run on their own queue, so one already queued (the
        // start's resume) may finish in between, before the run committed.
        let status = try daemon.waitForScim("big", after: initial, timeout: 120) { $0["users"] as? Int == 10_001 }
        let push = status["lastPush"] as! [String: Any]
        #expect(push["memberAdds"] as? Int == 1)
        #expect(push["memberRemoves"] as? Int == 2)
        #expect(push["created"] as? Int == 1)
        // One POST of the user and one PATCH of the group: a few hundred bytes, not 10,000 member values.
        #expect((push["bytesSent"] as? Int ?? .max) < 2_000, "\(push)")
        let diff = try server.differences(from: daemon.exportDirectory("big"))
        #expect(diff == [], "\(diff)")
    }

    @Test("first contact adopts existing resources instead of duplicating them")
    func adoption() throws {
        let sim = try Simulator(users: 12, groups: 3, memberships: 20)
        let server = try ScimServer()
        let users = try Self.users(sim)
        let group = try Self.groups(sim)[0]
        // Created by hand in the application: one by userName only, one already carrying the Entra id.
        let byName = try server.createUser(userName: users[0]["userPrincipalName"] as! String, displayName: "Hand Made")
        let byExternal = try server.createUser(userName: "someone-renamed@contoso.com", externalId: users[1]["id"] as? String)
        let handGroup = try server.createGroup(displayName: group["displayName"] as! String, members: [byName])

        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(server, token: token))
        try daemon.start()
        let status = try daemon.waitForScim("contoso")
        let diff = try server.differences(from: daemon.exportDirectory("contoso"))
        #expect(diff == [], "\(diff)")
        let scimUsers = try server.resources("Users")
        #expect(scimUsers.count == 12)
        // Adopted by userName: it keeps its id and now carries the Entra id as externalId.
        #expect(scimUsers.first { $0["id"] as? String == byName }?["externalId"] as? String == users[0]["id"] as? String)
        #expect(scimUsers.first { $0["id"] as? String == byExternal }?["userName"] as? String == users[1]["userPrincipalName"] as? String)
        #expect(try server.resources("Groups").contains { $0["id"] as? String == handGroup })
        #expect((status["lastPush"] as! [String: Any])["created"] as? Int == 12 - 2 + 3 - 1)
        #expect(daemon.log.contains("adopted 2 existing users and 1 groups"))
    }

    @Test("a target that goes down loses nothing; a SIGKILL mid-push resumes without duplicates")
    func outageAndCrash() throws {
        let sim = try Simulator(users: 300, groups: 150, memberships: 600, pageSize: 100)
        let server = try ScimServer()
        let relay = try Relay(upstream: server.port)
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        // Users go in a few /Bulk requests; a rate limit makes the 150 group creates take seconds, so
        // the daemon can be killed in the middle of them (a group's displayName is not unique, so a
        // create sent twice would be a duplicate).
        try daemon.writeProfile("contoso", simulator: sim,
                                extra: Self.section(server, token: token, endpoint: "http://127.0.0.1:\(relay.port)/v2").replacingOccurrences(
                                    of: "MaxRequestsPerSecond=0", with: "MaxRequestsPerSecond=50"))
        try daemon.start()  // returns after the sync; the push follows
        try Harness.waitUntil("the push to be under way", timeout: 60) { try server.count("Groups") >= 20 }
        try daemon.stop(SIGKILL)
        let partial = try server.count("Groups")
        #expect(partial < 150, "the push finished before the kill; nothing was tested")
        try daemon.start()
        _ = try daemon.waitForScim("contoso", timeout: 120)
        var diff = try server.differences(from: daemon.exportDirectory("contoso"))
        #expect(diff == [], "\(diff)")

        // The application goes away; Entra keeps changing; syncs go on.
        relay.stop()
        try sim.admin("POST", "/_sim/churn", ["seed": 11, "changes": 30])
        let before = try daemon.scimStatus("contoso").first
        _ = try daemon.runNow("contoso")
        var status = try daemon.waitForScim("contoso", state: ["unavailable"], after: before)
        #expect(((status["lastPush"] as! [String: Any])["error"] as? String ?? "").contains("unavailable"))
        try sim.admin("POST", "/_sim/churn", ["seed": 12, "changes": 30])
        _ = try daemon.runNow("contoso")
        #expect(try daemon.status()["contoso"]?["state"] as? String == "idle")
        _ = try daemon.waitForScim("contoso", state: ["unavailable"], after: status)  // that run's push gave up too

        // It comes back, still throttling: a 429 with Retry-After, then the retry brings it up to date.
        try relay.throttle(1)
        try relay.start()
        let started = Date()
        let retry = try daemon.ctl(["scim", "contoso", "--retry"])
        #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
        #expect(Date().timeIntervalSince(started) >= 3, "Retry-After: 3 was not honoured")
        status = try daemon.waitForScim("contoso")
        diff = try server.differences(from: daemon.exportDirectory("contoso"))
        #expect(diff == [], "\(diff)")
        let metrics = try String(contentsOfFile: daemon.stateDirectory + "/contoso/metrics.prom", encoding: .utf8)
        #expect(metrics.contains("entra_sync_scim_pushes_total{profile=\"contoso\",target=\"default\",result=\"failed\"}"))
        #expect(metrics.contains("entra_sync_scim_objects{profile=\"contoso\",target=\"default\",kind=\"groups\"} 150"), "\(metrics)")
    }

    @Test("a 409 on one user does not block the others; --retry sends it once fixed")
    func conflictIsolated() throws {
        let sim = try Simulator(users: 15, groups: 2, memberships: 20)
        let server = try ScimServer()
        let victim = try Self.users(sim)[3]
        let upn = victim["userPrincipalName"] as! String
        // Someone else's account holds the userName.
        let squatter = try server.createUser(userName: upn, externalId: "not-from-entra")
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(server, token: token))
        try daemon.start()
        let status = try daemon.waitForScim("contoso", state: ["failing"])
        let failures = status["failures"] as! [[String: Any]]
        #expect(failures.count == 1)
        #expect(failures.first?["objectId"] as? String == victim["id"] as? String)
        #expect(failures.first?["status"] as? Int == 409)
        let detail = failures.first?["detail"] as? String ?? ""
        #expect(detail.contains("uniqueness"), "\(detail)")
        let text = try daemon.ctl(["scim", "contoso"])
        #expect(text.stdout.contains("HTTP 409"), "\(text.stdout)")
        let diff = try server.differences(from: daemon.exportDirectory("contoso"))
        #expect(diff.allSatisfy { $0.contains(victim["id"] as! String) || $0.contains("not-from-entra") }, "\(diff)")
        #expect(try server.resources("Users").count == 15)  // 14 pushed + the squatter
        #expect(daemon.log.contains("9368194dc23541dabf3ecdc9984f7a2f"))

        #expect(try server.request("DELETE", "/Users/\(squatter)").status == 204)
        let retry = try daemon.ctl(["scim", "contoso", "--retry"])
        #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
        _ = try daemon.waitForScim("contoso")
        #expect(try server.differences(from: daemon.exportDirectory("contoso")) == [])
    }

    @Test("a wrong bearer token is a clear error; the fixed token is pushed with right after reload")
    func wrongToken() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 5)
        let server = try ScimServer()
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try "wrong-token-value".write(toFile: token, atomically: true, encoding: .utf8)
        try daemon.writeProfile("contoso", simulator: sim, extra: Self.section(server, token: token))
        try daemon.start()
        let status = try daemon.waitForScim("contoso", state: ["unavailable"])
        let error = (status["lastPush"] as! [String: Any])["error"] as? String ?? ""
        #expect(error.contains("refused the bearer token"), "\(error)")
        #expect(error.contains("BearerTokenFile=\(token)"), "\(error)")
        #expect(try server.resources("Users").isEmpty)
        #expect(!daemon.log.contains("wrong-token-value"))

        // The fixed token is pushed with right after the reload, not at the next run.
        try server.token.write(toFile: token, atomically: true, encoding: .utf8)
        #expect(try daemon.ctl(["reload"]).status == 0)
        _ = try daemon.waitForScim("contoso", after: status, timeout: 30)
        #expect(try server.differences(from: daemon.exportDirectory("contoso")) == [])
    }

    @Test("--plan is a dry run; MaxDeletions holds back deprovisioning until approved; DeprovisionMode=delete deletes")
    func planAndDeletionGuard() throws {
        let sim = try Simulator(users: 20, groups: 2, memberships: 20)
        let server = try ScimServer()
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("contoso", simulator: sim, extra: "MaxDeletions=2" + Self.section(server, token: token, extra: "DeprovisionMode=delete"))
        try daemon.start()
        var status = try daemon.waitForScim("contoso")

        let users = try Self.users(sim).map { $0["id"] as! String }
        for id in users.prefix(3) { try sim.admin("DELETE", "/_sim/users/\(id)?permanent=true") }
        try sim.admin("PATCH", "/_sim/users/\(users[5])", ["displayName": "Planned Rename"])
        // The sync run itself is approved; the push holds the 3 deletions back.
        _ = try daemon.ctl(["run-now", "contoso", "--wait", "--allow-deletions", "3"])
        status = try daemon.waitForScim("contoso", state: ["pending"], after: status)
        #expect(((status["lastPush"] as! [String: Any])["error"] as? String ?? "").contains("--allow-deletions 3"))
        #expect(try server.resources("Users").count == 20)
        #expect(daemon.log.contains("4c3a215e0c4d474aa0e8f993329c0796"))

        let requestsBefore = (status["lastPush"] as! [String: Any])["requests"] as? Int
        let plan = try daemon.ctl(["scim", "contoso", "--plan"])
        #expect(plan.status == 0)
        #expect(plan.stdout.contains("plan (3)"), "\(plan.stdout)")
        #expect(plan.stdout.components(separatedBy: "delete user").count == 4, "\(plan.stdout)")
        status = try daemon.scimStatus("contoso").first!
        #expect((status["lastPush"] as! [String: Any])["requests"] as? Int == requestsBefore)  // nothing was sent
        #expect(try server.resources("Users").count == 20)

        let approved = try daemon.ctl(["scim", "contoso", "--allow-deletions", "3"])
        #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")
        #expect(try server.resources("Users").count == 17)
        #expect(try server.differences(from: daemon.exportDirectory("contoso"), deprovisionDeletes: true) == [])
    }
}
