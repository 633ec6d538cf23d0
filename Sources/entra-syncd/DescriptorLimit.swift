import Dispatch
import Glibc

/// The daemon's open-file limit.
///
/// A service gets a soft `RLIMIT_NOFILE` of 1024 by default; that number exists only for programs
/// that use select(2), which cannot watch higher descriptors. entra-syncd uses none (libcurl polls,
/// `EntraEvents` uses epoll), so it raises the soft limit to the hard one at start, as systemd.exec(5)
/// recommends for programs that need many files. A program it starts (OnChange=) inherits the raised
/// limit; it starts with only stdin, stdout and stderr open.
enum DescriptorLimit {
    struct Change {
        var before: rlim_t
        var after: rlim_t
        /// Why the soft limit could not be raised (errno), if it could not.
        var error: Int32?
    }

    /// Raises the soft limit to the hard limit.
    static func raiseToHard() -> Change {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            return Change(before: 0, after: 0, error: errno)
        }
        let before = limit.rlim_cur
        guard limit.rlim_cur < limit.rlim_max else { return Change(before: before, after: before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else {
            return Change(before: before, after: before, error: errno)
        }
        return Change(before: before, after: raised.rlim_cur)
    }

    /// For the log: `infinity` rather than 18446744073709551615.
    static func format(_ value: rlim_t) -> String {
        value == rlim_t.max ? "infinity" : String(value)  // RLIM_INFINITY
    }
}
