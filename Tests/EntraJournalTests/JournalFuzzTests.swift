import Foundation
import Testing
import TestSupport
@testable import EntraJournal

/// Random damage to a real journal: open() repairs it, delivers a whole prefix of the committed
/// batches, or refuses; it never delivers a mix and never traps.
@Suite("journal fuzz")
struct JournalFuzzTests {
    @Test func damagedSegments() throws {
        var rng = SeededGenerator(seed: 5)
        let dir = NSTemporaryDirectory() + "fuzz-journal-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let batches = (0..<6).map { b in (0..<5).map { i in JournalRecord(type: 1, payload: Array("batch \(b) record \(i)".utf8)) } }
        do {
            let (journal, _) = try Journal.open(directory: dir) { _ in }
            for batch in batches { try journal.commit(batch) }
            journal.close()
        }
        let segment = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".seg") }!)
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        var opened = 0
        for _ in 0..<400 {
            var bytes = Array(original)
            for _ in 0..<Int(1 + rng.next() % 3) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] ^= UInt8(1 << (rng.next() % 8))
                case 1: bytes.removeLast(min(bytes.count - 1, Int(rng.next() % 40)))
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: segment))
            var seen: [JournalRecord] = []
            if let (journal, _) = try? Journal.open(directory: dir, replay: { seen.append($0) }) {
                journal.close()
                opened += 1
                #expect(seen.count % 5 == 0)
                #expect(seen == Array(batches.flatMap { $0 }.prefix(seen.count)))
            }
            try original.write(to: URL(fileURLWithPath: segment))
        }
        #expect(opened > 0)
    }
}
