import Glibc

/// Test hook for the crash torture test (debug builds only): with `ENTRA_SYNC_CRASH_AT=NAME:N`
/// in the environment, the process SIGKILLs itself the Nth time it reaches the point NAME,
/// so a kill lands exactly between two steps of a commit, a compaction or an export.
/// Release builds compile it to nothing.
public enum CrashPoint {
    #if DEBUG
    nonisolated(unsafe) private static var remaining: Int = {
        guard let spec = getenv("ENTRA_SYNC_CRASH_AT").map({ String(cString: $0) }),
              let colon = spec.lastIndex(of: ":"), let n = Int(spec[spec.index(after: colon)...]) else { return 0 }
        name = String(spec[..<colon])
        return n
    }()
    nonisolated(unsafe) private static var name = ""
    #endif

    /// Whether the next `hit(point)` kills the process.
    @inline(__always)
    public static func armed(_ point: String) -> Bool {
        #if DEBUG
        // Only one thread reaches a given point at a time (a profile's run queue); the test uses one profile.
        return remaining == 1 && name == point
        #else
        return false
        #endif
    }

    @inline(__always)
    public static func hit(_ point: String) {
        #if DEBUG
        guard remaining > 0, name == point else { return }
        remaining -= 1
        if remaining == 0 { kill(getpid(), SIGKILL) }
        #endif
    }
}
