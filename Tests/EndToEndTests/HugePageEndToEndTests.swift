import Foundation
import Testing

/// A huge page from Graph (here 64 MiB of padding in a valid page) is read, parsed and committed
/// with memory bounded by a small multiple of the page; the run is correct.
@Suite("huge pages end to end")
struct HugePageEndToEndTests {
    @Test("a 64 MiB delta page is synced correctly with bounded memory")
    func hugePage() throws {
        let sim = try Simulator(users: 50, groups: 4, memberships: 60, pageSize: 20)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim)
        try daemon.start()
        let before = Harness.memory(daemon.pid, "VmHWM")
        let pad = 64 << 20
        try sim.addFault(["path": "/users/delta", "action": "pad", "padBytes": pad, "count": 2])
        try sim.admin("POST", "/_sim/churn", ["seed": 3, "changes": 10])
        let run = try daemon.runNow("contoso", full: true)
        #expect(run.status == 0)
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        let grown = Harness.memory(daemon.pid, "VmHWM") - before
        #expect(grown < 4 * pad, "peak RSS grew by \(grown >> 20) MiB for a \(pad >> 20) MiB page")
        #expect((try sim.admin("GET", "/_sim/stats") as! [String: Any])["bytesServed"] as! Int > 2 * pad)
    }
}
