import Foundation
import Testing
@testable import EntraJournal

@Suite("journal")
struct JournalTests {
    let dir = NSTemporaryDirectory() + "journal-" + UUID().uuidString

    func record(_ i: Int, size: Int = 20) -> JournalRecord {
        JournalRecord(type: UInt8(1 + i % 9), payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
    }

    func reopen() throws -> ([JournalRecord], RecoveryReport, Journal) {
        var seen: [JournalRecord] = []
        let (journal, report) = try Journal.open(directory: dir) { seen.append($0) }
        return (seen, report, journal)
    }

    func segments() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".seg") }.sorted().map { dir + "/" + $0 }
    }

    func modify(_ path: String, _ body: (inout [UInt8]) -> Void) throws {
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        body(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func crc32cKnownVector() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0) }
        #expect(CRC32C.checksum(Array(long[500...]), seed: CRC32C.checksum(Array(long[..<500]))) == CRC32C.checksum(long))
    }

    @Test func commitsSurviveReopen() throws {
        let batches = [(0..<3).map { record($0) }, [record(7, size: 0)], (10..<200).map { record($0, size: $0) }]
        do {
            let (_, _, journal) = try reopen()
            for batch in batches { try journal.commit(batch) }
            journal.close()
        }
        let (seen, report, _) = try reopen()
        #expect(seen == batches.flatMap { $0 })
        #expect(report.truncatedBytes == 0)
        #expect(report.committedBatches == 3)
    }

    @Test func everyCutInsideTheLastBatchFallsBackToThePreviousCommit() throws {
        let first = (0..<5).map { record($0) }
        let second = (5..<9).map { record($0) }
        do {
            let (_, _, journal) = try reopen()
            try journal.commit(first)
            journal.close()
        }
        let committedSize = try Data(contentsOf: URL(fileURLWithPath: try segments()[0])).count
        do {
            let (_, _, journal) = try reopen()
            try journal.commit(second)
            journal.close()
        }
        let full = Array(try Data(contentsOf: URL(fileURLWithPath: try segments()[0])))
        for cut in committedSize..<full.count {
            try Data(full[..<cut]).write(to: URL(fileURLWithPath: try segments()[0]))
            let (seen, report, journal) = try reopen()
            journal.close()
            #expect(seen == first, "cut at \(cut)")
            #expect(report.truncatedBytes == cut - committedSize)
            #expect(try Data(contentsOf: URL(fileURLWithPath: try segments()[0])).count == committedSize)
        }
    }

    @Test("a new journal writes no segment until its first commit or snapshot; every state between replays")
    func newJournalCreatesItsFirstSegmentLazily() throws {
        do {
            let (seen, _, journal) = try reopen()
            #expect(seen.isEmpty)
            #expect(try segments().isEmpty)
            journal.close()
        }
        // Opened again before anything was written (a crash or a stop right after start): still empty.
        do {
            let (seen, report, journal) = try reopen()
            #expect(seen.isEmpty && report.committedBatches == 0 && report.removedFiles.isEmpty)
            try journal.commit([record(1)])
            journal.close()
        }
        #expect(try segments().map { ($0 as NSString).lastPathComponent } == ["0000000000000001.seg"])
        #expect(try reopen().0 == [record(1)])

        // The first write of another new journal is a snapshot (a profile's first sync).
        let other = dir + "-snapshot"
        defer { try? FileManager.default.removeItem(atPath: other) }
        do {
            let (journal, _) = try Journal.open(directory: other) { _ in }
            try journal.writeSnapshot { try $0(record(7)) }
            try journal.commit([record(8)])
            journal.close()
        }
        var seen: [JournalRecord] = []
        _ = try Journal.open(directory: other) { seen.append($0) }
        #expect(seen == [record(7), record(8)])
    }

    @Test("a journal an older version started with an empty first segment opens and continues it")
    func headerOnlySegmentOfAnOlderVersionOpens() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(JournalFormat.encodeHeader(.init(flags: 0, sequence: 1, salt: 0x1234_5678)))
            .write(to: URL(fileURLWithPath: dir + "/0000000000000001.seg"))
        do {
            let (seen, report, journal) = try reopen()
            #expect(seen.isEmpty && report.truncatedBytes == 0)
            try journal.commit([record(3)])
            journal.close()
        }
        #expect(try segments().count == 1)
        #expect(try reopen().0 == [record(3)])
    }

    @Test func bitFlipInTheTailIsTruncatedButEarlierDamageIsCorruption() throws {
        do {
            let (_, _, journal) = try reopen()
            try journal.commit((0..<5).map { record($0) })
            try journal.commit((5..<10).map { record($0) })
            journal.close()
        }
        let path = try segments()[0]
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        try modify(path) { $0[$0.count - 5] ^= 0x04 }  // inside the last commit marker
        var (seen, report, journal) = try reopen()
        journal.close()
        #expect(seen == (0..<5).map { record($0) })
        #expect(report.reason == "checksum mismatch")

        try Data(original).write(to: URL(fileURLWithPath: path))
        try modify(path) { $0[JournalFormat.headerSize + 12] ^= 0x01 }
        #expect {
            _ = try reopen()
        } throws: { error in
            let e = error as! JournalError
            return e.kind == .corrupt && e.offset == JournalFormat.headerSize && "\(e)".contains(".seg")
        }
        _ = seen
    }

    @Test func snapshotReplacesHistoryAndLaterCommitsFollow() throws {
        do {
            let (_, _, journal) = try reopen()
            for i in 0..<20 { try journal.commit([record(i)]) }
            try journal.writeSnapshot { emit in
                try emit(record(100))
                try emit(record(101))
            }
            try journal.commit([record(102)])
            #expect(journal.snapshotBytes > 0)
            journal.close()
        }
        let (seen, _, _) = try reopen()
        #expect(seen == [record(100), record(101), record(102)])
        #expect(try segments().count == 1)
    }

    @Test func crashDuringCompactionLeavesAValidJournal() throws {
        do {
            let (_, _, journal) = try reopen()
            try journal.commit([record(1)])
            journal.close()
        }
        // A crash before the rename leaves a temp file: ignored and removed.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/0000000000000002.seg.tmp"))
        var (seen, report, journal) = try reopen()
        #expect(seen == [record(1)])
        #expect(report.removedFiles == ["0000000000000002.seg.tmp"])
        // A crash after the rename but before old segments were deleted: the snapshot wins.
        let old = try Data(contentsOf: URL(fileURLWithPath: try segments()[0]))
        try journal.writeSnapshot { try $0(record(50)) }
        journal.close()
        try old.write(to: URL(fileURLWithPath: dir + "/0000000000000001.seg"))
        (seen, report, journal) = try reopen()
        #expect(seen == [record(50)])
        #expect(report.removedFiles.contains("0000000000000001.seg"))
    }

    @Test func segmentsRotate() throws {
        var all: [JournalRecord] = []
        do {
            var seen: [JournalRecord] = []
            let (journal, _) = try Journal.open(directory: dir, options: .init(segmentSizeLimit: 4096)) { seen.append($0) }
            for i in 0..<50 {
                let batch = [record(i, size: 200)]
                all += batch
                try journal.commit(batch)
            }
            journal.close()
        }
        #expect(try segments().count > 2)
        let (seen, _, _) = try reopen()
        #expect(seen == all)
    }

    @Test func failedCommitLeavesNothingBehind() throws {
        let (_, _, journal) = try reopen()
        try journal.commit([record(1)])
        let size = try Data(contentsOf: URL(fileURLWithPath: try segments()[0])).count
        journal.failNextCommitAfterBytes = 100  // a full disk part-way through the batch
        #expect { try journal.commit((0..<50).map { record($0, size: 100) }) } throws: { ($0 as? JournalError)?.kind == .noSpace }
        #expect(try Data(contentsOf: URL(fileURLWithPath: try segments()[0])).count == size)
        try journal.commit([record(2)])
        journal.close()
        let (seen, report, _) = try reopen()
        #expect(seen == [record(1), record(2)])
        #expect(report.truncatedBytes == 0)
    }

    @Test func shouldCompactTracksGrowth() throws {
        let (_, _, journal) = try reopen()
        #expect(!journal.shouldCompact(factor: 2, minBytes: 1000))
        for i in 0..<30 { try journal.commit([record(i, size: 100)]) }
        #expect(journal.shouldCompact(factor: 2, minBytes: 1000))
        try journal.writeSnapshot { try $0(record(1, size: 100)) }
        #expect(!journal.shouldCompact(factor: 2, minBytes: 1000))
    }
}
