/// The `[Linux]` section of a profile: which users and groups the host sees through systemd's
/// userdb (`io.systemd.UserDatabase`), under which names and ids.
///
/// | key | type | default |
/// |---|---|---|
/// | `Users=` | yes/no | yes |
/// | `Groups=` | yes/no | yes |
/// | `IncludeGroups=` | comma-separated group display names or object ids | every group in the profile's scope |
/// | `NameFrom=` | `upn`, `upn-local`, `mailNickname` | `upn` |
/// | `GroupNameFrom=` | `mailNickname`, `displayName` | `displayName` |
/// | `HomeDirectory=` | template: `%u` name, `%l` UPN local part, `%U` uid, `%o` object id | `/home/%u` |
/// | `Shell=` | absolute path | `/bin/bash` |
/// | `IdRange=` | `FIRST-LAST` | `1879113728-1946157055` (0x70010000–0x73FFFFFF) |
/// | `IdPinsFile=` | absolute path of a file of `OBJECT-ID ID` lines | none |
public struct LinuxSettings: Sendable, Equatable {
    public enum NameSource: String, Sendable, CaseIterable {
        case upn
        case upnLocal = "upn-local"
        case mailNickname
    }

    public enum GroupNameSource: String, Sendable, CaseIterable {
        case mailNickname
        case displayName
    }

    public var users = true
    public var groups = true
    public var includeGroups: [String] = []
    public var nameFrom = NameSource.upn
    public var groupNameFrom = GroupNameSource.displayName
    public var homeDirectory = "/home/%u"
    public var shell = "/bin/bash"
    public var idRange = PosixIDRange.default
    /// `IdPinsFile=`: where the pins were read from (nil: no pins).
    public var idPinsFile: String?
    /// The ids pinned in `IdPinsFile=`, by lower-cased object id: an object without an id gets
    /// its pinned id when that id is free (see `PosixIDs.assign`).
    public var idPins: [String: UInt32] = [:]
    /// Where the section starts (errors about ranges shared with another profile point there).
    public var line = 0

    public init() {}
}

/// A closed range of POSIX ids a profile hands out (uids and gids share it: a user's primary
/// group has the user's uid as its gid).
public struct PosixIDRange: Sendable, Equatable, CustomStringConvertible {
    public var first: UInt32
    public var last: UInt32

    public init(first: UInt32, last: UInt32) {
        self.first = first
        self.last = last
    }

    /// 64 Mi ids at the start of the range systemd's UIDS-GIDS.md leaves unused (1879048192…2147483647),
    /// past its first 64 Ki ids.
    public static let `default` = PosixIDRange(first: 0x7001_0000, last: 0x73FF_FFFF)

    /// Where a range may lie: the two blocks systemd leaves unused. Everything else is reserved
    /// (system and regular users up to 60000, homed and nspawn 60001–60577, dynamic users
    /// 61184–65519, nobody 65534, 65535, the container range 524288–1879048191, the foreign range
    /// 0x7FFE0000–0x7FFEFFFF of newer systemd, and everything from 2^31: signed-int trouble).
    public static let allowedBlocks: [ClosedRange<UInt32>] = [65_536...524_287, 1_879_048_192...2_147_352_575]
    /// A smaller range would fill up and make collisions the rule.
    public static let minimumSize: UInt32 = 1_000

    public var count: UInt32 { last - first + 1 }
    public func contains(_ id: UInt32) -> Bool { first <= id && id <= last }
    public func overlaps(_ other: PosixIDRange) -> Bool { first <= other.last && other.first <= last }
    public var description: String { "\(first)-\(last)" }

    /// Parses `FIRST-LAST`; the message says what is wrong.
    public static func parse(_ text: String) -> Result<PosixIDRange, RangeError> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingSpaces }
        guard parts.count == 2, let first = UInt32(parts[0]), let last = UInt32(parts[1]) else {
            return .failure(RangeError(message: "expected FIRST-LAST in decimal, e.g. \(Self.default), found '\(text)'"))
        }
        guard first <= last, last - first + 1 >= minimumSize else {
            return .failure(RangeError(message: "'\(text)' holds fewer than \(minimumSize) ids"))
        }
        guard allowedBlocks.contains(where: { $0.contains(first) && $0.contains(last) }) else {
            return .failure(RangeError(message: "'\(text)' is not inside a range systemd leaves unused; "
                                       + "use one inside 65536-524287 or 1879048192-2147352575 (the default is \(Self.default))"))
        }
        return .success(PosixIDRange(first: first, last: last))
    }

    public struct RangeError: Error, Sendable {
        public var message: String
    }
}

extension Substring {
    var trimmingSpaces: String { String(self).trimmingSpaces }
}
