import Glibc

/// The crash-safe, append-only record journal of one profile. See `JournalFormat` for the layout.
///
/// Not thread-safe: one owner (the profile's run queue) uses it.
///
/// Holds no file descriptor between calls: a commit opens the current segment and closes it
/// again, so a thousand idle profiles hold no journal files (one `open` per commit is nothing
/// next to its fdatasync). When descriptors run out, the commit fails and nothing is written.
public final class Journal {
    private let directory: String
    private let options: JournalOptions
    /// Set by `close()`: nothing more is written.
    private var isClosed = false
    /// A failed commit could not be cut back: only a snapshot (a new segment) may follow it.
    private var tailDamaged = false
    private var segmentPath = ""
    private var segmentSequence: UInt64 = 0
    private var salt: UInt32 = 0
    private var size = 0
    private var commitSequence: UInt64 = 0
    private var otherSegmentsBytes = 0
    public private(set) var snapshotBytes = 0
    private var currentIsSnapshot = false
    /// Test hook: the next commit writes this many bytes, then fails as a full disk would.
    var failNextCommitAfterBytes: Int?

    private init(directory: String, options: JournalOptions) {
        self.directory = directory
        self.options = options
    }

    public var totalBytes: Int { otherSegmentsBytes + size }

    public func shouldCompact(factor: Int = 4, minBytes: Int = 1 << 20) -> Bool {
        totalBytes - snapshotBytes > factor * max(snapshotBytes, minBytes)
    }

    /// Refuses further writes (the daemon stops the profile).
    public func close() {
        isClosed = true
    }

    /// The current segment, opened for appending; the caller closes it.
    private func openSegment() throws -> Int32 {
        let fd = Glibc.open(segmentPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw JournalError.io(segmentPath, "cannot open") }
        return fd
    }

    // MARK: Open and recover

    public static func open(directory: String, options: JournalOptions = .init(),
                            replay: (JournalRecord) throws -> Void) throws -> (Journal, RecoveryReport) {
        if mkdir(directory, 0o750) != 0 && errno != EEXIST { throw JournalError.io(directory, "cannot create") }
        let journal = Journal(directory: directory, options: options)
        var report = RecoveryReport()
        var names = try listDirectory(directory)
        for name in names where name.hasSuffix(".tmp") {
            unlink(directory + "/" + name)
            report.removedFiles.append(name)
        }
        names = names.filter { $0.hasSuffix(".seg") && $0.count == 20 }.sorted()

        // Replay starts at the newest valid snapshot; older segments were superseded.
        var start = 0
        for (index, name) in names.enumerated().reversed() {
            if let bytes = try? readFile(directory + "/" + name),
               bytes.withUnsafeBytes({ JournalFormat.decodeHeader($0)?.isSnapshot ?? false }) {
                start = index
                break
            }
        }
        for name in names[..<start] {
            unlink(directory + "/" + name)
            report.removedFiles.append(name)
        }
        let live = Array(names[start...])
        for (index, name) in live.enumerated() {
            let path = directory + "/" + name
            let isLast = index == live.count - 1
            var bytes = try readFile(path)
            guard let header = bytes.withUnsafeBytes({ JournalFormat.decodeHeader($0) }) else {
                if isLast && bytes.count <= JournalFormat.headerSize + 64 {
                    // A segment whose creation was cut short: it never held a commit.
                    unlink(path)
                    report.removedFiles.append(name)
                    continue
                }
                throw JournalError(kind: .corrupt, path: path, offset: 0, message: "invalid segment header")
            }
            let scan = bytes.withUnsafeBytes { scanSegment($0, salt: header.salt) }
            // Deliver the records of committed batches, straight from the bytes.
            try bytes.withUnsafeBytes { b in
                var offset = JournalFormat.headerSize
                while offset < scan.validEnd {
                    let length = Int(b.loadLE32(offset))
                    let type = b[offset + 8]
                    if type != JournalFormat.commitType {
                        try replay(JournalRecord(type: type, payload: Array(b[(offset + 9)..<(offset + 9 + length)])))
                    }
                    offset += JournalFormat.frameHeaderSize + length
                }
            }
            report.committedBatches += scan.batches
            if let commit = scan.lastCommitSequence { journal.commitSequence = commit }
            if scan.validEnd < bytes.count {
                let damaged = scan.damageAt != nil
                if !isLast || (damaged && bytes.withUnsafeBytes { hasCommitAfter($0, salt: header.salt, from: scan.damageAt! + 1) }) {
                    throw JournalError(kind: .corrupt, path: path, offset: scan.damageAt ?? scan.validEnd,
                                       message: damaged ? "a record fails its checksum before the last commit" : "records after the last commit in a sealed segment")
                }
                report.truncatedBytes = bytes.count - scan.validEnd
                report.truncatedSegment = name
                report.truncatedOffset = scan.validEnd
                report.reason = damaged ? (scan.tornAtEnd ? "torn record" : "checksum mismatch") : "uncommitted records"
                guard truncate(path, off_t(scan.validEnd)) == 0 else { throw JournalError.io(path, "cannot truncate") }
                bytes.removeLast(bytes.count - scan.validEnd)
                try fsyncPath(path)
            }
            if isLast {
                journal.segmentPath = path
                journal.segmentSequence = header.sequence
                journal.salt = header.salt
                journal.size = bytes.count
                journal.currentIsSnapshot = header.isSnapshot
            } else {
                journal.otherSegmentsBytes += bytes.count
            }
            if header.isSnapshot { journal.snapshotBytes = bytes.count }
        }
        if !report.removedFiles.isEmpty { try fsyncPath(directory) }
        // Writable now, or the profile fails at start and says why rather than at its first commit.
        if journal.segmentPath.isEmpty {
            // A new journal gets its first segment at its first commit or snapshot, not here: a
            // thousand new profiles then start without a thousand fdatasyncs, and an empty
            // directory replays as an empty journal whenever a crash comes.
            guard access(directory, W_OK) == 0 else { throw JournalError.io(directory, "cannot write to") }
        } else {
            Glibc.close(try journal.openSegment())
        }
        return (journal, report)
    }

