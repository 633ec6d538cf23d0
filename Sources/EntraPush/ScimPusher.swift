import EntraConfig
import EntraHTTP
import EntraMirror
import Foundation
import Logging

/// What the target announces in `/ServiceProviderConfig`.
struct ScimFeatures {
    var patch = false
    var bulk = false
    var bulkMaxOperations = 0
    var bulkMaxPayload = 0
    var filter = false
    var etag = false

    init() {}

    init(json: [String: Any]) {
        func supported(_ key: String) -> Bool { (json[key] as? [String: Any])?["supported"] as? Bool ?? false }
        patch = supported("patch")
        bulk = supported("bulk")
        filter = supported("filter")
        etag = supported("etag")
        let bulkInfo = json["bulk"] as? [String: Any]
        bulkMaxOperations = bulkInfo?["maxOperations"] as? Int ?? 0
        bulkMaxPayload = bulkInfo?["maxPayloadSize"] as? Int ?? 0
    }
}

/// Executes one push to one target: first contact (adoption), then the plan, journaling every
/// acknowledged operation before the next is sent, so a crash or an outage resumes where it stopped.
public final class ScimPusher: PushTarget {
    let target: ScimTarget
    public var name: String { target.name }
    private let client: ScimClient
    private var ledger: PushLedger<ScimTargetState>
    var state: ScimTargetState { ledger.state }
    private let logger: Logger
    private var features = ScimFeatures()
    /// Maximum member values per membership PATCH request.
    static let memberChunk = 1000

    public init(target: ScimTarget, client: ScimClient, state: ScimTargetState, logger: Logger,
                journal: @escaping ([ScimMutation]) throws -> Void) {
        self.target = target
        self.client = client
        self.logger = logger
        ledger = PushLedger(target: target.name, state: state, journal: journal)
    }

    private func commit(_ mutations: [ScimMutation]) throws { try ledger.commit(mutations) }

    /// Pushes `desired`; per-object failures are recorded, target failures end the push.
    /// - Parameters:
    ///   - deletionLimit: the most deprovisions/deletions allowed without approval (nil: no limit).
    ///   - retryAll: also send objects whose failure backoff has not expired.
    public func push(desired: ScimDesired, deletionLimit: Int?, retryAll: Bool) -> ScimPushSummary {
        var blocked: String?
        do {
            if state.endpoint != target.endpoint { try commit([.reset(target: target.name, endpoint: target.endpoint)]) }
            let config = try client.send("GET", "/ServiceProviderConfig")
            guard config.isSuccess, let json = config.json else {
                throw ScimTargetError(kind: .protocolError, message: "SCIM target \(target.name): GET /ServiceProviderConfig answered HTTP \(config.status): \(config.detail); is Endpoint= the SCIM base URL?")
            }
            features = ScimFeatures(json: json)
            guard features.patch else {
                throw ScimTargetError(kind: .protocolError, message: "SCIM target \(target.name) does not support PATCH; entra-sync needs it for minimal updates")
            }
            if !state.adopted {
                adoptionCandidates = (desired.users.mapValues(\.userName), desired.groups.mapValues(\.displayName))
                try adopt()
            }
            try ledger.recordUnsendable(desired.unsendable)
            var operations = ScimPlan(desired: desired, state: state, mode: target.deprovisionMode).operations
            blocked = ledger.selected(&operations, limit: deletionLimit, retryAll: retryAll) {
                "approve with: entra-syncctl scim PROFILE \(target.name) --allow-deletions \($0)"
            }
            if let blocked {
                logger.warning("SCIM target \(target.name): \(blocked)", metadata: ["MESSAGE_ID": "\(MessageID.deletionsBlocked)", "ENTRA_SCIM_TARGET": "\(target.name)"])
            }
            try execute(operations)
            try ledger.clearStaleFailures(pending: ScimPlan(desired: desired, state: state, mode: target.deprovisionMode).operations,
                                          unsendable: desired.unsendable)
        } catch let error as ScimTargetError {
            ledger.summary.result = .failed
            ledger.summary.error = error.description
        } catch {
            ledger.summary.result = .failed
            ledger.summary.error = "cannot record the push in the journal: \(error)"
        }
        ledger.summary.requests = client.requests
        ledger.summary.bytesSent = client.bytesSent
        let left = ledger.summary.result == .failed ? 0 : ScimPlan(desired: desired, state: state, mode: target.deprovisionMode).operations.count
        return ledger.finish(blocked: blocked, left: left, reached: state.endpoint == target.endpoint)
    }

