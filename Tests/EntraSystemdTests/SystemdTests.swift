import Foundation
import Logging
import Testing
@testable import EntraSystemd

@Suite("systemd glue", .serialized)
struct SystemdTests {
    /// Binds a datagram socket as $NOTIFY_SOCKET and returns what `body` sent to it.
    func captureNotifications(_ body: () -> Void) throws -> [String] {
        var template = Array("/tmp/ntf-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let path = dir + "/notify"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd); unlink(path); rmdir(dir) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        setenv("NOTIFY_SOCKET", path, 1)
        body()
        unsetenv("NOTIFY_SOCKET")
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        return messages
    }

    @Test func notificationsReachTheSocket() throws {
        let messages = try captureNotifications {
            SystemdNotifier.ready(status: "2 profiles")
            SystemdNotifier.reloading()
            SystemdNotifier.watchdog()
            SystemdNotifier.stopping()
        }
        #expect(messages.count == 4)
        #expect(messages[0] == "READY=1\nSTATUS=2 profiles")
        #expect(messages[1].hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
        #expect(UInt64(messages[1].split(separator: "=").last!)! > 0)
        #expect(messages[2] == "WATCHDOG=1")
        #expect(messages[3] == "STOPPING=1")
    }

    @Test func withoutSystemdNothingHappens() {
        unsetenv("NOTIFY_SOCKET")
        SystemdNotifier.ready(status: nil)
        #expect(SystemdNotifier.listenFDs().isEmpty)
        #expect(SystemdNotifier.watchdogInterval() == nil)
        #expect(!LogSetup.underJournald || ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil)
    }

    @Test func journaldFieldNames() {
        #expect(JournaldLogHandler.fieldName("profile") == "ENTRA_PROFILE")
        #expect(JournaldLogHandler.fieldName("run_id") == "ENTRA_RUN_ID")
        #expect(JournaldLogHandler.fieldName("MESSAGE_ID") == "MESSAGE_ID")
        #expect(JournaldLogHandler.fieldName("ENTRA_ADDED") == "ENTRA_ADDED")
        #expect(JournaldLogHandler.fieldName("client-request.id") == "ENTRA_CLIENT_REQUEST_ID")
        #expect(JournaldLogHandler.fieldName("_bad") == "ENTRA__BAD")
        #expect(JournaldLogHandler.fieldName(String(repeating: "k", count: 100)).count == 64)
    }

    @Test func stderrLines() {
        let line = StderrLogHandler.format(date: Date(timeIntervalSince1970: 0), level: .warning, message: "run failed",
                                           metadata: ["profile": "contoso", "run_id": "abc", "error": "two words"])
        #expect(line == "1970-01-01T00:00:00Z warning [contoso] run failed error=\"two words\" run_id=abc")
    }

    /// The time of a stderr log line comes from gmtime_r, not a Foundation formatter (which traps when
    /// it is made with no descriptor left); it reads as ISO8601DateFormatter's did.
    @Test func stderrTimestamps() {
        let iso = ISO8601DateFormatter()
        for seconds in [0.0, 59.9, 3_600, 86_399, 951_782_400, 1_800_000_000.5, 4_102_444_799] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(StderrLogHandler.utc(date) == iso.string(from: date), "\(seconds)")
        }
        for day in stride(from: 0.0, to: 40_000, by: 37) {
            let date = Date(timeIntervalSince1970: day * 86_400 + day * 61)
            #expect(StderrLogHandler.utc(date) == iso.string(from: date))
        }
    }
}
