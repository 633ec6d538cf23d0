import Foundation

/// Whether a file holding a secret can be read by more than the service needs.
///
/// The documented setup is `0640 root:entra-sync`: root owns the file and the service user reads it
/// through the service's group (`Group=` of the unit). A file every user can read, or one its group
/// can read when that group is not the service's, is exposed; the owner alone never is.
public enum SecretFileAccess {
    /// The unit's `Group=`; profiles are loaded by the daemon running in it.
    public static let serviceGroup = "entra-sync"

    /// Says who else can read `path` and how to fix it, or nil when only its owner and the service's
    /// group can (or when it cannot be examined: reading it reports that).
    static func exposure(of path: String, serviceGroup: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let fix = "run: chown root:\(serviceGroup) \(path) && chmod 0640 \(path)"
        if st.st_mode & S_IROTH != 0 {
            return "is readable by every user; \(fix)"
        }
        if st.st_mode & S_IRGRP != 0, st.st_gid != groupID(serviceGroup) {
            return "is readable by group \(groupName(st.st_gid)), which is not the service's group \(serviceGroup); \(fix)"
        }
        return nil
    }

    private static func groupID(_ name: String) -> gid_t? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    private static func groupName(_ gid: gid_t) -> String {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrgid_r(gid, &group, &buffer, buffer.count, &result) == 0, result != nil else { return "\(gid)" }
        return String(cString: group.gr_name)
    }
}