    // MARK: First contact

    /// Matches the target's existing resources by externalId, then userName (users) or displayName
    /// (groups), so pointing entra-sync at a populated application adopts instead of duplicating.
    private func adopt() throws {
        var byScimId: [String: String] = [:]
        var mutations: [ScimMutation] = []
        if target.users {
            let existing = try list("/Users")
            var byExternal: [String: [String: Any]] = [:]
            var byName: [String: [String: Any]] = [:]
            for resource in existing {
                if let e = resource["externalId"] as? String { byExternal[e] = resource }
                if let n = resource["userName"] as? String { byName[n.lowercased()] = resource }
            }
            if !existing.isEmpty {
                for (id, want) in adoptionCandidates.users {
                    guard let resource = byExternal[id] ?? byName[want.lowercased()].flatMap({ r in
                        (r["externalId"] as? String).map { $0 == id } ?? true ? r : nil
                    }), let link = Self.userLink(resource) else { continue }
                    byScimId[link.scimId] = id
                    var adopted = link
                    adopted.etag = try stampExternalId(resource, id: id, kind: "Users")
                    mutations.append(.user(target: target.name, id: id, link: adopted))
                }
            }
        }
        if target.groups {
            let existing = try list("/Groups")
            var byExternal: [String: [String: Any]] = [:]
            var byName: [String: [String: Any]] = [:]
            for resource in existing {
                if let e = resource["externalId"] as? String { byExternal[e] = resource }
                if let n = resource["displayName"] as? String, resource["externalId"] == nil { byName[n] = resource }
            }
            var adopted: [(String, [String: Any])] = []
            for (id, name) in adoptionCandidates.groups {
                guard let resource = byExternal[id] ?? byName[name], let scimId = resource["id"] as? String else { continue }
                byScimId[scimId] = id
                adopted.append((id, resource))
            }
            for (id, resource) in adopted {
                let etag = try stampExternalId(resource, id: id, kind: "Groups")
                mutations.append(.group(target: target.name, id: id, scimId: resource["id"] as? String, etag: etag,
                                        displayName: resource["displayName"] as? String ?? ""))
                let members = (resource["members"] as? [[String: Any]] ?? []).compactMap { ($0["value"] as? String).flatMap { byScimId[$0] } }
                if !members.isEmpty { mutations.append(.members(target: target.name, group: id, added: members, removed: [], etag: nil)) }
            }
        }
        mutations.append(.adopted(target: target.name))
        try commit(mutations)
        let users = mutations.reduce(0) { if case .user = $1 { $0 + 1 } else { $0 } }
        let groups = mutations.reduce(0) { if case .group = $1 { $0 + 1 } else { $0 } }
        logger.info("SCIM target \(target.name): first contact, adopted \(users) existing users and \(groups) groups",
                    metadata: ["ENTRA_SCIM_TARGET": "\(target.name)"])
    }

    /// A resource adopted by userName or displayName gets the Entra id as its externalId, so later
    /// matching (and the application's own admins) can tell where it comes from. Returns the
    /// resource's version afterwards; a refusal is logged and the resource adopted as it is.
    private func stampExternalId(_ resource: [String: Any], id: String, kind: String) throws -> String? {
        guard resource["externalId"] as? String != id, let scimId = resource["id"] as? String else { return Self.version(resource) }
        let response = try client.send("PATCH", "/\(kind)/\(scimId)",
                                        json: ["schemas": [ScimSchema.patch], "Operations": [["op": "replace", "path": "externalId", "value": id]]])
        guard response.isSuccess else {
            logger.warning("SCIM target \(target.name): could not set externalId of adopted \(kind.dropLast()) \(scimId): HTTP \(response.status) \(response.detail)")
            return Self.version(resource)
        }
        return response.etag ?? response.json.flatMap(Self.version)
    }

    /// Set by `push` before adoption: what the target should hold (Entra id → userName / displayName).
    private var adoptionCandidates: (users: [String: String], groups: [String: String]) = ([:], [:])

    /// Every resource of a list endpoint, page by page (bounded by totalResults).
    private func list(_ path: String) throws -> [[String: Any]] {
        var resources: [[String: Any]] = []
        var start = 1
        for _ in 0..<100_000 {
            let page = try client.send("GET", "\(path)?startIndex=\(start)&count=500")
            guard page.isSuccess, let json = page.json else {
                throw ScimTargetError(kind: .protocolError, message: "SCIM target \(target.name): GET \(path) answered HTTP \(page.status): \(page.detail)")
            }
            let items = json["Resources"] as? [[String: Any]] ?? []
            resources += items
            let total = json["totalResults"] as? Int ?? resources.count
            if items.isEmpty || resources.count >= total { break }
            start += items.count
        }
        return resources
    }

