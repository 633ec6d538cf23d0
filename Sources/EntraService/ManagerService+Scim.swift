import EntraControl
import EntraMirror
import EntraSync

extension ManagerService {
    /// `Scim` (read) and `ScimPush` (mutating; access was checked by `handle`).
    func scim(_ call: VarlinkCall, _ replier: VarlinkReplier, push: Bool) throws {
        let request = try call.decode(ScimRequest.self)
        let targets = try committed(request.profile).profile.scimTargets.map(\.name)
        if let target = request.target, !targets.contains(target) {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.notFound,
                                   parameters: ["key": "SCIM target \(target) (profile \(request.profile) has: \(targets.isEmpty ? "none" : targets.joined(separator: ", ")))"])
        }
        if !push {
            let snapshots = engine.scimStatus(profile: request.profile, target: request.target, plan: request.plan ?? false) ?? []
            replier.reply(ScimReply(targets: snapshots.map(ScimTargetStatus.init)))
            return
        }
        if engine.isStopping { throw Self.shuttingDown }
        let started = engine.pushScim(profile: request.profile, target: request.target, retry: request.retry ?? false,
                                      allowDeletions: request.allowDeletions ?? 0) { snapshots in
            replier.reply(ScimReply(targets: snapshots.map(ScimTargetStatus.init)))
        }
        if !started {
            throw try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile, parameters: ProfileErrorParameters(profile: request.profile))
        }
    }
}
