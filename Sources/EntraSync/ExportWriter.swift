import EntraConfig
import EntraDirectory
import EntraGraph
import EntraJournal
import EntraMirror
import Foundation
import Glibc

/// Writes the files other software reads: `export/users.json` and `export/groups.json`.
///
/// Each file is replaced atomically (temp file, fsync, rename, directory fsync), so a reader sees
/// the previous or the new version, never a mix. `export/.state` records which run they show.
public struct ExportWriter: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
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

    public func write(_ view: ScopedView, runId: String, formats: Set<ExportFormat> = [.json]) throws(Failure) {
        try makeDirectory()
        for format in ExportFormat.allCases {
            let files = format == .json ? ["users.json", "groups.json"] : ["users.csv", "groups.csv"]
            guard formats.contains(format) else {
                for file in files { unlink(directory + "/" + file) }
                continue
            }
            switch format {
            case .json:
                try replace("users.json") { out throws(Failure) in
                    try DirectoryJSON.users(view.users, deleted: view.deletedUsers, into: &out.text, flush: out.flush)
                }
                CrashPoint.hit("export")
                try replace("groups.json") { out throws(Failure) in try DirectoryJSON.groups(view, into: &out.text, flush: out.flush) }
            case .csv:
                try replace("users.csv") { out throws(Failure) in try Self.usersCSV(view.users, into: &out.text, flush: out.flush) }
                try replace("groups.csv") { out throws(Failure) in try Self.groupsCSV(view, into: &out.text, flush: out.flush) }
            }
        }
        try markCurrent(runId: runId)
    }

    /// Records that the current files also show `runId` (a run that changed nothing).
    public func markCurrent(runId: String) throws(Failure) {
        try replace(".state", with: Array((runId + "\n").utf8))
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

    /// Writes `name` in this directory atomically (used for metrics too).
    public func writeFile(_ name: String, _ bytes: [UInt8]) throws(Failure) {
        try makeDirectory()
        try replace(name, with: bytes)
    }

    private func makeDirectory() throws(Failure) {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw Failure(path: directory, errno: errno) }
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

    private func replace(_ name: String, with bytes: [UInt8]) throws(Failure) {
        try replace(name) { sink throws(Failure) in sink.text.rawBytes(bytes) }
    }

    /// Writes `name` through a temp file, fsync and rename, so readers see the old or the new file.
    private func replace(_ name: String, generate: (inout Sink) throws(Failure) -> Void) throws(Failure) {
        let path = directory + "/" + name
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(path: temp, errno: errno) }
        do throws(Failure) {
            var sink = Sink(fd: fd, path: temp)
            try generate(&sink)
            try Sink.write(sink.text.bytes, fd: fd, path: temp)
            if fsync(fd) != 0 { throw Failure(path: temp, errno: errno) }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw Failure(path: path, errno: code)
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }
}
