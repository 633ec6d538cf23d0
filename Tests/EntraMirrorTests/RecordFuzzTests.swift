import EntraJournal
import Testing
import TestSupport
@testable import EntraMirror

/// Random payloads for every record type the mirror reads, the snapshot-only ones included: each is
/// refused as malformed or decodes to a mutation that encodes back to the same bytes.
@Suite("record fuzz")
struct RecordFuzzTests {
    static let types = MirrorRecordType.allCases.map(\.rawValue) + ScimRecordType.allCases.map(\.rawValue) + LdapRecordType.allCases.map(\.rawValue)

    @Test("the fuzz draws every known record type, and unknown ones")
    func typesCovered() {
        #expect(Set(Self.types).isSuperset(of: [1, 12, 13, 19, 30, 31, 32, 60, 65]))
    }

    @Test("decoded records re-encode to the same bytes; replay never traps")
    func records() {
        var rng = SeededGenerator(seed: 4)
        var decoded = 0
        for i in 0..<40000 {
            let type = i % 10 == 9 ? UInt8(truncatingIfNeeded: rng.next()) : Self.types[Int(rng.next() % UInt64(Self.types.count))]
            let payload = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let record = JournalRecord(type: type, payload: payload)
            if let mutation = try? Mutation(record: record) {
                decoded += 1
                let again = try? Mutation(record: mutation.record)
                #expect(again == mutation, "type \(type): \(payload)")
            }
            var replay = MirrorReplay()
            _ = try? replay.apply(record)
        }
        #expect(decoded > 0)
    }
}
