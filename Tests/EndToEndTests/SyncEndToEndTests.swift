import Foundation
import Testing

/// End-to-end: the simulator, entra-syncd and entra-syncctl as real processes.
@Suite("sync end to end")
struct SyncEndToEndTests {
    /// Asserts that the exports equal the simulated tenant.
    func expectExportsMatch(_ daemon: DaemonHarness, _ profile: String, _ sim: Simulator,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try sim.expectedMirror()
        let actual = try Mirror.fromExports(daemon.exportDirectory(profile))
        #expect(actual == expected, "exports differ from the tenant:\n\(actual.difference(from: expected))", sourceLocation: sourceLocation)
    }

    @Test("initial sync imports every user, group and membership; status and exports show it")
    func initialSync() throws {
        let sim = try Simulator(users: 40, groups: 6, memberships: 90, pageSize: 7, memberSlice: 5)
        // A group big enough that its members@delta spans several pages.
        let big = try sim.admin("POST", "/_sim/groups", ["displayName": "Big group", "securityEnabled": true]) as! [String: Any]
        let bigId = big["id"] as! String
        let users = (try sim.admin("GET", "/_sim/state") as! [String: Any])["users"] as! [[String: Any]]
        for user in users.prefix(33) {
            try sim.admin("POST", "/_sim/groups/\(bigId)/members", ["id": user["id"] as! String])
        }
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()  // a profile without state syncs at once

        try expectExportsMatch(daemon, "contoso", sim)
        let exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(exported.groups[bigId]?.members.count == 33)
        #expect(exported.users.count == 40)

        let status = try daemon.status()["contoso"]!
        #expect(status["state"] as? String == "idle")
        #expect(status["users"] as? Int == 40)
        #expect(status["groups"] as? Int == 7)
        #expect(status["memberships"] as? Int == exported.membershipCount)
        let lastRun = status["lastRun"] as! [String: Any]
        #expect(lastRun["result"] as? String == "succeeded")
        #expect(lastRun["added"] as? Int == 40 + 7 + exported.membershipCount)
        #expect(status["nextRun"] is String)

        // What went over the wire: big pages asked for, a client-request-id each, one token for both runs.
        let run = try daemon.runNow("contoso")
        #expect(run.stdout.contains("contoso: succeeded"))
        #expect(run.stdout.contains("+0 ~0 -0"))
        let requests = try sim.requests().filter { ($0["path"] as? String ?? "").contains("/delta") }
        #expect(requests.count > 6)
        #expect(requests.allSatisfy { ($0["prefer"] as? String ?? "").contains("odata.maxpagesize=999") })
        #expect(Set(requests.compactMap { $0["clientRequestId"] as? String }).count == requests.count)
        let stats = try sim.admin("GET", "/_sim/stats") as! [String: Any]
        #expect(stats["tokenRequests"] as? Int == 1)

        let human = try daemon.ctl(["status"])
        #expect(human.stdout.contains("contoso: idle"))
        #expect(human.stdout.contains("40 users, 7 groups"))
    }

    @Test("incremental runs apply creates, updates, soft and hard deletes, restores and membership changes")
    func incrementalSync() throws {
        let sim = try Simulator(users: 25, groups: 4, memberships: 50, pageSize: 6, memberSlice: 4)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        try expectExportsMatch(daemon, "contoso", sim)

        let state = try sim.admin("GET", "/_sim/state") as! [String: Any]
        let groups = state["groups"] as! [[String: Any]]
        let memberGroup = groups.first { ($0["members"] as? [String] ?? []).count >= 3 }!
        let groupId = memberGroup["id"] as! String
        let members = memberGroup["members"] as! [String]
        let softDeleted = members[0], hardDeleted = members[1], removedMember = members[2]
        let users = (state["users"] as! [[String: Any]]).map { $0["id"] as! String }
        let outsider = users.first { !members.contains($0) }!

        let created = try sim.admin("POST", "/_sim/users", ["displayName": "New Person", "userPrincipalName": "new.person@contoso.onmicrosoft.com",
                                                          "accountEnabled": true, "mail": "new.person@contoso.com"]) as! [String: Any]
        try sim.admin("PATCH", "/_sim/users/\(outsider)", ["displayName": "Renamed", "jobTitle": NSNull()])
        try sim.admin("DELETE", "/_sim/users/\(softDeleted)")
        try sim.admin("DELETE", "/_sim/users/\(hardDeleted)?permanent=true")
        try sim.admin("DELETE", "/_sim/groups/\(groupId)/members/\(removedMember)")
        try sim.admin("POST", "/_sim/groups/\(groupId)/members", ["id": created["id"] as! String])
        try sim.admin("POST", "/_sim/groups", ["displayName": "Fresh group", "securityEnabled": true])

        let run = try daemon.runNow("contoso")
        #expect(!run.stdout.contains("full"))
        try expectExportsMatch(daemon, "contoso", sim)
        var exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(exported.users[outsider]?.displayName == "Renamed")
        #expect(exported.users[outsider]?.jobTitle == nil)
        #expect(exported.users[softDeleted] == nil)
        #expect(exported.users[hardDeleted] == nil)
        #expect(exported.groups[groupId]?.members.contains(softDeleted) == false)
        #expect(exported.groups[groupId]?.members.contains(created["id"] as! String) == true)
        #expect(exported.groups[groupId]?.members.contains(removedMember) == false)

        // A restore sends the user but no membership events: the kept membership comes back.
        try sim.admin("POST", "/_sim/users/\(softDeleted)/restore")
        try daemon.runNow("contoso")
        try expectExportsMatch(daemon, "contoso", sim)
        exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(exported.users[softDeleted] != nil)
        #expect(exported.groups[groupId]?.members.contains(softDeleted) == true)

        // Nothing changed: a run that changes nothing.
        let quiet = try daemon.runNow("contoso")
        #expect(quiet.stdout.contains("+0 ~0 -0"))
    }