    struct Scan {
        /// Committed batches in the segment; their records end at `validEnd`.
        var batches = 0
        var validEnd: Int
        var damageAt: Int?
        var tornAtEnd = false
        var lastCommitSequence: UInt64?
    }

    /// Checks frames; `validEnd` is the end of the last commit marker.
    static func scanSegment(_ b: UnsafeRawBufferPointer, salt: UInt32) -> Scan {
        var scan = Scan(validEnd: JournalFormat.headerSize)
        var offset = JournalFormat.headerSize
        while offset < b.count {
            guard b.count - offset >= JournalFormat.frameHeaderSize else {
                scan.damageAt = offset; scan.tornAtEnd = true; break
            }
            let length = Int(b.loadLE32(offset))
            let stored = b.loadLE32(offset + 4)
            let type = b[offset + 8]
            guard length <= JournalFormat.maxPayload, b.count - offset - JournalFormat.frameHeaderSize >= length else {
                scan.damageAt = offset; scan.tornAtEnd = length <= JournalFormat.maxPayload; break
            }
            let payload = UnsafeRawBufferPointer(rebasing: b[(offset + 9)..<(offset + 9 + length)])
            guard JournalFormat.frameChecksum(salt: salt, type: type, payload: payload) == stored else {
                scan.damageAt = offset; break
            }
            offset += JournalFormat.frameHeaderSize + length
            if type == JournalFormat.commitType {
                scan.batches += 1
                scan.validEnd = offset
                if length == 8 {
                    scan.lastCommitSequence = UInt64(payload.loadLE32(0)) | UInt64(payload.loadLE32(4)) << 32
                }
            }
        }
        return scan
    }

