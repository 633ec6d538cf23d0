import Foundation
import Testing

/// Day-to-day operator features: scope, the deletion guard, queries and history.
@Suite("operator features end to end")
struct OperatorEndToEndTests {
    @Test("a scope change takes effect at the next run without a full resync")
    func scopeChange() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let all = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(all.users.count == 30)

        try daemon.writeProfile("contoso", simulator: sim, extra: "ExcludeDisabled=yes\nUserFilter=startswith(displayName,'A')")
        daemon.kill(SIGHUP)
        try Harness.waitUntil("the reload") { daemon.log.contains("reloaded") }
        let run = try daemon.runNow("contoso")
        #expect(!run.stdout.contains("full"))
        let state = try sim.admin("GET", "/_sim/state") as! [String: Any]
        let expected = (state["users"] as! [[String: Any]]).filter {
            ($0["accountEnabled"] as? Bool) != false && (($0["displayName"] as? String) ?? "").lowercased().hasPrefix("a")
        }.map { $0["id"] as! String }
        let scoped = try Mirror.fromExports(daemon.exportDirectory("contoso"))
        #expect(Set(scoped.users.keys) == Set(expected))
        #expect(!expected.isEmpty && expected.count < 30)
        #expect(try daemon.status()["contoso"]?["users"] as? Int == expected.count)
        // Group member lists only name users in scope.
        #expect(scoped.groups.values.allSatisfy { $0.members.allSatisfy { scoped.users[$0] != nil || scoped.groups[$0] != nil } })
    }

    @Test("a deletion storm is blocked, then approved with --allow-deletions")
    func deletionGuard() throws {
        let sim = try Simulator(users: 20, groups: 2, memberships: 10)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: "MaxDeletions=3")
        try daemon.start()
        let users = ((try sim.admin("GET", "/_sim/state") as! [String: Any])["users"] as! [[String: Any]]).map { $0["id"] as! String }
        for id in users.prefix(5) { try sim.admin("DELETE", "/_sim/users/\(id)?permanent=true") }

        let blocked = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(blocked.status != 0)
        #expect(blocked.stdout.contains("blocked"))
        #expect(blocked.stdout.contains("--allow-deletions 5"))
        #expect(try daemon.status()["contoso"]?["state"] as? String == "blocked")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")).users.count == 20)
        #expect(daemon.log.contains("4c3a215e0c4d474aa0e8f993329c0796"))

        let approved = try daemon.ctl(["run-now", "contoso", "--wait", "--allow-deletions", "5"])
        #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        // The approval was for one run only.
        for id in users[5..<10] { try sim.admin("DELETE", "/_sim/users/\(id)?permanent=true") }
        #expect(try daemon.ctl(["run-now", "contoso", "--wait"]).stdout.contains("blocked"))
    }

    @Test("queries answer from the daemon's mirror: users, groups, members, show, history")
    func queries() throws {
        let sim = try Simulator(users: 12, groups: 3, memberships: 15)
        let parent = try sim.admin("POST", "/_sim/groups", ["displayName": "Parent", "securityEnabled": true]) as! [String: Any]
        let child = try sim.admin("POST", "/_sim/groups", ["displayName": "Child", "securityEnabled": true]) as! [String: Any]
        let person = try sim.admin("POST", "/_sim/users", ["displayName": "Ünïcode Person", "userPrincipalName": "u.p@contoso.com",
                                                         "accountEnabled": false, "mail": "u.p@contoso.com"]) as! [String: Any]
        let parentId = parent["id"] as! String, childId = child["id"] as! String, personId = person["id"] as! String
        try sim.admin("POST", "/_sim/groups/\(parentId)/members", ["id": childId])
        try sim.admin("POST", "/_sim/groups/\(childId)/members", ["id": parentId])  // a cycle
        try sim.admin("POST", "/_sim/groups/\(childId)/members", ["id": personId])
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()

        let disabled = try daemon.ctl(["users", "contoso", "--filter", "accountEnabled eq false and endswith(mail,'@CONTOSO.com')", "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(disabled.stdout.utf8)) as! [[String: Any]]
        #expect(list.contains { $0["id"] as? String == personId })
        #expect(list.allSatisfy { $0["accountEnabled"] as? Bool == false })

        let csv = try daemon.ctl(["users", "contoso", "--csv"])
        #expect(csv.stdout.split(separator: "\n").count == 14)
        #expect(csv.stdout.hasPrefix("id,userPrincipalName,displayName,mail,accountEnabled"))

        let bad = try daemon.ctl(["users", "contoso", "--filter", "mail eq"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("column 8"))

        let direct = try daemon.ctl(["members", "contoso", "Parent"])
        #expect(direct.stdout.contains(childId))
        #expect(!direct.stdout.contains(personId))
        let transitive = try daemon.ctl(["members", "contoso", "parent", "--transitive"])
        #expect(transitive.stdout.contains(personId))
        #expect(transitive.stdout.contains(childId))
        let json = try daemon.ctl(["members", "contoso", "parent", "--transitive", "--json"])
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        #expect((answer["group"] as? [String: Any])?["id"] as? String == parentId)
        #expect((answer["users"] as? [[String: Any]])?.map { $0["id"] as? String } == [personId])
        #expect((answer["groups"] as? [[String: Any]])?.map { $0["id"] as? String } == [childId])
        #expect(try daemon.ctl(["members", "contoso", "nogroup", "--json"]).status != 0)

        let show = try daemon.ctl(["show", "contoso", "U.P@contoso.com"])
        #expect(show.status == 0)
        #expect(show.stdout.contains("Ünïcode Person"))
        #expect(try daemon.ctl(["show", "contoso", "nobody"]).status != 0)

        let groups = try daemon.ctl(["groups", "contoso", "--filter", "displayName eq 'child'", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(groups.stdout.utf8)) as! [[String: Any]]).count == 1)

        try daemon.runNow("contoso")
        let history = try daemon.ctl(["history", "contoso", "-n", "5", "--json"])
        let runs = (try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as! [String: Any])["runs"] as! [[String: Any]]
        #expect(runs.count == 2)
        #expect(runs.first?["added"] as? Int == 0)
        #expect(runs.last?["full"] as? Bool == true)
        #expect(try daemon.ctl(["history", "contoso"]).stdout.contains("succeeded"))

        // The whole run, exports included, is what the history keeps: the same after a restart.
        let before = try daemon.status()["contoso"]?["lastRun"] as? [String: Any]
        #expect(try daemon.stop(SIGTERM) == 0)
        try daemon.start()
        let after = try daemon.status()["contoso"]?["lastRun"] as? [String: Any]
        #expect(after?["runId"] as? String == before?["runId"] as? String)
        #expect(after?["finished"] as? String == before?["finished"] as? String)
        #expect(after?["durationMsec"] as? Int == before?["durationMsec"] as? Int)
    }
}

@Suite("outputs end to end")
struct OutputsEndToEndTests {
    @Test("Export=json,csv writes both; MetricsFile= feeds node_exporter's textfile collector")
    func csvAndMetrics() throws {
        let sim = try Simulator(users: 7, groups: 2, memberships: 6)
        try sim.admin("POST", "/_sim/users", ["displayName": "Comma, \"Quoted\"", "userPrincipalName": "c@contoso.com", "accountEnabled": true])
        let daemon = DaemonHarness()
        let textfiles = daemon.directory + "/textfiles"
        try FileManager.default.createDirectory(atPath: textfiles, withIntermediateDirectories: true)
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nExport=json,csv\nMetricsFile=\(textfiles)")
        try daemon.start()
        let csv = try String(contentsOfFile: daemon.exportDirectory("contoso") + "/users.csv", encoding: .utf8)
        let lines = csv.split(separator: "\r\n")
        #expect(lines.count == 9)
        #expect(csv.contains("\"Comma, \"\"Quoted\"\"\""))
        let groups = try String(contentsOfFile: daemon.exportDirectory("contoso") + "/groups.csv", encoding: .utf8)
        #expect(groups.hasPrefix("id,displayName,"))
        #expect(FileManager.default.fileExists(atPath: daemon.exportDirectory("contoso") + "/users.json"))

        let metrics = try String(contentsOfFile: textfiles + "/entra-sync-contoso.prom", encoding: .utf8)
        #expect(metrics.contains("entra_sync_objects{profile=\"contoso\",kind=\"users\"} 8"))
        #expect(metrics.contains("entra_sync_runs_total{profile=\"contoso\",result=\"succeeded\"} 1"))
        #expect(metrics.contains("# TYPE entra_sync_last_success_timestamp_seconds gauge"))
        #expect(metrics.contains("entra_sync_graph_requests_total{profile=\"contoso\"}"))

        // Only CSV now: the JSON files go away at the next run.
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nExport=csv")
        _ = try daemon.ctl(["reload"])
        try daemon.runNow("contoso")
        #expect(!FileManager.default.fileExists(atPath: daemon.exportDirectory("contoso") + "/users.json"))
        #expect(FileManager.default.fileExists(atPath: daemon.directory + "/state/contoso/metrics.prom"))
    }
}

@Suite("change hooks end to end")
struct HookEndToEndTests {
    @Test("OnChange gets JSON lines; a failing hook gets the same changes again with the next run")
    func hookRedelivery() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 3)
        let daemon = DaemonHarness()
        let hook = daemon.directory + "/hook.sh"
        let received = daemon.directory + "/received"
        let failFlag = daemon.directory + "/fail"
        try """
            #!/bin/sh
            if [ -e \(failFlag) ]; then cat >/dev/null; exit 3; fi
            cat >>\(received)
            echo "--- $ENTRA_PROFILE $ENTRA_RUN_ID" >>\(received)
            """.write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nOnChange=\(hook)\nOnChangeTimeout=20s")
        try daemon.start()
        // The program runs on its own queue, after the run's waiters heard of it.
        try Harness.waitUntil("the first change set") { (try? String(contentsOfFile: received, encoding: .utf8))?.contains("--- contoso ") == true }
        let first = try String(contentsOfFile: received, encoding: .utf8)
        let firstLines = first.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(firstLines.count == 5 + 1 + 3)
        let parsed = try firstLines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(parsed.filter { $0["kind"] as? String == "user" }.allSatisfy { $0["op"] as? String == "add" && $0["object"] is [String: Any] })
        #expect(parsed.contains { $0["kind"] as? String == "membership" && $0["group"] is String })
        #expect(first.contains("--- contoso "))

        // The hook fails: the change set stays pending.
        FileManager.default.createFile(atPath: failFlag, contents: nil)
        let users = ((try sim.admin("GET", "/_sim/state") as! [String: Any])["users"] as! [[String: Any]]).map { $0["id"] as! String }
        try sim.admin("PATCH", "/_sim/users/\(users[0])", ["displayName": "First change"])
        try daemon.runNow("contoso")
        try Harness.waitUntil("the failed delivery") { daemon.log.contains("will be delivered again") }

        // Fixed, and a restart in between: both change sets arrive with the next run.
        try FileManager.default.removeItem(atPath: failFlag)
        try daemon.stop()
        try daemon.start()
        try sim.admin("DELETE", "/_sim/users/\(users[1])?permanent=true")
        try daemon.runNow("contoso")
        try Harness.waitUntil("both change sets") {
            // The first run's, the failed one's at the restart, then the last run's.
            ((try? String(contentsOfFile: received, encoding: .utf8)) ?? "").components(separatedBy: "--- contoso").count == 4
        }
        let all = try String(contentsOfFile: received, encoding: .utf8)
        let later = all.dropFirst(first.count)
        #expect(later.contains("\"op\":\"update\",\"kind\":\"user\""))
        #expect(later.contains("First change"))
        #expect(later.contains("\"op\":\"remove\",\"kind\":\"user\""))
        #expect(later.components(separatedBy: "First change").count == 2, "delivered once after the fix")
    }

    @Test("a hanging OnChange program delays neither run-now --wait nor the next run; a restart delivers what it never accepted")
    func slowHookDelaysNothing() throws {
        let sim = try Simulator(users: 5, groups: 1, memberships: 3)
        let daemon = DaemonHarness()
        let hook = daemon.directory + "/hook.sh"
        let calls = daemon.directory + "/calls"
        try "#!/bin/sh\necho call >>\(calls)\ncat >/dev/null\nsleep 30\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nOnChange=\(hook)\nOnChangeTimeout=60s")
        try daemon.start()
        try Harness.waitUntil("the program to hang") { FileManager.default.fileExists(atPath: calls) }
        for n in 0..<2 {
            try sim.admin("POST", "/_sim/churn", ["seed": 30 + n, "changes": 3])
            let started = Date()
            try daemon.runNow("contoso")
            #expect(Date().timeIntervalSince(started) < 10, "run-now --wait took \(Date().timeIntervalSince(started)) s behind the hook")
        }
        #expect((try daemon.status()["contoso"]?["lastRun"] as? [String: Any])?["result"] as? String == "succeeded")
        // Stopped while the program hangs: it is ended within seconds, nothing was accepted, and all
        // three change sets stay pending.
        let stopping = Date()
        try daemon.stop()
        #expect(Date().timeIntervalSince(stopping) < 10, "stop waited \(Date().timeIntervalSince(stopping)) s for the program")
        #expect(daemon.log.contains("ended: the daemon is stopping"), "\(daemon.log.suffix(1500))")
        try "#!/bin/sh\ncat >>\(daemon.directory)/received\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try daemon.start()
        try Harness.waitUntil("the pending change sets, at the start") { FileManager.default.fileExists(atPath: daemon.directory + "/received") }
        let received = try String(contentsOfFile: daemon.directory + "/received", encoding: .utf8)
        #expect(received.split(separator: "\n").filter { $0.hasPrefix("{") }.count >= 5 + 1 + 3 + 2, "\(received.prefix(400))")
    }
}

