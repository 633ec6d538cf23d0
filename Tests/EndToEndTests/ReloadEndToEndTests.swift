import Foundation
import Testing

@Suite("reload end to end")
struct ReloadEndToEndTests {
    @Test("SIGHUP and entra-syncctl reload add, change, keep broken and remove profiles without losing state")
    func reload() throws {
        let sim = try Simulator(users: 8, groups: 2, memberships: 6)
        let daemon = DaemonHarness()
        try daemon.writeProfile("alpha", simulator: sim)
        try daemon.writeProfile("gamma", simulator: sim)
        try daemon.start()
        let before = try daemon.status()
        #expect(before["gamma"]?["users"] as? Int == 8)

        try daemon.writeProfile("alpha", simulator: sim, interval: "2h")
        try daemon.writeProfile("beta", simulator: sim)
        try daemon.write("gamma.conf", "[Tenant]\nTenantId=nope nope\n")
        daemon.kill(SIGHUP)
        try Harness.waitUntil("the reload to add beta") { try daemon.status()["beta"] != nil }
        try daemon.waitForIdle()
        var status = try daemon.status()
        #expect(status["beta"]?["users"] as? Int == 8)
        #expect(status["gamma"]?["state"] as? String == "config-error")
        #expect((status["gamma"]?["error"] as? String ?? "").contains("gamma.conf:2"))
        #expect(status["gamma"]?["users"] as? Int == 8, "a broken file keeps the profile's committed state")
        #expect(status["alpha"]?["state"] as? String == "idle")
        #expect(daemon.log.contains("063fdf9da86c46fd8f2a108bc9c99a8e") || daemon.log.contains("gamma.conf:2"))

        // The broken profile still runs on its previous configuration.
        let run = try daemon.ctl(["run-now", "gamma", "--wait"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")

        try FileManager.default.removeItem(atPath: daemon.configDirectory + "/beta.conf")
        try daemon.writeProfile("gamma", simulator: sim)
        let reload = try daemon.ctl(["reload"])
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(reload.stdout.contains("removed: beta"))
        status = try daemon.status()
        #expect(status["beta"] == nil)
        #expect(status["gamma"]?["state"] as? String == "idle")
        #expect(FileManager.default.fileExists(atPath: daemon.stateDirectory + "/beta/export/users.json"))
    }

    /// A sample of the profile's metrics file.
    static func metric(_ daemon: DaemonHarness, _ name: String) throws -> Int {
        let text = try String(contentsOfFile: daemon.stateDirectory + "/contoso/metrics.prom", encoding: .utf8)
        let line = text.split(separator: "\n").first { $0.hasPrefix(name + "{") }
        return Int(line?.split(separator: " ").last ?? "") ?? -1
    }

    @Test("a reload that changes no credential keeps the Graph token and the counters; a new secret makes a new client, counters keep counting")
    func reloadKeepsTokenAndCounters() throws {
        let sim = try Simulator(users: 6, groups: 2, memberships: 6)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        try daemon.runNow("contoso")
        let requests = try Self.metric(daemon, "entra_sync_graph_requests_total")
        let tokens = (try sim.admin("GET", "/_sim/stats") as! [String: Any])["tokenRequests"] as? Int ?? -1
        #expect(requests > 0 && tokens == 1)

        try daemon.writeProfile("contoso", simulator: sim, interval: "2h", extra: "SoftDeleteGrace=1d")
        #expect(try daemon.ctl(["reload"]).stdout.contains("changed: contoso"))
        try daemon.runNow("contoso")
        #expect((try sim.admin("GET", "/_sim/stats") as! [String: Any])["tokenRequests"] as? Int == 1, "the cached token was reused")
        let afterReload = try Self.metric(daemon, "entra_sync_graph_requests_total")
        #expect(afterReload > requests, "counters are monotonic: \(requests) then \(afterReload)")

        // A changed connection setting makes a new client; the counters go on.
        let text = try String(contentsOfFile: daemon.configDirectory + "/contoso.conf", encoding: .utf8)
        try daemon.write("contoso.conf", text + "\nMaxAttempts=3\n")
        #expect(try daemon.ctl(["reload"]).status == 0)
        try daemon.runNow("contoso")
        #expect((try sim.admin("GET", "/_sim/stats") as! [String: Any])["tokenRequests"] as? Int == 2, "a new client asks for a token")
        #expect(try Self.metric(daemon, "entra_sync_graph_requests_total") > afterReload)
    }
}
