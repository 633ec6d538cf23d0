import EntraControl
import EntraMirror
import Glibc
import EntraLock

/// Who may change things over the control socket.
///
/// Reading (status, queries) is open to everyone who can connect: the socket's mode 0660 and group
/// decide that. Mutating methods (run-now, reload, approving deletions) also need root, the daemon's
/// own user, or membership of the admin group, checked against the peer's SO_PEERCRED credentials.
public struct AccessPolicy: Sendable {
    public var adminGroup: String?

    public init(adminGroup: String?) {
        self.adminGroup = adminGroup
    }

    /// getgrnam/getpwuid return static buffers: one caller at a time.
    private static let lookup = Locked(())

    public func mayMutate(_ peer: PeerCredentials) -> Bool {
        if peer.uid == 0 || peer.uid == getuid() { return true }
        guard let adminGroup else { return false }
        return Self.lookup.withLock { _ -> Bool in
            guard let group = getgrnam(adminGroup) else { return false }
            let gid = group.pointee.gr_gid
            if peer.gid == gid { return true }
            guard let user = getpwuid(peer.uid) else { return false }
            var count: Int32 = 256
            var groups = [gid_t](repeating: 0, count: 256)
            guard getgrouplist(user.pointee.pw_name, user.pointee.pw_gid, &groups, &count) >= 0 else { return false }
            return groups.prefix(Int(count)).contains(gid)
        }
    }
}
