import EntraConfig
import EntraJournal
import Foundation
import Testing
@testable import EntraControl
@testable import EntraSync

/// Seeded random inputs for every parser of untrusted bytes: each must answer with a value or an
/// error, never crash or hang. Bounded and reproducible (fixed seeds); crashes found become cases.
@Suite("fuzz")
struct FuzzTests {
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random text built from tokens the parser cares about, plus noise.
    func text(_ rng: inout Rng, tokens: [String], count: Int) -> String {
        (0..<count).map { _ in
            rng.next() % 5 == 0 ? String(UnicodeScalar(UInt8(rng.next() % 128))) : tokens[Int(rng.next() % UInt64(tokens.count))]
        }.joined()
    }

    @Test func filterExpressions() {
        var rng = Rng(state: 1)
        let tokens = ["accountEnabled", " eq ", " ne ", "true", "'x''y'", "(", ")", " and ", " or ", "not ", "startswith(", ",", "'", "null", "1.5", " "]
        var parsed = 0
        for _ in 0..<5000 {
            if let e = try? FilterExpression.parse(text(&rng, tokens: tokens, count: Int(rng.next() % 12))) {
                _ = e.matches { _ in .string("x") }
                parsed += 1
            }
        }
        #expect(parsed > 0)  // the generator does reach valid expressions
    }

    @Test func profiles() throws {
        var rng = Rng(state: 2)
        let tokens = ["[Tenant]\n", "[Sync]\n", "TenantId=", "ClientId=", "11111111-2222-3333-4444-555555555555", "ClientSecret=s\n",
                      "Interval=", "30min", "1h 30s", "\\\n", "#", "\"", "=", "\n", "Users=no\n", "UserFilter=", "mail eq 'a'", "MaxDeletions=5%\n"]
        let path = "/tmp/fuzz-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).conf"
        defer { unlink(path) }
        for _ in 0..<1500 {
            try text(&rng, tokens: tokens, count: Int(rng.next() % 20)).write(toFile: path, atomically: false, encoding: .utf8)
            _ = try? ProfileLoader.load(file: path, environment: [:])
        }
    }

    @Test func controlMessages() {
        var rng = Rng(state: 3)
        let tokens = ["{", "}", "\"method\"", ":", "\"io.entrasync.Manager.Status\"", ",", "\"parameters\"", "{}", "[", "]", "null", "\"more\":true", "1e999", "\"\\u0000\""]
        let peer = PeerCredentials(pid: 1, uid: 0, gid: 0)
        for _ in 0..<5000 {
            if let call = VarlinkCall.parse(Array(text(&rng, tokens: tokens, count: Int(rng.next() % 16)).utf8), peer: peer) {
                _ = try? call.decode(StatusRequest.self)
                _ = try? call.decode(RunNowRequest.self)
            }
        }
    }

    @Test func journalRecordsAndSegments() throws {
        var rng = Rng(state: 4)
        // Random payloads for every record type.
        for _ in 0..<20000 {
            let payload = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? Mutation(record: JournalRecord(type: UInt8(1 + rng.next() % 15), payload: payload))
        }
        // Random damage to a real journal: open() either repairs, delivers a prefix of the batches, or refuses.
        let dir = "/tmp/fuzz-journal-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let batches = (0..<6).map { b in (0..<5).map { i in JournalRecord(type: 1, payload: Array("batch \(b) record \(i)".utf8)) } }
        do {
            let (journal, _) = try Journal.open(directory: dir) { _ in }
            for batch in batches { try journal.commit(batch) }
            journal.close()
        }
        let segment = dir + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".seg") }!)
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
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
                // Whatever is delivered is a whole prefix of the committed batches, never a mix.
                #expect(seen.count % 5 == 0)
                #expect(seen == Array(batches.flatMap { $0 }.prefix(seen.count)))
            }
            try original.write(to: URL(fileURLWithPath: segment))
        }
    }
}
