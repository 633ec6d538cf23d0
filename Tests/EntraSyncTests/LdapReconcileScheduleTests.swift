import EntraMirror
@testable import EntraSync
import Testing

/// When an LDAP target is read back for drift repair, from the journaled time of the last one.
@Suite("LDAP drift-repair schedule")
struct LdapReconcileScheduleTests {
    @Test("due ReconcileInterval= after the journaled last one, whatever restarts came between; once for a journal that never recorded one")
    func due() {
        var state = LdapTargetState()
        #expect(ProfileRunner.reconcileDue(state, interval: 86_400, now: 5_000), "a journal from before the time was recorded")
        state.apply(.reconciled(target: "corp", at: 5_000))
        #expect(!ProfileRunner.reconcileDue(state, interval: 86_400, now: 5_001))
        #expect(!ProfileRunner.reconcileDue(state, interval: 86_400, now: 5_000 + 86_399))
        #expect(ProfileRunner.reconcileDue(state, interval: 86_400, now: 5_000 + 86_400))
        #expect(ProfileRunner.reconcileDue(state, interval: 3_600, now: 5_000 + 3_600))
    }
}