    @Test("410 Gone and syncStateNotFound trigger a full resync that reconciles, read in parallel with Parallel= on",
          arguments: ["gone", "expired", "resync"], ["off", "32"])
    func resyncReconciles(mode: String, parallel: String) throws {
        let sim = try Simulator(users: 20, groups: 4, memberships: 40, pageSize: 8)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, parallel: parallel)
        try daemon.start()
        try daemon.runNow("contoso")

        // The reset loses these events: only reconciliation against the full round can notice them.
        let state = try sim.admin("GET", "/_sim/state") as! [String: Any]
        let victim = (state["users"] as! [[String: Any]])[3]["id"] as! String
        let group = (state["groups"] as! [[String: Any]]).first { !($0["members"] as? [String] ?? []).isEmpty }!
        let groupId = group["id"] as! String
        let member = (group["members"] as! [String]).first { $0 != victim }!
        try sim.admin("DELETE", "/_sim/users/\(victim)?permanent=true")
        try sim.admin("DELETE", "/_sim/groups/\(groupId)/members/\(member)")
        try sim.admin("POST", "/_sim/reset-sync", ["mode": mode])
        try sim.admin("DELETE", "/_sim/stats")

        let run = try daemon.runNow("contoso")
        #expect(run.stdout.contains("full"))
        let listed = (try sim.admin("GET", "/_sim/stats") as! [String: Int])["requests.usersList"] ?? 0
        #expect(parallel != "off" ? listed >= 56 : listed == 0, "\(listed) user list requests")
        try expectExportsMatch(daemon, "contoso", sim)
        let exported = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(exported.users[victim] == nil)
        #expect(exported.groups[groupId]?.members.contains(member) == false)

