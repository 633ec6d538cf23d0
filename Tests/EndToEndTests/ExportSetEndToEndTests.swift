import Foundation
import EntraLock
import Testing

/// Every file of one export set as a reader got it: `.state` and the four export files.
struct ExportSnapshot: Hashable {
    static let files = [".state", "users.json", "groups.json", "users.csv", "groups.csv"]
    var files: [Data]

    var runId: String { String(decoding: files[0], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Opens `export` once and reads every file relative to it, as the README tells readers to.
    /// Nil when the set was retired between opening the directory and opening a file in it.
    static func read(_ export: String) throws -> ExportSnapshot? {
        let dir = open(export, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw HarnessError("cannot open \(export): \(String(cString: strerror(errno)))") }
        defer { close(dir) }
        var files: [Data] = []
        for name in Self.files {
            let fd = openat(dir, name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw HarnessError("cannot open \(export)/\(name): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw HarnessError("cannot read \(export)/\(name): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                data.append(contentsOf: buffer[0..<n])
            }
            files.append(data)
        }
        return ExportSnapshot(files: files)
    }
}

/// Reads the export set again and again on its own thread, keeping each distinct snapshot.
final class ExportReader: Sendable {
    private struct Seen {
        var snapshots: Set<ExportSnapshot> = []
        var reads = 0
        var retired = 0
        var error: String?
        var stop = false
    }

    private let seen = Locked(Seen())
    private let finished = DispatchSemaphore(value: 0)

    init(_ export: String) {
        Thread.detachNewThread { [self] in
            while !seen.withLock({ $0.stop }) {
                do {
                    let snapshot = try ExportSnapshot.read(export)
                    seen.withLock {
                        $0.reads += 1
                        if let snapshot { $0.snapshots.insert(snapshot) } else { $0.retired += 1 }
                    }
                } catch {
                    seen.withLock { $0.error = "\(error)"; $0.stop = true }
                }
            }
            finished.signal()
        }
    }

    /// Stops the thread; returns what it read.
    func stop() -> (snapshots: Set<ExportSnapshot>, reads: Int, retired: Int, error: String?) {
        seen.withLock { $0.stop = true }
        finished.wait()
        return seen.withLock { ($0.snapshots, $0.reads, $0.retired, $0.error) }
    }
}

@Suite("export sets end to end")
struct ExportSetEndToEndTests {
    func profileDirectory(_ daemon: DaemonHarness) -> String { daemon.stateDirectory + "/contoso" }

    /// The names in `.export-sets` and what `export` points at.
    func layout(_ daemon: DaemonHarness) throws -> (sets: [String], link: String?, swapLeft: Bool) {
        let profile = profileDirectory(daemon)
        let sets = ((try? FileManager.default.contentsOfDirectory(atPath: profile + "/.export-sets")) ?? []).sorted()
        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: profile + "/export")
        var info = stat()
        return (sets, link, lstat(profile + "/.export.swap", &info) == 0)
    }

    /// Expects the layout of a tidy profile: one set, `export` pointing at it, no stray link.
    func expectOneSet(_ daemon: DaemonHarness, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let found = try layout(daemon)
        #expect(found.sets.count == 1 && found.link == ".export-sets/" + (found.sets.first ?? "") && !found.swapLeft, "\(found)",
                sourceLocation: sourceLocation)
        return found.sets
    }

    /// A daemon that synced `sim` once (JSON and CSV exports) and was stopped.
    func syncedOnce(_ sim: Simulator) throws -> DaemonHarness {
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nExport=json,csv")
        try daemon.start()
        #expect(try daemon.stop(SIGTERM) == 0)
        return daemon
    }

    @Test("a reader that opens export/ and reads every file while runs commit with churn always gets one run's set")
    func readerNeverSeesAMix() throws {
        let sim = try Simulator(users: 1200, groups: 60, memberships: 3000, pageSize: 500, memberSlice: 200)
        let daemon = DaemonHarness()
        try daemon.writeProfile("contoso", simulator: sim, extra: "[Output]\nExport=json,csv")
        try daemon.start()
        let export = daemon.exportDirectory("contoso")

        // What each run published, read while nothing was writing.
        var published: Set<ExportSnapshot> = [try #require(try ExportSnapshot.read(export))]
        let reader = ExportReader(export)
        let runs = 30
        for run in 0..<runs {
            try sim.admin("POST", "/_sim/churn", ["seed": 100 + run, "changes": 12])
            try daemon.runNow("contoso")
            published.insert(try #require(try ExportSnapshot.read(export)))
        }
        let read = reader.stop()
        #expect(read.error == nil, "\(read.error ?? "")")
        #expect(published.count == runs + 1, "every run changed something")
        #expect(try Mirror.fromExports(export) == (try sim.expectedMirror()))
        let mixed = read.snapshots.subtracting(published)
        #expect(mixed.count == 0, "\(mixed.count) of \(read.snapshots.count) snapshots read are no published set, e.g. .state \(mixed.first?.runId ?? "")")
        #expect(read.snapshots.count > runs / 2, "the reader saw \(read.snapshots.count) sets in \(read.reads) reads")
        print("export reader: \(read.reads) reads, \(read.snapshots.count) distinct sets, \(read.retired) retired under it, \(mixed.count) mixed")
        #expect(try daemon.stop(SIGTERM) == 0)
    }

    @Test("a kill while a set is written, after its link is made or after the swap leaves one whole set; the next start cleans up",
          .enabled(if: crashPointsCompiledIn, "crash points are compiled into debug builds only"),
          arguments: ["export", "export.link", "export.swap"])
    func killDuringPublish(point: String) throws {
        let sim = try Simulator(users: 40, groups: 4, memberships: 60)
        let daemon = try syncedOnce(sim)
        let before = try #require(try ExportSnapshot.read(daemon.exportDirectory("contoso")))

        daemon.environment = ["ENTRA_SYNC_CRASH_AT": "\(point):1"]
        try daemon.start()
        try sim.admin("POST", "/_sim/churn", ["seed": 3, "changes": 20])
        _ = try daemon.ctl(["run-now", "contoso", "--wait"])
        #expect(try daemon.stop(SIGKILL) == SIGKILL, "the daemon did not die at \(point):\n\(daemon.log.suffix(2000))")

        // Dead daemon: the public paths show one whole set, the old one or (after the swap) the new one.
        let left = try layout(daemon)
        let after = try #require(try ExportSnapshot.read(daemon.exportDirectory("contoso")))
        let newSet = try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror())
        switch point {
        case "export":
            #expect(after == before)
            #expect(left.sets.count == 2, "the half-written set is left: \(left.sets)")
        case "export.link":
            #expect(after == before)
            #expect(left.swapLeft, "the new link is left")
        default:
            #expect(newSet)
            #expect(left.sets.count == 2, "the previous set is left: \(left.sets)")
        }

        daemon.environment = [:]
        try daemon.start()
        #expect(try Mirror.fromExports(daemon.exportDirectory("contoso")) == (try sim.expectedMirror()))
        _ = try expectOneSet(daemon)
        #expect(try daemon.stop(SIGTERM) == 0)
    }

    /// Turns the profile's exports into the layout of entra-sync before export sets: a real
    /// `export` directory holding the files (and a temp file a killed writer left).
    func makeOldLayout(_ daemon: DaemonHarness, state: String? = nil) throws -> ExportSnapshot {
        let profile = profileDirectory(daemon)
        var snapshot = try #require(try ExportSnapshot.read(profile + "/export"))
        if let state { snapshot.files[0] = Data((state + "\n").utf8) }
        try FileManager.default.removeItem(atPath: profile + "/export")
        try FileManager.default.removeItem(atPath: profile + "/.export-sets")
        try FileManager.default.createDirectory(atPath: profile + "/export", withIntermediateDirectories: false)
        for (name, data) in zip(ExportSnapshot.files, snapshot.files) {
            try data.write(to: URL(fileURLWithPath: profile + "/export/" + name))
        }
        try Data("[{\"id\":".utf8).write(to: URL(fileURLWithPath: profile + "/export/groups.json.tmp"))
        return snapshot
    }

    @Test("an export directory of an older version is taken over at start without rewriting its files; later runs publish sets")
    func oldExportDirectoryIsTakenOver() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = try syncedOnce(sim)
        let old = try makeOldLayout(daemon)
        let export = daemon.exportDirectory("contoso")
        func inode(_ path: String) -> UInt { var info = stat(); return stat(path, &info) == 0 ? UInt(info.st_ino) : 0 }
        let usersInode = inode(export + "/users.json")

        try daemon.start()
        let taken = try expectOneSet(daemon)
        #expect(try ExportSnapshot.read(export) == old)
        #expect(inode(export + "/users.json") == usersInode, "the files were moved, not rewritten")
        #expect(!FileManager.default.fileExists(atPath: export + "/groups.json.tmp"))

        try sim.admin("POST", "/_sim/churn", ["seed": 9, "changes": 10])
        try daemon.runNow("contoso")
        #expect(try Mirror.fromExports(export) == (try sim.expectedMirror()))
        #expect(try expectOneSet(daemon) != taken)
        #expect(try daemon.stop(SIGTERM) == 0)
    }

    @Test("an older version's export directory that shows an older run (or a mix) is replaced by a whole set at start")
    func staleOldExportDirectoryIsRewritten() throws {
        let sim = try Simulator(users: 30, groups: 4, memberships: 50)
        let daemon = try syncedOnce(sim)
        _ = try makeOldLayout(daemon, state: "0000000000000000")

        try daemon.start()
        let export = daemon.exportDirectory("contoso")
        _ = try expectOneSet(daemon)
        let snapshot = try #require(try ExportSnapshot.read(export))
        #expect(snapshot.runId != "0000000000000000")
        #expect(try Mirror.fromExports(export) == (try sim.expectedMirror()))
        #expect(try daemon.stop(SIGTERM) == 0)
    }
}
