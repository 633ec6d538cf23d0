import EntraConfig
import Foundation
import Testing
import TestSupport

/// Seeded random profiles and filters: each is accepted or refused with an error that says where,
/// never a crash. Bounded and reproducible (fixed seeds).
@Suite("config fuzz")
struct ConfigFuzzTests {
    @Test("random filter expressions parse or fail with a column; the generator reaches valid ones")
    func filterExpressions() {
        var rng = SeededGenerator(seed: 1)
        let tokens = ["accountEnabled", " eq ", " ne ", "true", "'x''y'", "(", ")", " and ", " or ", "not ", "startswith(", ",", "'", "null", "1.5", " "]
        var parsed = 0
        for _ in 0..<5000 {
            let text = rng.text(tokens: tokens, count: Int(rng.next() % 12))
            do {
                let expression = try FilterExpression.parse(text)
                _ = expression.matches { _ in .string("x") }
                parsed += 1
            } catch let error as FilterSyntaxError {
                #expect(error.description.hasPrefix("column "), "\(text): \(error)")
            } catch {
                Issue.record("\(text): unexpected error type \(error)")
            }
        }
        #expect(parsed > 0)
    }

    @Test("every refused random profile names its file, and the line or the key at fault")
    func profiles() throws {
        var rng = SeededGenerator(seed: 2)
        let tokens = ["[Tenant]\n", "[Sync]\n", "TenantId=", "ClientId=", "11111111-2222-3333-4444-555555555555", "ClientSecret=s\n",
                      "Interval=", "30min", "1h 30s", "\\\n", "#", "\"", "=", "\n", "Users=no\n", "UserFilter=", "mail eq 'a'", "MaxDeletions=5%\n"]
        let path = NSTemporaryDirectory() + "fuzz-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).conf"
        defer { unlink(path) }
        var refused = 0
        for _ in 0..<1500 {
            let text = rng.text(tokens: tokens, count: Int(rng.next() % 20))
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            do {
                _ = try ProfileLoader.load(file: path, environment: [:])
            } catch {
                refused += 1
                #expect(error.file == path, "\(text.debugDescription): \(error)")
                #expect(error.line != nil || error.key != nil, "\(text.debugDescription): \(error) names neither a line nor a key")
                #expect(error.description.hasPrefix(path + (error.line.map { ":\($0)" } ?? "") + ": "))
            }
        }
        #expect(refused > 0)
    }
}