    /// Whether a valid commit marker exists at or after `from`: then damage before it is corruption.
    static func hasCommitAfter(_ b: UnsafeRawBufferPointer, salt: UInt32, from: Int) -> Bool {
        var offset = from
        while offset + JournalFormat.frameHeaderSize + 8 <= b.count {
            if b[offset + 8] == JournalFormat.commitType, b.loadLE32(offset) == 8 {
                let payload = UnsafeRawBufferPointer(rebasing: b[(offset + 9)..<(offset + 17)])
                if JournalFormat.frameChecksum(salt: salt, type: JournalFormat.commitType, payload: payload) == b.loadLE32(offset + 4) {
                    return true
                }
            }
            offset += 1
        }
        return false
    }

    // MARK: Writing

    /// Appends the records and a commit marker, then fdatasync. On failure nothing of the batch remains.
    public func commit(_ records: [JournalRecord]) throws {
        try commit { emit in
            for record in records { emit(record) }
        }
    }

    /// Appends the records `produce` emits and a commit marker, then fdatasync. On failure nothing
    /// of the batch remains. Records are framed and written as they come (in chunks), so a large
    /// batch never sits in memory as a list of records nor as one buffer.
    ///
    /// A new segment starts before the batch when the current one has reached the size limit, so
    /// one large batch can make a segment larger than the limit.
    public func commit(_ produce: (_ emit: (JournalRecord) -> Void) throws -> Void) throws {
        guard !isClosed && !tailDamaged else { throw JournalError(kind: .closed, path: directory, offset: nil, message: "journal is closed") }
        if segmentPath.isEmpty {
            try startSegment(sequence: 1)
        } else if size > JournalFormat.headerSize && size >= options.segmentSizeLimit {
            try rotate()
        }
        let fd = try openSegment()
        defer { Glibc.close(fd) }
        let chunk = 1 << 20
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunk + 4096)
        var written = 0
        var failure: Error?
        func flush() {
            guard failure == nil, !buffer.isEmpty else { return }
            do {
                if let partial = failNextCommitAfterBytes, written + buffer.count > partial {
                    failNextCommitAfterBytes = nil
                    try writeAll(fd, Array(buffer.prefix(partial - written)), path: segmentPath)
                    throw JournalError.io(segmentPath, "write failed", ENOSPC)
                }
                // Torture-test hooks (debug builds): die with half a chunk written, or before the fsync.
                if CrashPoint.armed("journal.append") { try writeAll(fd, Array(buffer.prefix(buffer.count / 2)), path: segmentPath) }
                CrashPoint.hit("journal.append")
                try writeAll(fd, buffer, path: segmentPath)
                written += buffer.count
                buffer.removeAll(keepingCapacity: true)
            } catch {
                failure = error
            }
        }
        do {
            try produce { record in
                precondition(record.type >= 1 && record.type < 200, "journal record types 200...255 are reserved")
                guard failure == nil else { return }
                JournalFormat.appendFrame(to: &buffer, salt: salt, type: record.type, payload: record.payload)
                if buffer.count >= chunk { flush() }
            }
            var sequence: [UInt8] = []
            sequence.appendLE(commitSequence + 1)
            JournalFormat.appendFrame(to: &buffer, salt: salt, type: JournalFormat.commitType, payload: sequence)
            flush()
            if let failure { throw failure }
            CrashPoint.hit("journal.fsync")
            if options.syncEnabled && fdatasync(fd) != 0 { throw JournalError.io(segmentPath, "fdatasync failed") }
        } catch {
            // Leave no partial batch behind: the next commit must not follow garbage.
            if ftruncate(fd, off_t(size)) != 0 {
                tailDamaged = true
            }
            throw error
        }
        size += written
        commitSequence += 1
    }

    /// Writes the whole live state as a new snapshot segment and drops the older segments.
    public func writeSnapshot(_ body: (_ emit: (JournalRecord) throws -> Void) throws -> Void) throws {
        guard !isClosed else { throw JournalError(kind: .closed, path: directory, offset: nil, message: "journal is closed") }
        let sequence = segmentSequence + 1
        let finalPath = directory + "/" + JournalFormat.fileName(sequence)
        let tempPath = finalPath + ".tmp"
        let newSalt = UInt32.random(in: 1...UInt32.max)
        let tfd = Glibc.open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard tfd >= 0 else { throw JournalError.io(tempPath, "cannot create") }
        var written = 0
        do {
            var buffer = JournalFormat.encodeHeader(.init(flags: JournalFormat.snapshotFlag, sequence: sequence, salt: newSalt))
            try body { record in
                JournalFormat.appendFrame(to: &buffer, salt: newSalt, type: record.type, payload: record.payload)
                if buffer.count >= 1 << 20 {
                    try writeAll(tfd, buffer, path: tempPath)
                    written += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            var seq: [UInt8] = []
            seq.appendLE(commitSequence + 1)
            JournalFormat.appendFrame(to: &buffer, salt: newSalt, type: JournalFormat.commitType, payload: seq)
            try writeAll(tfd, buffer, path: tempPath)
            written += buffer.count
            CrashPoint.hit("compaction.write")
            if fdatasync(tfd) != 0 { throw JournalError.io(tempPath, "fdatasync failed") }
        } catch {
            Glibc.close(tfd)
            unlink(tempPath)
            throw error
        }
        Glibc.close(tfd)
        guard rename(tempPath, finalPath) == 0 else {
            let code = errno
            unlink(tempPath)
            throw JournalError.io(finalPath, "cannot rename", code)
        }
        try Self.fsyncPath(directory)
        if segmentPath.isEmpty { try Self.fsyncParent(of: directory) }
        CrashPoint.hit("compaction.rename")
        // From here the snapshot is the journal; the old segments are garbage.
        let old = (try? Self.listDirectory(directory))?.filter { $0.hasSuffix(".seg") && $0 < JournalFormat.fileName(sequence) } ?? []
        for name in old { unlink(directory + "/" + name) }
        try? Self.fsyncPath(directory)
        segmentPath = finalPath
        segmentSequence = sequence
        salt = newSalt
        size = written
        snapshotBytes = written
        otherSegmentsBytes = 0
        currentIsSnapshot = true
        commitSequence += 1
        // The snapshot replaced whatever tail a failed commit could not cut back.
        tailDamaged = false
    }

    private func rotate() throws {
        let previous = size
        try startSegment(sequence: segmentSequence + 1)
        otherSegmentsBytes += previous
    }

    private func startSegment(sequence: UInt64) throws {
        let path = directory + "/" + JournalFormat.fileName(sequence)
        let newSalt = UInt32.random(in: 1...UInt32.max)
        let nfd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        guard nfd >= 0 else { throw JournalError.io(path, "cannot create") }
        let header = JournalFormat.encodeHeader(.init(flags: 0, sequence: sequence, salt: newSalt))
        do {
            try writeAll(nfd, header, path: path)
            if fdatasync(nfd) != 0 { throw JournalError.io(path, "fdatasync failed") }
            try Self.fsyncPath(directory)
            if segmentPath.isEmpty { try Self.fsyncParent(of: directory) }
        } catch {
            Glibc.close(nfd)
            unlink(path)
            throw error
        }
        Glibc.close(nfd)
        segmentPath = path
        segmentSequence = sequence
        salt = newSalt
        size = header.count
        currentIsSnapshot = false
    }

    // MARK: File helpers

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw JournalError.io(path, "write failed")
                }
                done += n
            }
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw JournalError.io(path, "cannot open") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw JournalError.io(path, "cannot stat") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while done < buffer.count {
                let n = read(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw JournalError.io(path, "read failed")
                }
                if n == 0 { break }
                done += n
            }
        }
        if done < bytes.count { bytes.removeLast(bytes.count - done) }
        return bytes
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw JournalError.io(path, "cannot list") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The first segment makes the journal's directory entry durable too (`open` made it without a sync).
    static func fsyncParent(of path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return try fsyncPath(".") }
        try fsyncPath(slash == path.startIndex ? "/" : String(path[..<slash]))
    }

    static func fsyncPath(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw JournalError.io(path, "cannot open for fsync") }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw JournalError.io(path, "fsync failed") }
    }
}