@Suite("soft delete grace end to end")
struct SoftDeleteGraceEndToEndTests {
    @Test("SoftDeleteGrace keeps a soft-deleted user in users.json marked deleted; a restore clears the mark")
    func grace() throws {
        let sim = try Simulator(users: 6, groups: 1, memberships: 4)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: "SoftDeleteGrace=1h")
        try daemon.start()
        let users = ((try sim.admin("GET", "/_sim/state") as! [String: Any])["users"] as! [[String: Any]]).map { $0["id"] as! String }
        try sim.admin("DELETE", "/_sim/users/\(users[0])")
        try daemon.runNow("contoso")
        func exported() throws -> [[String: Any]] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: daemon.exportDirectory("contoso") + "/users.json"))) as! [[String: Any]]
        }
        var list = try exported()
        #expect(list.count == 6)
        #expect(list.first { $0["id"] as? String == users[0] }?["deleted"] as? Bool == true)
        #expect(list.filter { $0["deleted"] != nil }.count == 1)
        #expect(try daemon.status()["contoso"]?["users"] as? Int == 5)
        // Survives a restart (it is journaled), and a restore clears it.
        try daemon.stop()
        try daemon.start()
        try sim.admin("POST", "/_sim/users/\(users[0])/restore")
        try daemon.runNow("contoso")
        list = try exported()
        #expect(list.count == 6)
        #expect(list.allSatisfy { $0["deleted"] == nil })
    }
}
