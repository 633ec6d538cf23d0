import EntraConfig
import EntraDirectory
import EntraGraph
import EntraJournal
import EntraMirror
import Foundation
import Glibc

/// Writes the files other software reads, one whole set per run: `export/users.json`,
/// `export/groups.json`, `export/users.csv`, `export/groups.csv`, and `export/.state` (the run they show).
///
/// `export` is a symbolic link to the current set, a directory in `.export-sets/` beside it. A run's
/// set is written and fsynced in full, then published by one `rename` of a new link over `export`
/// (`ExportWriter+Publish.swift`), so everything read through one resolution of `export` comes
/// from one run. The previous set is removed after the swap.
public struct ExportWriter: Sendable {
    /// The path readers use: `PROFILE/export`.
    public let directory: String
    /// Where the sets live: `PROFILE/.export-sets`.
    let setsDirectory: String
    /// The next link, from its creation to its rename over `export`: `PROFILE/.export.swap`.
    let swapPath: String
    /// An older version's `export` directory on its way out, where `renameat2` cannot exchange it.
    let asidePath: String

    /// The files a set can hold; `.state` is written into every set.
    static let setFiles = ["users.json", "groups.json", "users.csv", "groups.csv", ".state"]

    public init(directory: String) {
        self.directory = directory
        let parent = (directory as NSString).deletingLastPathComponent
        setsDirectory = parent + "/.export-sets"
        swapPath = parent + "/.export.swap"
        asidePath = parent + "/.export.old"
    }

    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String {
            "cannot write \(path): \(String(cString: strerror(errno)))"
                + (errno == EMFILE || errno == ENFILE ? " (the daemon has too many files open: raise LimitNOFILE= in its unit, or run fewer profiles)" : "")
        }
    }

    /// The run id the current exports show, if they are complete.
    public func exportedRunId() -> String? {
        guard let text = try? String(contentsOfFile: directory + "/.state", encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }

    /// Writes the set of `runId` beside the current one and publishes it; on failure the current set stays.
    public func write(_ view: ScopedView, runId: String, formats: Set<ExportFormat> = [.json]) throws(Failure) {
        let current = try prepareSets()
        let name = Self.setName(for: runId, current: current)
        let set = setsDirectory + "/" + name
        if mkdir(set, 0o755) != 0 { throw Failure(path: set, errno: errno) }
        do throws(Failure) {
            if formats.contains(.json) {
                try create("users.json", in: set) { out throws(Failure) in
                    try DirectoryJSON.users(view.users, deleted: view.deletedUsers, into: &out.text, flush: out.flush)
                }
                CrashPoint.hit("export")
                try create("groups.json", in: set) { out throws(Failure) in try DirectoryJSON.groups(view, into: &out.text, flush: out.flush) }
            }
            if formats.contains(.csv) {
                try create("users.csv", in: set) { out throws(Failure) in try Self.usersCSV(view.users, into: &out.text, flush: out.flush) }
                try create("groups.csv", in: set) { out throws(Failure) in try Self.groupsCSV(view, into: &out.text, flush: out.flush) }
            }
            try create(".state", in: set) { out throws(Failure) in out.text.rawText(runId + "\n") }
            try Self.syncDirectory(set)
            try publish(name, replacing: current)
        } catch {
            Self.removeTree(set)
            throw error
        }
    }

    /// Records that the current set also shows `runId` (a run that changed nothing): its `.state`
    /// is replaced atomically.
    public func markCurrent(runId: String) throws(Failure) {
        let set = currentSet().map { setsDirectory + "/" + $0 } ?? directory
        try replace(".state", in: set, with: Array((runId + "\n").utf8))
    }

    /// Writes `name` in `directory` itself, outside any export set (the metrics file), atomically.
    public func writeFile(_ name: String, _ bytes: [UInt8]) throws(Failure) {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw Failure(path: directory, errno: errno) }
        try replace(name, in: directory, with: bytes)
    }

    static func csvField(_ value: String?) -> String {
        guard let value else { return "" }
        if value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return value
    }

    static func csvBool(_ value: Bool?) -> String { value.map { $0 ? "true" : "false" } ?? "" }

    /// RFC 4180 CSV; list columns are joined with `;`.
    public static func usersCSV(_ users: [DirectoryUser]) -> [UInt8] {
        var out = JSONText()
        usersCSV(users, into: &out) { _ in }
        return out.bytes
    }

    static func usersCSV<E: Error>(_ users: [DirectoryUser], into out: inout JSONText, flush: (inout JSONText) throws(E) -> Void) throws(E) {
        out.rawText("id,userPrincipalName,displayName,givenName,surname,mail,accountEnabled,jobTitle,department,employeeId,mailNickname,onPremisesImmutableId,assignedLicenses\r\n")
        for u in users {
            let fields = [u.id, u.userPrincipalName, u.displayName, u.givenName, u.surname, u.mail].map(csvField)
                + [csvBool(u.accountEnabled)]
                + [u.jobTitle, u.department, u.employeeId, u.mailNickname, u.onPremisesImmutableId].map(csvField)
                + [csvField(u.assignedLicenses?.joined(separator: ";"))]
            out.rawText(fields.joined(separator: ",") + "\r\n")
            try flush(&out)
        }
    }

    public static func groupsCSV(_ view: ScopedView) -> [UInt8] {
        var out = JSONText()
        groupsCSV(view, into: &out) { _ in }
        return out.bytes
    }

    static func groupsCSV<E: Error>(_ view: ScopedView, into out: inout JSONText, flush: (inout JSONText) throws(E) -> Void) throws(E) {
        out.rawText("id,displayName,description,mail,mailEnabled,mailNickname,securityEnabled,groupTypes,members\r\n")
        for g in view.groups {
            let fields = [csvField(g.id), csvField(g.displayName), csvField(g.description), csvField(g.mail), csvBool(g.mailEnabled),
                          csvField(g.mailNickname), csvBool(g.securityEnabled), csvField(g.groupTypes?.joined(separator: ";")),
                          csvField(view.members(of: g.id).map(\.description).joined(separator: ";"))]
            out.rawText(fields.joined(separator: ",") + "\r\n")
            try flush(&out)
        }
    }

    /// A file being written: what the generator appends to `text` goes out per MiB (`flush`).
    struct Sink {
        let fd: Int32
        let path: String
        var text = JSONText(capacity: Sink.chunk + 64 * 1024)
        static let chunk = 1 << 20

        /// Writes `text` out once it holds a chunk; `flush(&text)` is what generators call.
        var flush: (inout JSONText) throws(Failure) -> Void {
            { [fd, path] text throws(Failure) in
                guard text.bytes.count >= Sink.chunk else { return }
                try Sink.write(text.bytes, fd: fd, path: path)
                text.removeAll()
            }
        }

        static func write(_ bytes: [UInt8], fd: Int32, path: String) throws(Failure) {
            var written = 0
            let failure: Int32? = bytes.withUnsafeBytes { buffer -> Int32? in
                while written < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    written += n
                }
                return nil
            }
            if let failure { throw Failure(path: path, errno: failure) }
        }
    }

    /// Streams a new file at `path` and fsyncs it; nobody reads it before it is complete (it sits
    /// in an unpublished set, or is renamed into place by `replace`).
    private func create(_ path: String, generate: (inout Sink) throws(Failure) -> Void) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(path: path, errno: errno) }
        defer { close(fd) }
        var sink = Sink(fd: fd, path: path)
        try generate(&sink)
        try Sink.write(sink.text.bytes, fd: fd, path: path)
        if fsync(fd) != 0 { throw Failure(path: path, errno: errno) }
    }

    private func create(_ name: String, in directory: String, generate: (inout Sink) throws(Failure) -> Void) throws(Failure) {
        try create(directory + "/" + name, generate: generate)
    }

    /// Replaces `name` in `directory` through a temp file, fsync and rename, so readers see the old
    /// or the new file.
    private func replace(_ name: String, in directory: String, with bytes: [UInt8]) throws(Failure) {
        let path = directory + "/" + name
        let temp = path + ".tmp"
        do throws(Failure) {
            try create(temp) { sink throws(Failure) in sink.text.rawBytes(bytes) }
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw Failure(path: path, errno: code)
        }
        try? Self.syncDirectory(directory)
    }
}
