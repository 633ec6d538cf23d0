import EntraControl

extension SyncManager {
    /// `Scim` (read) and `ScimPush` (mutating; access was checked by `handle`).
    func handleScim(_ call: VarlinkCall, _ replier: VarlinkReplier) throws -> Bool {
        guard call.method == ManagerProtocol.Method.scim || call.method == ManagerProtocol.Method.scimPush else { return false }
        let request = try call.decode(ScimRequest.self)
        guard let runner = try runnerOrFail(request.profile, replier) else { return true }
        let targets = runner.profile.scimTargets.map(\.name)
        if let target = request.target, !targets.contains(target) {
            replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.notFound,
                                          parameters: ["key": "SCIM target \(target) (profile \(request.profile) has: \(targets.isEmpty ? "none" : targets.joined(separator: ", ")))"]))
            return true
        }
        if call.method == ManagerProtocol.Method.scim {
            replier.reply(ScimReply(targets: runner.scimStatus(target: request.target, plan: request.plan ?? false)))
        } else {
            runner.requestScimPush(target: request.target, retry: request.retry ?? false, allowDeletions: request.allowDeletions ?? 0) { targets in
                replier.reply(ScimReply(targets: targets))
            }
        }
        return true
    }
}
