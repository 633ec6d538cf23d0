import CSystemd
import Foundation
import Glibc
import Logging

/// A swift-log handler that writes structured entries to journald with `sd_journal_sendv`.
///
/// Metadata become fields: `profile` → `ENTRA_PROFILE`, `run_id` → `ENTRA_RUN_ID`; keys already
/// in journald form (`MESSAGE_ID`, `ENTRA_ADDED`) are kept.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let identifier: String

    public init(identifier: String, level: Logger.Level) {
        self.identifier = identifier
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        for (key, value) in all {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        // One contiguous buffer, so every iovec points into memory that lives for the whole call.
        var buffer: [UInt8] = []
        var ranges: [(Int, Int)] = []
        for field in fields {
            ranges.append((buffer.count, field.utf8.count))
            buffer.append(contentsOf: field.utf8)
        }
        buffer.withUnsafeMutableBytes { raw in
            var iovecs = ranges.map { iovec(iov_base: raw.baseAddress! + $0.0, iov_len: $0.1) }
            _ = sd_journal_sendv(&iovecs, Int32(iovecs.count))
        }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A valid journald field name for a metadata key.
    public static func fieldName(_ key: String) -> String {
        let isJournalForm = !key.isEmpty && key.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
            && key.utf8.first! >= 65 && key.utf8.first! <= 90
        var name = isJournalForm ? key : "ENTRA_" + String(key.uppercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? $0 : "_" })
        if name.count > 64 { name = String(name.prefix(64)) }
        return name
    }
}

/// Plain one-line logs on stderr when not under journald.
public struct StderrLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level

    public init(level: Logger.Level) {
        logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line = Self.format(date: Date(), level: event.level, message: "\(event.message)", metadata: all)
        Self.writeToStderr(Array((line + "\n").utf8))
    }

    /// A log line that cannot be written is lost; the daemon goes on. (FileHandle's write(_:) traps
    /// when write fails: stderr on a full disk, or a pipe whose reader is gone.)
    static func writeToStderr(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(2, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                done += n
            }
        }
    }

    /// `2026-11-30T20:52:01Z` (what ISO8601DateFormatter wrote), from `gmtime_r`. Not a Foundation
    /// formatter: making one loads time zone data, and when no descriptor is left for that it traps
    /// (SIGILL) — exactly when runs fail with "Too many open files" and log it.
    static func utc(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var p = tm()
        gmtime_r(&t, &p)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(p.tm_year + 1900)-\(two(p.tm_mon + 1))-\(two(p.tm_mday))T\(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec))Z"
    }

    public static func format(date: Date, level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var text = utc(date) + " \(level)"
        if let profile = metadata["profile"] { text += " [\(profile)]" }
        text += " \(message)"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != "profile" {
            let v = "\(value)"
            text += " \(key)=" + (v.contains(" ") ? "\"\(v)\"" : v)
        }
        return text
    }
}

public enum LogSetup {
    /// True when stderr is connected to journald ($JOURNAL_STREAM names stderr's device and inode).
    public static var underJournald: Bool {
        guard let stream = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        var st = stat()
        guard parts.count == 2, fstat(2, &st) == 0 else { return false }
        return UInt64(parts[0]) == UInt64(st.st_dev) && UInt64(parts[1]) == UInt64(st.st_ino)
    }

    public static func bootstrap(level: Logger.Level, identifier: String = "entra-syncd") {
        let journald = underJournald
        LoggingSystem.bootstrap { _ in
            journald ? JournaldLogHandler(identifier: identifier, level: level) as LogHandler : StderrLogHandler(level: level)
        }
    }
}