        // And the next run is incremental again.
        let next = try daemon.runNow("contoso")
        #expect(!next.stdout.contains("full"))
    }

    @Test("429 with Retry-After is waited out and retried")
    func throttling() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 10)
        try sim.addFault(["path": "users/delta", "status": 429, "retryAfter": "0.4", "count": 2, "code": "TooManyRequests"])
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        let started = Date()
        try daemon.start()
        #expect(try daemon.status()["contoso"]?["state"] as? String == "idle")
        try expectExportsMatch(daemon, "contoso", sim)
        let firstPage = try sim.requests().filter {
            let path = $0["path"] as? String ?? ""
            return path.contains("/users/delta") && !path.contains("token=")
        }
        #expect(firstPage.map { $0["status"] as? Int } == [429, 429, 200])
        #expect(Date().timeIntervalSince(started) >= 0.8)
    }

    @Test("403 fails the run with the permissions to grant")
    func permissionDenied() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 3)
        try sim.admin("POST", "/_sim/settings", ["consent": false])
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let output = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(output.status != 0)
        #expect(output.stdout.contains("User.Read.All"))
        #expect(output.stdout.contains("admin consent"))
        let status = try daemon.status()["contoso"]!
        #expect(status["state"] as? String == "failed")
        let lastRun = status["lastRun"] as! [String: Any]
        #expect(lastRun["result"] as? String == "failed")
        #expect((lastRun["hint"] as? String ?? "").contains("Group.Read.All"))
        #expect(daemon.log.contains("Authorization_RequestDenied"))

        // Consent granted: the next run works.
        try sim.admin("POST", "/_sim/settings", ["consent": true])
        try daemon.runNow("contoso")
        try expectExportsMatch(daemon, "contoso", sim)
    }

    @Test("two profiles against two tenants stay apart")
    func twoProfiles() throws {
        let simA = try Simulator(users: 12, groups: 3, memberships: 20, seed: 1)
        let simB = try Simulator(users: 17, groups: 2, memberships: 15, seed: 2, tenantId: "00000000-0000-4000-8000-00000000000b",
                                 clientSecret: "other-secret")
        let daemon = DaemonHarness()
        try daemon.writeProfile("alpha", simulator: simA)
        try daemon.writeProfile("beta", simulator: simB)
        try daemon.start()
        let output = try daemon.ctl(["run-now", "--all", "--wait"])
        #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
        try expectExportsMatch(daemon, "alpha", simA)
        try expectExportsMatch(daemon, "beta", simB)
        let status = try daemon.status()
        #expect(status["alpha"]?["users"] as? Int == 12)
        #expect(status["beta"]?["users"] as? Int == 17)
    }

    @Test("a bad profile is reported with file, line and key; the others still run")
    func badProfile() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 3)
        let daemon = DaemonHarness()
        try daemon.writeProfile("good", simulator: sim)
        try daemon.write("bad.conf", """
            [Tenant]
            TenantId=contoso.onmicrosoft.com
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecret=x
            [Sync]
            Interval=soon
            """)
        try daemon.write("notes.txt", "not a profile")
        try daemon.start()
        try daemon.runNow("good")
        let status = try daemon.status()
        #expect(status.keys.sorted() == ["bad", "good"])
        #expect(status["bad"]?["state"] as? String == "config-error")
        let error = status["bad"]?["error"] as? String ?? ""
        #expect(error.contains("bad.conf:6"))
        #expect(error.contains("Interval"))
        #expect(status["good"]?["users"] as? Int == 5)
        let runBad = try daemon.ctl(["run-now", "bad", "--wait"])
        #expect(runBad.status != 0)
    }

    @Test("SIGKILL mid-run: after restart the mirror is the last committed run, and the next run completes")
    func killedMidRun() throws {
        let sim = try Simulator(users: 30, groups: 5, memberships: 60, pageSize: 5)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        let committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))

        try sim.admin("POST", "/_sim/churn", ["seed": 7, "changes": 40])
        // Stall the groups round so the kill lands after the users round was read.
        try sim.addFault(["path": "groups/delta", "status": 0, "delayMs": 20_000, "count": 1])
        _ = try daemon.ctl(["run-now", "contoso"])
        try Harness.waitUntil("the groups round to start") {
            try sim.requests().contains { ($0["path"] as? String ?? "").contains("/groups/delta") }
        }
        try daemon.stop(SIGKILL)
        try sim.admin("DELETE", "/_sim/faults")

        try daemon.start()
        let afterRestart = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(afterRestart == committed)
        let status = try daemon.status()["contoso"]!
        #expect(status["users"] as? Int == committed.users.count)
        #expect(status["memberships"] as? Int == committed.membershipCount)

        try daemon.runNow("contoso")
        try expectExportsMatch(daemon, "contoso", sim)
    }

    @Test("SIGTERM during a run exits cleanly and commits nothing partial")
    func terminatedMidRun() throws {
        let sim = try Simulator(users: 15, groups: 3, memberships: 20, pageSize: 5)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        let committed = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        try sim.admin("POST", "/_sim/churn", ["seed": 3, "changes": 20])
        try sim.addFault(["path": "groups/delta", "status": 0, "delayMs": 20_000, "count": 1])
        _ = try daemon.ctl(["run-now", "contoso"])
        try Harness.waitUntil("the groups round to start") {
            try sim.requests().contains { ($0["path"] as? String ?? "").contains("/groups/delta") }
        }
        let started = Date()
        #expect(try daemon.stop(SIGTERM) == 0)
        #expect(Date().timeIntervalSince(started) < 10)
        try sim.admin("DELETE", "/_sim/faults")
        try daemon.start()
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == committed)
        try daemon.runNow("contoso")
        try expectExportsMatch(daemon, "contoso", sim)
    }
}

@Suite("sync end to end, continued")
struct SyncEndToEndMoreTests {
    @Test("a revoked token is refreshed once, then the run goes on")
    func tokenRefresh() throws {
        let sim = try Simulator(users: 10, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try sim.admin("POST", "/_sim/revoke-tokens")
        try sim.admin("POST", "/_sim/churn", ["seed": 2, "changes": 5])
        try daemon.runNow("contoso")
        #expect((try sim.admin("GET", "/_sim/stats") as! [String: Any])["tokenRequests"] as? Int == 2)
        #expect(try sim.requests().contains { $0["status"] as? Int == 401 })
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }

    @Test("compaction keeps the mirror: many runs, snapshot, restart")
    func compaction() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = DaemonHarness()
        // The first sync is written as a snapshot; the runs after it grow the journal past it.
        daemon.extraArguments = ["--compact-min-bytes", "2048", "--compact-factor", "1"]
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        for seed in 1...6 {
            try sim.admin("POST", "/_sim/churn", ["seed": seed, "changes": 25])
            try daemon.runNow("contoso")
        }
        let full = try daemon.runNow("contoso", full: true)
        #expect(full.stdout.contains("full"))
        #expect(daemon.log.contains("journal compacted"))
        let segments = try FileManager.default.contentsOfDirectory(atPath: daemon.journalDirectory("contoso")).filter { $0.hasSuffix(".seg") }
        #expect(segments.count == 1)
        #expect(segments.first != "0000000000000001.seg")
        try daemon.stop()
        try daemon.start()
        #expect(try daemon.status()["contoso"]?["users"] as? Int == (try sim.expectedMirror()).users.count)
        try sim.admin("POST", "/_sim/churn", ["seed": 99, "changes": 10])
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }
}
