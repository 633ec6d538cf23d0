import Foundation
import Testing

/// `entra-syncctl resync PROFILE --discard-state`: a damaged journal is set aside and the profile
/// synced again from the simulated tenant; its SCIM target is adopted, not provisioned twice.
@Suite("resync end to end", .enabled(if: ScimServer.available || ProcessInfo.processInfo.environment["CI"] != nil))
struct ResyncEndToEndTests {
    @Test("a damaged journal: resync keeps it aside, rebuilds the mirror, adopts the SCIM target without duplicates")
    func resyncAfterDamage() throws {
        let sim = try Simulator(users: 20, groups: 4, memberships: 30)
        let server = try ScimServer()
        let daemon = DaemonHarness()
        let token = try daemon.writeScimToken(server)
        try daemon.writeProfile("contoso", simulator: sim, extra: ScimEndToEndTests.section(server, token: token))
        try daemon.start()
        _ = try daemon.waitForScim("contoso")
        #expect(try server.differences(from: daemon.exportDirectory("contoso")) == [])
        let usersBefore = Set(try server.resources("Users").map { $0["id"] as! String })
        let groupsBefore = Set(try server.resources("Groups").map { $0["id"] as! String })
        #expect(usersBefore.count == 20 && groupsBefore.count == 4)

        // Entra changes while the daemon is down; then a bit flips inside the first committed run.
        #expect(try daemon.stop(SIGTERM) == 0)
        let renamed = try ScimEndToEndTests.users(sim)[3]["id"] as! String
        try sim.admin("PATCH", "/_sim/users/\(renamed)", ["displayName": "Renamed While Down"])
        let journal = daemon.journalDirectory("contoso")
        let segment = journal + "/" + (try FileManager.default.contentsOfDirectory(atPath: journal).filter { $0.hasSuffix(".seg") }.sorted().first!)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[200] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let damaged = try FileManager.default.contentsOfDirectory(atPath: journal).sorted()

        try daemon.start()
        let failed = try daemon.status()["contoso"]
        #expect(failed?["state"] as? String == "failed")
        #expect((failed?["error"] as? String ?? "").contains("entra-syncctl resync contoso --discard-state"), "\(failed ?? [:])")
        #expect(daemon.log.contains("entra-syncctl resync contoso --discard-state"))

        let unconfirmed = try daemon.ctl(["resync", "contoso"])
        #expect(unconfirmed.status != 0 && unconfirmed.stderr.contains("--discard-state"))
        #expect(try daemon.status()["contoso"]?["state"] as? String == "failed")

        let resync = try daemon.ctl(["resync", "contoso", "--discard-state", "--wait"])
        #expect(resync.status == 0, "\(resync.stdout)\(resync.stderr)")
        #expect(resync.stdout.contains("succeeded") && resync.stdout.contains("full"), "\(resync.stdout)")

        // The damaged journal is kept, byte for byte, under a dated name beside the new one.
        let kept = try FileManager.default.contentsOfDirectory(atPath: daemon.stateDirectory + "/contoso")
            .filter { $0.hasPrefix("journal.discarded-") }
        #expect(kept.count == 1)
        if let kept = kept.first {
            #expect(resync.stdout.contains(daemon.stateDirectory + "/contoso/" + kept))
            let keptDirectory = daemon.stateDirectory + "/contoso/" + kept
            #expect(try FileManager.default.contentsOfDirectory(atPath: keptDirectory).sorted() == damaged)
            #expect(try Data(contentsOf: URL(fileURLWithPath: keptDirectory + "/" + (segment as NSString).lastPathComponent)) == Data(bytes))
        }

        // The mirror is Entra's whole directory again, and stays so across a restart.
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        #expect(try daemon.status()["contoso"]?["state"] as? String == "idle")

        // The SCIM target: first contact again, everything adopted, nothing created twice.
        let status = try daemon.waitForScim("contoso", after: ["pushes": 0])
        #expect(try server.differences(from: daemon.exportDirectory("contoso")) == [])
        #expect(Set(try server.resources("Users").map { $0["id"] as! String }) == usersBefore)
        #expect(Set(try server.resources("Groups").map { $0["id"] as! String }) == groupsBefore)
        #expect((status["lastPush"] as? [String: Any])?["created"] as? Int == 0, "\(status)")
        #expect(daemon.log.components(separatedBy: "first contact, adopted 20 existing users and 4 groups").count == 2, "\(daemon.log.suffix(2000))")
        #expect(try server.resources("Users").first { $0["externalId"] as? String == renamed }?["displayName"] as? String == "Renamed While Down")

        try daemon.stop(SIGTERM)
        try daemon.start()
        #expect(try daemon.status()["contoso"]?["state"] as? String == "idle")
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
    }
}
