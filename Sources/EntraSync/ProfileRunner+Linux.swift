import EntraConfig
import EntraMirror
import Foundation
import Logging

extension ProfileRunner {
    /// Gives each user and group the profile serves to Linux (`[Linux]`) its POSIX id, journaled
    /// through `commit` (so it survives restarts and compaction and is never handed out again).
    /// On `runQueue`: after each committed run, at start and after a reload. Ids that the local
    /// account database holds are skipped.
    func assignPosixIDs() {
        let state = mirror
        let (profile, broken) = shared.withLock { s -> (Profile, Bool) in
            if case .broken = s.lifecycle { return (s.profile, true) }
            return (s.profile, false)
        }
        guard !broken, let linux = profile.linux else {
            shared.withLock { $0.linux = nil }
            return
        }
        defer { rebuildLinuxDirectory() }
        let objects = LinuxDirectory.objects(of: state, profile: profile)
        let missing = objects.filter { state.posixIDs[$0] == nil }
        guard !missing.isEmpty else { return }
        let local = LocalAccounts.readHost().ids
        let mutations = state.posixIDs.assign(missing, in: linux.idRange, excluding: local, pins: linux.idPins)
        for case .posixID(let object, let id) in mutations {
            guard let pin = linux.idPins[object.lowercased()], pin != id else { continue }
            let holder = state.posixIDs.owners[pin].map { "object \($0)" } ?? (local.contains(pin) ? "a local account" : "another object")
            logger.warning("\(object) gets id \(id), not its pinned id \(pin): \(holder) holds that id (IdPinsFile= \(linux.idPinsFile ?? ""))")
        }
        if mutations.count < missing.count {
            logger.error("IdRange \(linux.idRange) is full: \(missing.count - mutations.count) users or groups get no POSIX id and are not served; widen IdRange= in [Linux]")
        }
        guard !mutations.isEmpty else { return }
        do {
            try commit(mutations)
            shared.withLock { $0.ldap.committed(Mutation.touchedObjects(mutations)) }
            logger.info("assigned \(mutations.count) POSIX ids in \(linux.idRange)")
        } catch {
            logger.error("cannot journal POSIX ids (they are assigned at the next run): \(error)")
        }
    }
}

extension ProfileRunner {
    /// What the profile serves to Linux now (nil without `[Linux]`): read by the userdb service.
    public var linuxDirectory: LinuxDirectory? { shared.withLock { $0.linux } }

    /// Builds the served users and groups from the committed mirror and the host's local accounts.
    private func rebuildLinuxDirectory() {
        let (profile, state) = (self.profile, mirror)
        let directory = LinuxDirectory(state: state, profile: profile, local: LocalAccounts.readHost())
        let previous = shared.withLock { s -> [LinuxRefusal] in
            let previous = s.linux?.refused ?? []
            s.linux = directory
            return previous
        }
        // Logged once: when a refusal first appears.
        for refusal in directory.refused where !previous.contains(refusal) {
            logger.warning("not served to Linux: \(refusal)")
        }
    }
}

extension LocalAccounts {
    /// The names and ids of /etc/passwd and /etc/group (a missing file counts as empty).
    public static func readHost(passwd: String = "/etc/passwd", group: String = "/etc/group") -> LocalAccounts {
        var local = LocalAccounts()
        for path in [passwd, group] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { local.add(colonFile: text) }
        }
        return local
    }
}
