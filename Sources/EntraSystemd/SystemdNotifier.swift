import CSystemd
import Glibc

/// sd_notify, watchdog and socket activation, through libsystemd.
public enum SystemdNotifier {
    /// Sends a notification; a no-op when not started by systemd ($NOTIFY_SOCKET unset).
    public static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }

    public static func ready(status: String?) {
        notify("READY=1" + (status.map { "\nSTATUS=\($0)" } ?? ""))
    }

    public static func status(_ text: String) {
        notify("STATUS=\(text)")
    }

    public static func stopping() {
        notify("STOPPING=1")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=`, as newer systemd versions expect.
    public static func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    public static func watchdog() {
        notify("WATCHDOG=1")
    }

    /// The watchdog interval in seconds when systemd asked for one.
    public static func watchdogInterval() -> Double? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return Double(usec) / 1_000_000
    }

    /// File descriptors passed by socket activation.
    /// The sockets systemd passed, with their `FileDescriptorName=` (default: the socket unit's name).
    /// Like `listenFDs`, once per process.
    public static func namedListenFDs() -> [(fd: Int32, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(1, &names)
        guard n > 0 else { return [] }
        defer {
            for i in 0..<Int(n) { free(names?[i]) }
            free(names)
        }
        return (0..<n).map { i in (SD_LISTEN_FDS_START + i, names?[Int(i)].map { String(cString: $0) } ?? "") }
    }

    public static func listenFDs() -> [Int32] {
        let n = sd_listen_fds(1)
        guard n > 0 else { return [] }
        return (0..<n).map { SD_LISTEN_FDS_START + $0 }
    }
}