    static func version(_ resource: [String: Any]) -> String? {
        (resource["meta"] as? [String: Any])?["version"] as? String
    }

    /// A link from a `User` resource: its id, version and the managed attributes as the server holds them.
    static func userLink(_ r: [String: Any]) -> ScimUserLink? {
        guard let scimId = r["id"] as? String, let userName = r["userName"] as? String else { return nil }
        let name = r["name"] as? [String: Any]
        let emails = r["emails"] as? [[String: Any]] ?? []
        let email = (emails.first { $0["primary"] as? Bool == true } ?? emails.first)?["value"] as? String
        let attributes = ScimUserAttributes(userName: userName, displayName: r["displayName"] as? String,
                                            givenName: name?["givenName"] as? String, familyName: name?["familyName"] as? String,
                                            email: email, active: r["active"] as? Bool ?? true)
        return ScimUserLink(scimId: scimId, etag: version(r), pushed: attributes)
    }

    // MARK: Operations

    private func execute(_ operations: [ScimOperation]) throws {
        var creates: [(String, ScimUserAttributes)] = []
        for op in operations { if case .createUser(let id, let a) = op { creates.append((id, a)) } }
        // Creates a crash may have cut short go one by one: each is looked up before it is sent again.
        let unsure = creates.filter { state.sending.contains($0.0) }
        creates.removeAll { state.sending.contains($0.0) }
        for (id, attributes) in unsure { try createUser(id: id, attributes) }
        if creates.count > 1, target.bulk, features.bulk, features.bulkMaxOperations > 1 {
            try bulkCreateUsers(creates)
        } else {
            for (id, attributes) in creates { try createUser(id: id, attributes) }
        }
        for op in operations {
            switch op {
            case .createUser: break
            case .updateUser(let id, _, let to): try updateUser(id: id, to: to)
            case .deprovisionUser(let id): try deprovisionUser(id: id)
            case .createGroup(let id, let name): try createGroup(id: id, displayName: name)
            case .renameGroup(let id, let name): try renameGroup(id: id, displayName: name)
            case .changeMembers(let group, let add, let remove): try changeMembers(group: group, add: add, remove: remove)
            case .deleteGroup(let id): try deleteGroup(id: id)
            }
        }
    }

    private func ifMatch(_ etag: String?) -> String? { features.etag ? etag : nil }

    /// Journals that creates are about to be sent. An id still marked at the next push was perhaps
    /// created by a push that crashed before the answer was journaled: it is looked up first.
    private func markSending(_ ids: [String]) throws {
        let fresh = ids.filter { !state.sending.contains($0) }
        if !fresh.isEmpty { try commit([.sending(target: target.name, ids: fresh)]) }
    }

    private func createUser(id: String, _ attributes: ScimUserAttributes) throws {
        if state.sending.contains(id), let existing = try findUser(id: id, userName: nil) {
            try commit([.user(target: target.name, id: id, link: existing)])
            return try updateUser(id: id, to: attributes)
        }
        try markSending([id])
        let response = try client.send("POST", "/Users", json: ScimPatch.user(id: id, attributes))
        try finishCreateUser(id: id, attributes, status: response.status, resource: response.json, etag: response.etag, detail: response.detail)
    }

    private func finishCreateUser(id: String, _ attributes: ScimUserAttributes, status: Int, resource: [String: Any]?, etag: String?,
                                  detail: String) throws {
        if (200..<300).contains(status), let scimId = resource?["id"] as? String {
            let link = ScimUserLink(scimId: scimId, etag: etag ?? resource.flatMap(Self.version), pushed: attributes)
            try succeeded(id, [.user(target: target.name, id: id, link: link)])
            ledger.summary.created += 1
        } else if status == 409, let existing = try findUser(id: id, userName: attributes.userName) {
            // Already there (a crash after the POST, or created by hand): adopt it, then bring it up to date.
            try commit([.user(target: target.name, id: id, link: existing)])
            try updateUser(id: id, to: attributes)
        } else {
            try failed(id, isGroup: false, name: attributes.userName, operation: "POST /Users", status: status, detail: detail)
        }
    }

