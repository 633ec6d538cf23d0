import EntraPush
import Testing

/// What a target's next push plans (`PushRuntime.changedSince`): the objects changed since its last
/// push began, or every entry.
@Suite("push runtime: incremental plans")
struct PushRuntimeTests {
    @Test("the first push after a start is whole; then each push plans what runs changed since the last one began, plus what it left")
    func changedSince() {
        var runtime = PushRuntime()
        runtime.committed(["u1"])
        #expect(runtime.startPush("corp", whole: false) == nil, "nothing is known after a start")
        runtime.committed(["u2"])  // during the push: counts toward the next one
        runtime.pushEnded("corp", left: ["g1"])
        #expect(runtime.startPush("corp", whole: false) == ["u2", "g1"])
        runtime.pushEnded("corp", left: [])
        #expect(runtime.startPush("corp", whole: false) == [])
        runtime.pushEnded("corp", left: [])
        runtime.committed(["u3"])
        #expect(runtime.startPush("corp", whole: true) == nil, "an operator's push is whole")
        runtime.pushEnded("corp", left: [])
        #expect(runtime.startPush("other", whole: false) == nil, "each target on its own")
    }

    @Test("a failed push, a full sync or a reload (even during a push) makes the next plan whole")
    func whole() {
        var runtime = PushRuntime()
        _ = runtime.startPush("corp", whole: false)
        runtime.pushEnded("corp", left: nil)
        #expect(runtime.startPush("corp", whole: false) == nil, "the push failed")
        runtime.pushEnded("corp", left: [])
        _ = runtime.startPush("corp", whole: false)
        runtime.committed(nil)  // a full sync commits while the push runs
        runtime.pushEnded("corp", left: ["u1"])
        #expect(runtime.startPush("corp", whole: false) == nil)
    }
}
