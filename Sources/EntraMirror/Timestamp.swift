import Foundation

/// RFC 3339 UTC timestamps for status and exports: `2026-11-22T10:00:00Z`.
public enum Timestamp {
    public static func format(_ secondsSince1970: Double) -> String {
        var t = time_t(secondsSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    public static func format(_ date: Date) -> String {
        format(date.timeIntervalSince1970)
    }
}