    /// Creates users with `/Bulk`, in requests within the server's maxOperations and maxPayloadSize.
    private func bulkCreateUsers(_ creates: [(String, ScimUserAttributes)]) throws {
        let maxOps = min(features.bulkMaxOperations, 1000)
        let maxBytes = features.bulkMaxPayload > 0 ? features.bulkMaxPayload * 9 / 10 : 1 << 20
        var index = 0
        while index < creates.count {
            var batch: [[String: Any]] = []
            var bytes = 200
            var members: [String: ScimUserAttributes] = [:]
            while index < creates.count && batch.count < maxOps {
                let (id, attributes) = creates[index]
                let op: [String: Any] = ["method": "POST", "path": "/Users", "bulkId": id, "data": ScimPatch.user(id: id, attributes)]
                let size = (try? JSONSerialization.data(withJSONObject: op).count) ?? 500
                if !batch.isEmpty && bytes + size > maxBytes { break }
                batch.append(op)
                bytes += size + 1
                members[id] = attributes
                index += 1
            }
            try markSending(Array(members.keys))
            let response = try client.send("POST", "/Bulk", json: ["schemas": [ScimSchema.bulkRequest], "Operations": batch])
            guard response.isSuccess, let results = response.json?["Operations"] as? [[String: Any]] else {
                // The server refused the batch as a whole: send these one by one.
                logger.notice("SCIM target \(target.name): /Bulk answered HTTP \(response.status) (\(response.detail)); sending one by one")
                for (id, attributes) in members { try createUser(id: id, attributes) }
                continue
            }
            var links: [ScimMutation] = []
            var answered = Set<String>()
            for result in results {
                guard let id = result["bulkId"] as? String, let attributes = members[id] else { continue }
                answered.insert(id)
                let status = (result["status"] as? String).flatMap { Int($0) } ?? result["status"] as? Int ?? 0
                if (200..<300).contains(status), let location = result["location"] as? String {
                    let scimId = String(location.split(separator: "/").last ?? "")
                    links.append(.user(target: target.name, id: id, link: ScimUserLink(scimId: scimId, etag: result["version"] as? String, pushed: attributes)))
                    if state.failures[id] != nil { links.append(.failure(target: target.name, id: id, nil)) }
                    ledger.summary.created += 1
                } else {
                    let detail = (result["response"] as? [String: Any]).map { ScimResponse(status: status, body: Array((try? JSONSerialization.data(withJSONObject: $0)) ?? Data()), etag: nil).detail } ?? "HTTP \(status)"
                    try finishCreateUser(id: id, attributes, status: status, resource: nil, etag: nil, detail: detail)
                }
            }
            try commit(links)
            for (id, attributes) in members where !answered.contains(id) { try createUser(id: id, attributes) }
        }
    }

    /// The target's user with this externalId, else (with `userName`) the one with this userName
    /// unless it belongs to someone else.
    private func findUser(id: String, userName: String?) throws -> ScimUserLink? {
        guard features.filter else { return nil }
        for filter in ["externalId eq \(Self.quote(id))"] + (userName.map { ["userName eq \(Self.quote($0))"] } ?? []) {
            let response = try client.send("GET", "/Users?filter=\(Self.escape(filter))")
            guard response.isSuccess, let first = (response.json?["Resources"] as? [[String: Any]])?.first else { continue }
            if let external = first["externalId"] as? String, external != id { continue }  // someone else's account
            return Self.userLink(first)
        }
        return nil
    }

    private func updateUser(id: String, to: ScimUserAttributes, refetched: Bool = false) throws {
        guard let link = state.users[id] else { return }
        let ops = ScimPatch.operations(from: link.pushed, to: to)
        guard !ops.isEmpty else { return try succeeded(id, []) }
        let response = try client.send("PATCH", "/Users/\(link.scimId)", json: ["schemas": [ScimSchema.patch], "Operations": ops],
                                        ifMatch: ifMatch(link.etag))
        switch response.status {
        case 200..<300:
            let etag = response.etag ?? response.json.flatMap(Self.version)
            try succeeded(id, [.user(target: target.name, id: id, link: ScimUserLink(scimId: link.scimId, etag: etag, pushed: to))])
            ledger.summary.updated += 1
        case 404:
            // Deleted on the target behind our back: create it again.
            try commit([.user(target: target.name, id: id, link: nil)])
            try createUser(id: id, to)
        case 412 where !refetched:
            // Changed on the target since we last saw it: diff against what it holds now.
            let current = try client.send("GET", "/Users/\(link.scimId)")
            guard current.isSuccess, let fresh = current.json.flatMap(Self.userLink) else {
                return try failed(id, isGroup: false, name: to.userName, operation: "GET /Users/\(link.scimId)", status: current.status, detail: current.detail)
            }
            try commit([.user(target: target.name, id: id, link: fresh)])
            try updateUser(id: id, to: to, refetched: true)
        default:
            try failed(id, isGroup: false, name: to.userName, operation: "PATCH /Users/\(link.scimId)", status: response.status, detail: response.detail)
        }
    }

