import EntraControl
import EntraMirror
import EntraPush
import EntraSync

extension ManagerService {
    /// The kinds of push target the control service answers for.
    enum PushTargetKind {
        case scim, ldap

        var section: String { self == .scim ? "SCIM" : "LDAP" }
    }

    /// `Scim`/`Ldap` (read) and `ScimPush`/`LdapPush` (mutating; access was checked by `handle`).
    func pushTargets(_ call: VarlinkCall, _ replier: VarlinkReplier, kind: PushTargetKind, push: Bool) throws {
        let request = try call.decode(PushTargetRequest.self)
        let profile = try committed(request.profile).profile
        let targets = kind == .scim ? profile.scimTargets.map(\.name) : profile.ldapTargets.map(\.name)
        if let target = request.target, !targets.contains(target) {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.notFound,
                                   parameters: ["key": "\(kind.section) target \(target) (profile \(request.profile) has: \(targets.isEmpty ? "none" : targets.joined(separator: ", ")))"])
        }
        if !push {
            let plan = request.plan ?? false
            let snapshots = kind == .scim ? engine.scimStatus(profile: request.profile, target: request.target, plan: plan)
                : engine.ldapStatus(profile: request.profile, target: request.target, plan: plan)
            replier.reply(PushTargetReply(targets: (snapshots ?? []).map(ScimTargetStatus.init)))
            return
        }
        if engine.isStopping { throw Self.shuttingDown }
        let done: @Sendable ([PushTargetSnapshot]) -> Void = { snapshots in
            replier.reply(PushTargetReply(targets: snapshots.map(ScimTargetStatus.init)))
        }
        let (retry, allowed) = (request.retry ?? false, request.allowDeletions ?? 0)
        let started = kind == .scim
            ? engine.pushScim(profile: request.profile, target: request.target, retry: retry, allowDeletions: allowed, done: done)
            : engine.pushLdap(profile: request.profile, target: request.target, retry: retry, allowDeletions: allowed, done: done)
        if !started {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: request.profile))
        }
    }
}