    private func deprovisionUser(id: String) throws {
        guard let link = state.users[id] else { return }
        if target.deprovisionMode == .deactivate {
            var to = link.pushed
            to.active = false
            let response = try client.send("PATCH", "/Users/\(link.scimId)",
                                            json: ["schemas": [ScimSchema.patch], "Operations": [["op": "replace", "path": "active", "value": false]]],
                                            ifMatch: ifMatch(link.etag))
            if response.isSuccess || response.status == 404 {
                let etag = response.etag ?? response.json.flatMap(Self.version)
                try succeeded(id, [.user(target: target.name, id: id, link: response.status == 404 ? nil : ScimUserLink(scimId: link.scimId, etag: etag, pushed: to))])
                ledger.summary.deprovisioned += 1
            } else if response.status == 412 {
                try commit([.user(target: target.name, id: id, link: ScimUserLink(scimId: link.scimId, etag: nil, pushed: link.pushed))])
                try deprovisionUser(id: id)
            } else {
                try failed(id, isGroup: false, name: link.pushed.userName, operation: "PATCH /Users/\(link.scimId) active=false", status: response.status, detail: response.detail)
            }
        } else {
            let response = try client.send("DELETE", "/Users/\(link.scimId)")
            if response.isSuccess || response.status == 404 {
                try succeeded(id, [.user(target: target.name, id: id, link: nil)])
                ledger.summary.deprovisioned += 1
            } else {
                try failed(id, isGroup: false, name: link.pushed.userName, operation: "DELETE /Users/\(link.scimId)", status: response.status, detail: response.detail)
            }
        }
    }

    private func createGroup(id: String, displayName: String) throws {
        if state.sending.contains(id), features.filter, let existing = try findGroup(id: id, displayName: nil) {
            return try adoptGroup(id: id, existing, displayName: displayName)
        }
        try markSending([id])
        let body: [String: Any] = ["schemas": [ScimSchema.group], "externalId": id, "displayName": displayName, "members": [[String: Any]]()]
        let response = try client.send("POST", "/Groups", json: body)
        if response.isSuccess, let scimId = response.json?["id"] as? String {
            try succeeded(id, [.group(target: target.name, id: id, scimId: scimId, etag: response.etag ?? response.json.flatMap(Self.version), displayName: displayName)])
            ledger.summary.created += 1
        } else if response.status == 409, features.filter, let existing = try findGroup(id: id, displayName: displayName) {
            try adoptGroup(id: id, existing, displayName: displayName)
        } else {
            try failed(id, isGroup: true, name: displayName, operation: "POST /Groups", status: response.status, detail: response.detail)
        }
    }

    /// Takes over a group the target already holds, with the members it names that are linked.
    private func adoptGroup(id: String, _ existing: [String: Any], displayName: String) throws {
        guard let scimId = existing["id"] as? String else { return }
        let byScimId = Dictionary(state.users.map { ($1.scimId, $0) } + state.groups.map { ($1.scimId, $0) }, uniquingKeysWith: { a, _ in a })
        let members = (existing["members"] as? [[String: Any]] ?? []).compactMap { ($0["value"] as? String).flatMap { byScimId[$0] } }
        try succeeded(id, [.group(target: target.name, id: id, scimId: scimId, etag: Self.version(existing),
                                  displayName: existing["displayName"] as? String ?? displayName),
                           .members(target: target.name, group: id, added: members, removed: [], etag: nil)])
        if existing["displayName"] as? String != displayName { try renameGroup(id: id, displayName: displayName) }
    }

    private func findGroup(id: String, displayName: String?) throws -> [String: Any]? {
        for filter in ["externalId eq \(Self.quote(id))"] + (displayName.map { ["displayName eq \(Self.quote($0))"] } ?? []) {
            let response = try client.send("GET", "/Groups?filter=\(Self.escape(filter))")
            guard response.isSuccess, let first = (response.json?["Resources"] as? [[String: Any]])?.first else { continue }
            if let external = first["externalId"] as? String, external != id { continue }
            return first
        }
        return nil
    }

    private func renameGroup(id: String, displayName: String) throws {
        guard let link = state.groups[id] else { return }
        let response = try client.send("PATCH", "/Groups/\(link.scimId)",
                                        json: ["schemas": [ScimSchema.patch], "Operations": [["op": "replace", "path": "displayName", "value": displayName]]])
        if response.isSuccess {
            try succeeded(id, [.group(target: target.name, id: id, scimId: link.scimId, etag: response.etag, displayName: displayName)])
            ledger.summary.updated += 1
        } else if response.status == 404 {
            try commit([.group(target: target.name, id: id, scimId: nil, etag: nil, displayName: "")])
            try createGroup(id: id, displayName: displayName)
        } else {
            try failed(id, isGroup: true, name: displayName, operation: "PATCH /Groups/\(link.scimId) displayName", status: response.status, detail: response.detail)
        }
    }

    /// Membership deltas as PATCH add/remove, at most `memberChunk` values a request: a large group's
    /// member list is never sent whole. Members not yet in the target wait for the next push.
    private func changeMembers(group: String, add: [String], remove: [String]) throws {
        guard let link = state.groups[group] else { return }
        var adds: [(String, String)] = []
        for id in add {
            if let scimId = state.users[id]?.scimId ?? state.groups[id]?.scimId { adds.append((id, scimId)) }
        }
        var removes: [(String, String?)] = remove.map { ($0, state.users[$0]?.scimId ?? state.groups[$0]?.scimId) }
        while !adds.isEmpty || !removes.isEmpty {
            let addChunk = Array(adds.prefix(Self.memberChunk))
            adds.removeFirst(addChunk.count)
            let removeChunk = Array(removes.prefix(Self.memberChunk - addChunk.count))
            removes.removeFirst(removeChunk.count)
            var ops: [[String: Any]] = []
            if !addChunk.isEmpty { ops.append(["op": "add", "path": "members", "value": addChunk.map { ["value": $0.1] }]) }
            for (_, scimId) in removeChunk {
                if let scimId { ops.append(["op": "remove", "path": "members[value eq \(Self.quote(scimId))]"]) }
            }
            if !ops.isEmpty {
                let response = try client.send("PATCH", "/Groups/\(link.scimId)", json: ["schemas": [ScimSchema.patch], "Operations": ops])
                guard response.isSuccess else {
                    return try failed(group, isGroup: true, name: link.displayName, operation: "PATCH /Groups/\(link.scimId) members",
                                      status: response.status, detail: response.detail)
                }
            }
            try succeeded(group, [.members(target: target.name, group: group, added: addChunk.map(\.0), removed: removeChunk.map(\.0), etag: nil)])
            ledger.summary.memberAdds += addChunk.count
            ledger.summary.memberRemoves += removeChunk.count
        }
    }

    private func deleteGroup(id: String) throws {
        guard let link = state.groups[id] else { return }
        let response = try client.send("DELETE", "/Groups/\(link.scimId)")
        if response.isSuccess || response.status == 404 {
            try succeeded(id, [.group(target: target.name, id: id, scimId: nil, etag: nil, displayName: "")])
            ledger.summary.deprovisioned += 1
        } else {
            try failed(id, isGroup: true, name: link.displayName, operation: "DELETE /Groups/\(link.scimId)", status: response.status, detail: response.detail)
        }
    }

    // MARK: Failures

    private func succeeded(_ id: String, _ mutations: [ScimMutation]) throws { try ledger.succeeded(id, mutations) }

    /// Records a refused object; it is tried again after a `Backoff.refusedObject` (1 min doubling to 1 h, jittered).
    private func failed(_ id: String, isGroup: Bool, name: String, operation: String, status: Int, detail: String) throws {
        let failure = try ledger.refused(id, isGroup: isGroup, name: name, operation: operation, status: status, detail: detail)
        logger.warning("SCIM target \(target.name): \(operation) for \(name) failed: HTTP \(status) \(failure.detail); retrying in \(Int(failure.nextAttempt - failure.at)) s",
                       metadata: ["MESSAGE_ID": "\(MessageID.scimObjectFailed)", "ENTRA_SCIM_TARGET": "\(target.name)", "ENTRA_OBJECT_ID": "\(id)"])
    }

    static func quote(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func escape(_ filter: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#\"")
        return filter.addingPercentEncoding(withAllowedCharacters: allowed) ?? filter
    }
}
