import EntraConfig
import EntraDirectory
import EntraHTTP
import EntraLDAP
import EntraMirror
import Foundation
import Logging

/// Executes one push to one LDAP directory: connect and bind, first contact (containers and
/// adoption), then the plan, journaling every acknowledged operation before the next is sent.
///
/// Crash safety without a "sending" record: DNs are deterministic and every entry carries its
/// `entraObjectId` (Active Directory: `IdAttribute=`), so an add the directory already holds answers
/// alreadyExists and is looked up by the id; a membership value sent twice answers
/// attributeOrValueExists / noSuchAttribute (AD: entryAlreadyExists / unwillingToPerform) and is
/// taken as done; a rename or modify of an entry that moved answers noSuchObject and the entry is
/// found again by its id. What differs with `Schema=` is data (`LdapDialect`), plus the few
/// Active Directory steps in LdapPusher+ActiveDirectory.swift.
public final class LdapPusher: PushTarget {
    let target: LdapTarget
    public var name: String { target.name }
    private var ledger: PushLedger<LdapTargetState>
    var state: LdapTargetState { ledger.state }
    private let logger: Logger
    /// Set when the daemon stops: the push ends before its next operation (what was acknowledged is kept).
    private let cancel: CancellationFlag
    /// Drift repair before this push: the managed entries are read back and compared (see `reconcile()`).
    public var reconcile = false
    /// Where the push's time went (the debug log); the caller may have marked phases before it.
    public var phases = PhaseClock()
    /// Entries the last reconcile found changed or deleted by hand (for tests and the log).
    private(set) var drifted = 0
    /// After the push: the objects it left with something to do (refused, held back, waiting for a
    /// member), which the next incremental plan looks at again; nil when the push failed or cannot
    /// tell (an entry found elsewhere during an incremental push): the next plan is whole.
    public private(set) var left: Set<String>?
    private var ldap: LDAPConnection!
    /// Maximum member values in one modify request.
    static let memberChunk = 1000
    /// Adds sent before their answers are read: a first load is not one round trip per entry.
    static let addWindow = 32
    /// The most adds that were unanswered at once (for tests).
    private(set) var mostInFlight = 0
    /// The user attributes of inetorgperson's default mapping (`userAttributeNames` is what a target manages).
    static let userAttributes = LdapDialect.inetOrgPerson.userAttributes
    static let groupAttributes = LdapDialect.inetOrgPerson.groupAttributes
    /// What differs with `Schema=` (Active Directory's extras: LdapPusher+ActiveDirectory.swift).
    let dialect: LdapDialect
    /// The user attributes this target manages (inetorgperson: `userAttributes` remapped by
    /// `Attribute.NAME=`; Active Directory: its dialect's): read back and compared.
    let userAttributeNames: [String]
    /// `MaxRequestsPerSecond=`, when set.
    let pacer: RequestPacer?

    /// A failure of the whole push that is not an LDAP result (a managed container cannot be created).
    struct Abort: Error {
        var message: String
    }

    /// `journal` writes the changes; with `current`, it also applies them to the state `current`
    /// reads back (the store's), which is then the only copy (see `PushLedger`).
    public init(target: LdapTarget, state: LdapTargetState, logger: Logger, cancel: CancellationFlag,
                journal: @escaping ([LdapMutation]) throws -> Void, current: (() -> LdapTargetState)? = nil) {
        self.target = target
        self.cancel = cancel
        self.logger = logger
        dialect = LdapDialect(target)
        ledger = PushLedger(target: target.name, state: state, journal: journal, current: current)
        userAttributeNames = dialect.schema == .activedirectory ? dialect.userAttributes
            : LdapDesired.managedAttributes(for: target.userAttributes).sorted()
        pacer = target.maxRequestsPerSecond > 0 ? RequestPacer(rate: target.maxRequestsPerSecond) : nil
    }

    private func commit(_ mutations: [LdapMutation]) throws { try ledger.commit(mutations) }

    public func push(desired: LdapDesired, deletionLimit: Int?, retryAll: Bool) -> PushSummary {
        var desired = desired
        var blocked: String?
        var left = 0
        do {
            if state.location != target.location { try commit([.reset(target: target.name, location: target.location)]) }
            // First contact and drift repair look at every entry: a desired state of some objects
            // would adopt or repair those alone (the caller builds a whole one for them).
            if desired.partial != nil && (!state.adopted || reconcile) {
                throw Abort(message: "LDAP target \(target.name): an incremental plan cannot adopt or reconcile; the next push plans every entry")
            }
            ldap = try LDAPConnection(uri: target.uri, caFile: target.caFile, timeout: target.requestTimeout)
            if let pacer { ldap.beforeOperation = pacer.beforeOperation }
            try ldap.connect()
            switch target.bind {
            case .simple(let dn, let password, _): try ldap.bind(dn: dn, password: password.value)
            case .external: try ldap.bindExternal()
            }
            phases.mark("connect")
            if !state.adopted {
                try ensureContainers()
                try adopt(desired)
            } else if reconcile {
                try reconcileWithDirectory()
            }
            phases.mark(state.adopted && !reconcile ? "state" : "read back")
            desired = desired.settled(state)
            try ledger.recordUnsendable(desired.unsendable)
            var operations = LdapPlan(desired: desired, state: state, mode: target.deprovisionMode).operations
            let planned = Set(operations.map(\.objectId))
            blocked = ledger.selected(&operations, limit: deletionLimit, retryAll: retryAll) {
                "approve with: entra-syncctl ldap PROFILE \(target.name) --allow-deletions \($0)"
            }
            if let blocked {
                logger.warning("LDAP target \(target.name): \(blocked)", metadata: ["MESSAGE_ID": "\(MessageID.deletionsBlocked)", "ENTRA_LDAP_TARGET": "\(target.name)"])
            }
            // The member ids are planned again group by group when their turn comes (the adds
            // carry many of them by then): a first load's million are not held through the adds.
            operations = operations.map { op in
                if case .changeMembers(let group, _, _) = op { .changeMembers(group: group, add: [], remove: []) } else { op }
            }
            phases.mark("plan")
            // Adds, renames and modifies (every member's DN settled), the first member request of
            // each group pipelined, then in plan order what is left: more member requests, deletions.
            try addPipelined(operations, desired: desired)
            phases.mark("adds")
            for op in operations {
                switch op {
                case .rename, .modify: break
                default: continue
                }
                try stopIfCancelled()
                try execute(op, desired: desired)
            }
            phases.mark("modifies")
            try changeMembersPipelined(&operations, desired: desired)
            phases.mark("members")
            for op in operations {
                switch op {
                case .add, .rename, .modify: continue
                default: break
                }
                try stopIfCancelled()
                try execute(op, desired: desired)
            }
            // What is left (refused, held back, or waiting for a member): planned again for what
            // the plan had (nothing else changed), once (clearing failures changes no entry).
            phases.mark("rest")
            let pending = LdapPlan(desired: desired, state: state, mode: target.deprovisionMode, only: relinked ? nil : planned).operations
            left = pending.count
            self.left = relinked && desired.partial != nil ? nil : Set(pending.map(\.objectId))
            try ledger.clearStaleFailures(pending: pending, unsendable: desired.unsendable)
            phases.mark("left")
        } catch let error as LDAPError {
            ledger.summary.result = .failed
            ledger.summary.error = "LDAP target \(target.name): \(error)"
        } catch let error as Abort {
            ledger.summary.result = .failed
            ledger.summary.error = error.message
        } catch {
            ledger.summary.result = .failed
            ledger.summary.error = "cannot record the push in the journal: \(error)"
        }
        ledger.summary.requests = ldap?.operations ?? 0
        ledger.summary.bytesSent = ldap?.bytesSent ?? 0
        ldap = nil  // unbinds
        if ledger.summary.result == .failed {
            left = 0
            self.left = nil
        }
        return ledger.finish(blocked: blocked, left: left, reached: state.location == target.location)
    }

    // MARK: First contact

    /// UsersDN= and GroupsDN= exist, or are created when their RDN is `ou=`.
    private func ensureContainers() throws {
        for dn in Set([target.usersDN, target.groupsDN]) { try ensureContainer(dn) }
    }

    /// An entry was found elsewhere or gone behind our back during the push: the groups that list
    /// it may need changes the plan did not have, so what is left is planned for every entry.
    private var relinked = false

    /// DisabledDN= is made sure of once a push, before the first move into it.
    private var disabledContainerChecked = false

    private func ensureContainer(_ dn: String) throws {
        guard try !exists(dn) else { return }
        guard let rdn = LdapDN.rdn(of: dn), rdn.0 == "ou" else {
            throw Abort(message: "LDAP target \(target.name): \(dn) does not exist; create it (only ou= containers are created)")
        }
        try ldap.add(dn: dn, attributes: [("objectClass", ["organizationalUnit"]), ("ou", [rdn.1])])
        logger.info("LDAP target \(target.name): created \(dn)", metadata: ["ENTRA_LDAP_TARGET": "\(target.name)"])
    }

    private func exists(_ dn: String) throws -> Bool {
        do {
            _ = try ldap.search(base: dn, scope: .base, filter: "(objectClass=*)", attributes: ["1.1"])
            return true
        } catch {
            if error.code == LDAPError.noSuchObject { return false }
            throw error
        }
    }

    /// Runs `body`, taking the listed result codes as success (the operation had been done already).
    private func tolerating(_ codes: [Int32], _ body: () throws(LDAPError) -> Void) throws {
        do {
            try body()
        } catch {
            if !codes.contains(error.code) { throw error }
        }
    }

    /// Matches the directory's entries by entraObjectId, then `uid` (users) or `cn` (groups) when the
    /// entry has no entraObjectId, stamps the id on those, and links them: a populated directory is
    /// adopted instead of duplicated. Entries with someone else's id are never touched.
    private func adopt(_ desired: LdapDesired) throws {
        var mutations: [LdapMutation] = []
        var idByDN: [String: String] = [:]
        var adoptedGroups: [(String, LDAPConnection.Entry)] = []
        for isGroup in [false, true] where isGroup ? target.groups : target.users {
            let want = isGroup ? desired.groups : desired.users
            let base = isGroup ? target.groupsDN : target.usersDN
            let namings = isGroup ? dialect.groupNames : dialect.userNames
            let existing = try ldap.search(base: base, scope: .subtree, filter: isGroup ? dialect.groupFilter : dialect.userFilter,
                                           attributes: ["objectClass", "member"] + attributes(isGroup))
            var byId: [String: LDAPConnection.Entry] = [:]
            var byName: [[String: LDAPConnection.Entry]] = namings.map { _ in [:] }
            for entry in existing {
                if let id = entry.first(dialect.idAttribute) {
                    byId[id.lowercased()] = entry
                } else {
                    for (i, naming) in namings.enumerated() { if let n = entry.first(naming) { byName[i][n.lowercased()] = entry } }
                }
            }
            guard !existing.isEmpty else { continue }
            var taken = Set<String>()
            for (id, entry) in want.sorted(by: { $0.key < $1.key }) {
                let names = namings.map { entry.attributes[$0]?.first?.lowercased() ?? "" }
                guard let found = byId[id.lowercased()] ?? zip(byName, names).lazy.compactMap({ $0[$1] }).first,
                      taken.insert(LdapDN.normalized(found.dn)).inserted else { continue }
                if found.first(dialect.idAttribute) == nil {
                    do {
                        for changes in stamp(id, on: found, isGroup: isGroup) { try ldap.modify(dn: found.dn, changes) }
                    } catch {
                        if error.isTargetFailure { throw error }
                        logger.warning("LDAP target \(target.name): cannot stamp \(dialect.idAttribute) on \(found.dn): \(error); left alone")
                        continue
                    }
                }
                var link = self.link(found, isGroup: isGroup)
                link.attributes[dialect.idKey] = [id]
                idByDN[LdapDN.normalized(found.dn)] = id
                mutations.append(.entry(target: target.name, id: id, isGroup: isGroup, link: link))
                if isGroup { adoptedGroups.append((id, found)) }
            }
        }
        for (id, entry) in adoptedGroups {
            let members = (entry.attributes["member"] ?? []).compactMap { idByDN[LdapDN.normalized($0)] }.filter { $0 != id }
            if !members.isEmpty { mutations.append(.members(target: target.name, group: id, added: members.sorted(), removed: [])) }
        }
        mutations += [.adopted(target: target.name), .reconciled(target: target.name, at: Date().timeIntervalSince1970)]
        try commit(mutations)
        let adopted = mutations.filter { if case .entry = $0 { true } else { false } }.count
        logger.info("LDAP target \(target.name): first contact, adopted \(adopted) existing entries",
                    metadata: ["ENTRA_LDAP_TARGET": "\(target.name)"])
    }

    /// Drift repair: every entry under the managed DNs that carries an `entraObjectId` the state
    /// knows is read back (a paged subtree search); where someone changed its managed attributes,
    /// renamed it or changed its members by hand, the state takes what the directory holds, and an
    /// entry deleted by hand is forgotten, so the plan that follows puts each back. Entries without
    /// `entraObjectId`, and ids the state does not know, are never touched.
    private func reconcileWithDirectory() throws {
        var found: [String: LDAPConnection.Entry] = [:]
        for isGroup in [false, true] where isGroup ? target.groups : target.users {
            let base = isGroup ? target.groupsDN : target.deprovisionMode == .move ? target.baseDN : target.usersDN
            for entry in try ldap.search(base: base, scope: .subtree, filter: "(\(dialect.idAttribute)=*)",
                                         attributes: ["member"] + attributes(isGroup)) {
                guard let id = entry.first(dialect.idAttribute), (isGroup ? state.groups[id] : state.users[id]) != nil else { continue }
                found[id] = entry
            }
        }
        let idByDN = Dictionary(found.map { (LdapDN.normalized($0.value.dn), $0.key) }, uniquingKeysWith: { a, _ in a })
        var mutations: [LdapMutation] = []
        var drifted = Set<String>()
        for (isGroup, links) in [(false, state.users), (true, state.groups)] {
            for (id, link) in links.sorted(by: { $0.key < $1.key }) {
                guard let entry = found[id] else {
                    mutations.append(.entry(target: target.name, id: id, isGroup: isGroup, link: nil))
                    drifted.insert(id)
                    continue
                }
                let held = self.link(entry, isGroup: isGroup)
                if LdapDN.normalized(held.dn) != LdapDN.normalized(link.dn) || held.attributes != managed(link.attributes, isGroup: isGroup) {
                    mutations.append(.entry(target: target.name, id: id, isGroup: isGroup, link: held))
                    drifted.insert(id)
                }
                guard isGroup else { continue }
                let members = LdapMembers((entry.attributes["member"] ?? []).compactMap { idByDN[LdapDN.normalized($0)] }.filter { $0 != id })
                let added = members.subtracting(link.members), removed = link.members.subtracting(members)
                if !added.isEmpty || !removed.isEmpty {
                    mutations.append(.members(target: target.name, group: id, added: added.sorted(), removed: removed.sorted()))
                    drifted.insert(id)
                }
            }
        }
        try commit(mutations + [.reconciled(target: target.name, at: Date().timeIntervalSince1970)])
        self.drifted = drifted.count
        if !drifted.isEmpty {
            logger.notice("LDAP target \(target.name): \(drifted.count) entries were changed or deleted by hand; putting them back",
                          metadata: ["ENTRA_LDAP_TARGET": "\(target.name)"])
        }
    }

    /// A link from an entry as the directory holds it (managed attributes only, members not included).
    func link(_ entry: LDAPConnection.Entry, isGroup: Bool) -> LdapEntryLink {
        LdapEntryLink(dn: entry.dn, attributes: managed(entry.attributes, isGroup: isGroup))
    }

    /// The attributes this target manages among `attributes` (an acknowledged link may hold one that
    /// `Attribute.NAME=` no longer manages: it is left in the directory as it is).
    func managed(_ attributes: LdapAttributes, isGroup: Bool) -> LdapAttributes {
        let names = self.attributes(isGroup)
        return attributes.filter { names.contains($0.key) }
    }

    /// `managed` of an entry's attributes as the directory sent them.
    func managed(_ attributes: [String: [String]], isGroup: Bool) -> LdapAttributes {
        let names = self.attributes(isGroup)
        return LdapAttributes(attributes.filter { names.contains($0.key) })
    }

    /// The managed attributes of a user or a group.
    func attributes(_ isGroup: Bool) -> [String] { isGroup ? dialect.groupAttributes : userAttributeNames }

    /// The entry carrying `id`, wherever it is under the managed DNs.
    private func find(_ id: String, isGroup: Bool) throws -> LDAPConnection.Entry? {
        // Moved users (DeprovisionMode=move) may be under DisabledDN=, outside UsersDN=.
        try ldap.search(base: isGroup ? target.groupsDN : target.deprovisionMode == .move ? target.baseDN : target.usersDN, scope: .subtree,
                        filter: "(\(dialect.idAttribute)=\(LDAPConnection.filterValue(id)))",
                        attributes: ["member"] + attributes(isGroup)).first
    }

    // MARK: Operations

    private func execute(_ op: LdapOperation, desired: LdapDesired) throws {
        let isGroup: Bool
        switch op {
        case .add(_, let g, _), .rename(_, let g, _), .modify(_, let g, _): isGroup = g
        case .changeMembers, .deleteGroup: isGroup = true
        case .deprovisionUser: isGroup = false
        }
        let id = op.objectId
        let entry = (isGroup ? desired.groups[id] : desired.users[id]) ?? (isGroup ? state.groups[id] : state.users[id])
        do {
            switch op {
            case .add(_, _, let link): try add(id, isGroup: isGroup, link)
            case .rename(_, _, let dn): try rename(id, isGroup: isGroup, to: dn)
            case .modify(_, _, let attributes): try modify(id, isGroup: isGroup, to: attributes, members: desired.members(of: id))
            case .changeMembers(_, let add, let remove): try changeMembers(group: id, add: add, remove: remove)
            case .deleteGroup: try delete(id, isGroup: true)
            case .deprovisionUser: try deprovision(id)
            }
            try ledger.succeeded(id, [])
        } catch let error as LDAPError where !error.isTargetFailure {
            let failure = try ledger.refused(id, isGroup: isGroup, name: entry?.dn ?? id, operation: error.operation, status: Int(error.code),
                                             detail: error.diagnostic)
            logger.warning("LDAP target \(target.name): \(error); retrying in \(Int(failure.nextAttempt - failure.at)) s",
                           metadata: ["MESSAGE_ID": "\(MessageID.ldapObjectFailed)", "ENTRA_LDAP_TARGET": "\(target.name)", "ENTRA_OBJECT_ID": "\(id)"])
        }
    }

    /// The plan's adds, up to `addWindow` of them sent before the first answer is read, and the
    /// acknowledged ones journaled `addWindow` at a time (one commit, one fdatasync): adds do not
    /// depend on one another, and after a crash an add the directory already holds is found by its
    /// id. A refused add, or one the directory already holds, goes the one-by-one way afterwards
    /// (looked up by its id, or recorded).
    ///
    /// Users go first, then groups: a group is added with those of its members the directory has
    /// acknowledged by then (at most `memberChunk`), so a first load sends one request per group,
    /// not an add and a modify; the members left follow as member changes. An empty group holds
    /// its own DN (groupOfNames needs a member).
    ///
    /// The server may carry out pipelined operations in any order, so two adds of the same DN (two
    /// groups of one name) are never in flight together: the later ones go one by one afterwards,
    /// and the first in plan order (the smaller object id) always gets the DN.
    private func addPipelined(_ operations: [LdapOperation], desired: LdapDesired) throws {
        typealias Pending = (id: String, isGroup: Bool, link: LdapEntryLink)
        var again: [LdapOperation] = []
        // Two adds of one DN: the second is sent alone afterwards, to be refused as the entry it is.
        // Hashes, not 110,000 DN strings: a collision only sends an add alone, which is as correct.
        var dns = Set<Int>()
        for groups in [false, true] {
            var waiting: [Pending] = []
            for case .add(let id, let isGroup, let link) in operations where isGroup == groups {
                if dns.insert(LdapDN.normalized(link.dn).hashValue).inserted {
                    waiting.append((id, isGroup, link))
                } else {
                    again.append(.add(id: id, isGroup: isGroup, link))
                }
            }
            waiting.reverse()
            var inFlight: [Int32: (entry: Pending, members: [String])] = [:]
            var acknowledged: [(id: String, changes: [LdapMutation])] = []
            var memberAdds = 0
            while !waiting.isEmpty || !inFlight.isEmpty {
                while inFlight.count < Self.addWindow, !cancel.isCancelled, let next = waiting.popLast() {
                    let members = next.isGroup ? presentMembers(of: next.id, desired: desired) : []
                    let attributes = addition(next.link, isGroup: next.isGroup, memberDNs: members.compactMap { state.dn(of: $0) })
                    let messageId = try withSecret(isGroup: next.isGroup) { secret throws(LDAPError) in
                        try ldap.sendAdd(dn: next.link.dn, attributes: attributes, secret: secret)
                    }
                    inFlight[messageId] = (next, members)
                    mostInFlight = max(mostInFlight, inFlight.count)
                }
                if inFlight.isEmpty { try stopIfCancelled() }
                var answers = [try ldap.nextAnswer()]
                while answers.count < Self.addWindow, let more = try ldap.arrivedAnswer() { answers.append(more) }
                var unusable: LDAPError?
                for (messageId, refusal) in answers {
                    guard let flight = inFlight.removeValue(forKey: messageId) else { continue }
                    let (done, members) = (flight.entry, flight.members)
                    if var refusal {
                        refusal.operation = "add \(done.link.dn)"
                        if refusal.isTargetFailure { unusable = unusable ?? refusal }
                        again.append(.add(id: done.id, isGroup: done.isGroup, done.link))
                        continue
                    }
                    var changes: [LdapMutation] = [.entry(target: target.name, id: done.id, isGroup: done.isGroup,
                                                          link: LdapEntryLink(dn: done.link.dn, attributes: done.link.attributes))]
                    if !members.isEmpty { changes.append(.members(target: target.name, group: done.id, added: members, removed: [])) }
                    acknowledged.append((done.id, changes))
                    memberAdds += members.count
                }
                // Journaled a window at a time (the journal's fdatasync and the directory's share a
                // disk as often as not), and before the next phase plans from the state.
                if acknowledged.count >= Self.addWindow || inFlight.isEmpty || unusable != nil || cancel.isCancelled {
                    try ledger.succeeded(acknowledged)
                    ledger.summary.created += acknowledged.count
                    ledger.summary.memberAdds += memberAdds
                    (acknowledged, memberAdds) = ([], 0)
                }
                if let unusable { throw unusable }
            }
        }
        for op in again { try execute(op, desired: desired) }
    }

    /// The member ids a group's add may carry: wanted members the directory acknowledged already
    /// (their DNs are known and their entries exist), sorted, at most `memberChunk`.
    private func presentMembers(of group: String, desired: LdapDesired) -> [String] {
        let wanted = desired.members(of: group)
        return Array(wanted.filter { $0 != group && state.dn(of: $0) != nil }.sorted().prefix(Self.memberChunk))
    }

    private func stopIfCancelled() throws {
        if cancel.isCancelled { throw Abort(message: "LDAP target \(target.name): stopped, the daemon is stopping") }
    }

    /// The attributes an entry is added with; a group with `memberDNs` (the DNs of members the
    /// directory holds already).
    func addition(_ link: LdapEntryLink, isGroup: Bool, memberDNs: [String] = []) -> [(String, [String])] {
        var attributes: [(String, [String])] = [("objectClass", dialect.classes(link.attributes, isGroup: isGroup))]
        attributes += link.attributes.map { ($0.key, $0.value) }  // in name order
        if isGroup && !memberDNs.isEmpty {
            attributes.append(("member", memberDNs))
        } else if isGroup && dialect.placeholderMember {
            // groupOfNames needs a member: an empty group holds its own DN until it has real ones.
            attributes.append(("member", [link.dn]))
        }
        return attributes + additionExtras(isGroup: isGroup)
    }

    private func add(_ id: String, isGroup: Bool, _ link: LdapEntryLink) throws {
        let attributes = addition(link, isGroup: isGroup)
        do {
            try withSecret(isGroup: isGroup) { secret throws(LDAPError) in try ldap.add(dn: link.dn, attributes: attributes, secret: secret) }
        } catch {
            guard error.code == LDAPError.alreadyExists else { throw error }
            // Perhaps added by a push that crashed before journaling it: then it carries our id.
            guard let found = try find(id, isGroup: isGroup), LdapDN.normalized(found.dn) == LdapDN.normalized(link.dn) else { throw error }
            try relink(id, isGroup: isGroup, found)
            return try modify(id, isGroup: isGroup, to: link.attributes, members: [])
        }
        try commit([.entry(target: target.name, id: id, isGroup: isGroup, link: LdapEntryLink(dn: link.dn, attributes: link.attributes))])
        ledger.summary.created += 1
    }

    /// Takes the entry as the directory holds it (after a crash or a change behind our back).
    private func relink(_ id: String, isGroup: Bool, _ found: LDAPConnection.Entry) throws {
        relinked = true
        var mutations: [LdapMutation] = [.entry(target: target.name, id: id, isGroup: isGroup, link: self.link(found, isGroup: isGroup))]
        if isGroup {
            let byDN = Dictionary((state.users.map { ($1.dn, $0) } + state.groups.map { ($1.dn, $0) }).map { (LdapDN.normalized($0.0), $0.1) },
                                  uniquingKeysWith: { a, _ in a })
            let held = LdapMembers((found.attributes["member"] ?? []).compactMap { byDN[LdapDN.normalized($0)] }.filter { $0 != id })
            let acknowledged = state.groups[id]?.members ?? []
            mutations.append(.members(target: target.name, group: id, added: held.subtracting(acknowledged).sorted(),
                                      removed: acknowledged.subtracting(held).sorted()))
        }
        try commit(mutations)
    }

    /// Runs `body`; when the entry is not where the state says, finds it by its id and runs it once more.
    private func located(_ id: String, isGroup: Bool, _ body: (LdapEntryLink) throws -> Void) throws {
        guard let link = isGroup ? state.groups[id] : state.users[id] else { return }
        do {
            try body(link)
        } catch let error as LDAPError where error.code == LDAPError.noSuchObject {
            guard let found = try find(id, isGroup: isGroup) else {
                // Deleted behind our back: forgotten, so the next plan adds it again.
                relinked = true
                return try commit([.entry(target: target.name, id: id, isGroup: isGroup, link: nil)])
            }
            try relink(id, isGroup: isGroup, found)
            try body(isGroup ? state.groups[id]! : state.users[id]!)
        }
    }

    /// modrdn, with the groups that list the entry updated: the old DN is removed from each (journaled)
    /// before the rename and the new one added after it, so a crash in between leaves the state
    /// matching the directory and the next plan adds what is missing.
    private func rename(_ id: String, isGroup: Bool, to dn: String) throws {
        try located(id, isGroup: isGroup) { link in
            if LdapDN.normalized(link.dn) == LdapDN.normalized(dn) { return }
            let holders = state.groups.filter { $0.value.members.contains(id) }.keys.sorted()
            for group in holders { try changeMembers(group: group, add: [], remove: [ObjectID(id)]) }
            let (rdn, parent) = LdapDN.split(dn)
            let oldParent = LdapDN.split(link.dn).parent
            try ldap.rename(dn: link.dn, newRDN: rdn, newSuperior: LdapDN.normalized(parent) == LdapDN.normalized(oldParent) ? nil : parent)
            let renamed = LdapEntryLink(dn: dn, attributes: LdapEntry.renamed(link.attributes, from: link.dn, to: dn))
            try commit([.entry(target: target.name, id: id, isGroup: isGroup, link: renamed)])
            ledger.summary.updated += 1
            for group in holders { try changeMembers(group: group, add: [ObjectID(id)], remove: []) }
        }
    }

    /// Replaces the managed attributes that changed. `members`: what a group re-created on the way should list.
    private func modify(_ id: String, isGroup: Bool, to attributes: LdapAttributes, members: LdapMembers) throws {
        try located(id, isGroup: isGroup) { link in
            let changes = LdapEntry.changes(from: managed(link.attributes, isGroup: isGroup), to: attributes)
            guard !changes.isEmpty else { return }
            let replace = changes.map { LDAPConnection.Change.replace($0.name, $0.values) }
            let posixAttribute = isGroup ? "gidnumber" : "uidnumber"
            // Active Directory's user and group take the RFC 2307 attributes without a class change.
            let posix = dialect.schema == .activedirectory ? (false, false) : (link.attributes[posixAttribute] != nil, attributes[posixAttribute] != nil)
            if isGroup, posix.0 != posix.1 {
                return try recreateGroup(id, link: link, attributes: attributes, members: members)
            }
            // Posix= turned on or off for a user: posixAccount comes or goes in the same modify
            // (its MUST attributes with it); already so (an adopted entry) is taken as done.
            if posix.0 != posix.1 {
                let posixClass = LdapDesired.posixUserClass
                do {
                    try ldap.modify(dn: link.dn, [posix.1 ? .add("objectClass", [posixClass]) : .delete("objectClass", [posixClass])] + replace)
                } catch let error as LDAPError {
                    guard error.code == LDAPError.attributeOrValueExists || error.code == LDAPError.noSuchAttribute else { throw error }
                    try ldap.modify(dn: link.dn, replace)
                }
            } else {
                try ldap.modify(dn: link.dn, replace)
            }
            try commit([.entry(target: target.name, id: id, isGroup: isGroup, link: LdapEntryLink(dn: link.dn, attributes: attributes))])
            ledger.summary.updated += 1
        }
    }

    /// A group that gains or loses its POSIX id changes its structural class (groupOfNames ⇄
    /// posixGroup), which LDAP cannot do in place: it is deleted and added again under the same DN
    /// with its members (groups that list it keep the DN, so they need no change).
    private func recreateGroup(_ id: String, link: LdapEntryLink, attributes: LdapAttributes, members: LdapMembers) throws {
        let holders = state.groups.filter { $0.value.members.contains(id) }.keys.sorted()
        try tolerating([LDAPError.noSuchObject]) { () throws(LDAPError) in try ldap.delete(dn: link.dn) }
        try commit([.entry(target: target.name, id: id, isGroup: true, link: nil)])
        try add(id, isGroup: true, LdapEntryLink(dn: link.dn, attributes: attributes))
        ledger.summary.created -= 1
        ledger.summary.updated += 1
        try changeMembers(group: id, add: members.sortedIDs, remove: [])
        // The groups that list it still do (same DN); the journal says so again.
        for group in holders { try changeMembers(group: group, add: [ObjectID(id)], remove: []) }
    }

    /// One modify of a group's `member` values: what it adds and removes (ids) and the changes sent.
    struct MemberRequest {
        var dn: String
        var added: [String]
        var removed: [String]
        var changes: [LDAPConnection.Change]

        /// The changes one value at a time (after "value exists" or "no such value": partly done already).
        var singles: [LDAPConnection.Change] {
            changes.flatMap { change -> [LDAPConnection.Change] in
                switch change {
                case .add(let name, let values): values.map { .add(name, [$0]) }
                case .delete(let name, let values): values.map { .delete(name, [$0]) }
                case .replace: [change]
                }
            }
        }
    }

    /// The ids of `add` not in the group yet and of `remove` still in it, with their DNs (members
    /// not yet in the directory wait for the next push).
    private func memberDeltas(_ link: LdapEntryLink, add: [ObjectID], remove: [ObjectID]) -> (adds: [(String, String)], removes: [(String, String)]) {
        func withDN(_ id: ObjectID) -> (String, String)? { state.dn(of: id.description).map { (id.description, $0) } }
        return (add.filter { !link.members.contains($0) }.compactMap(withDN), remove.filter { link.members.contains($0) }.compactMap(withDN))
    }

    /// The next request of a group's member deltas (taken from `adds` and `removes`): at most
    /// `memberChunk` values, adds first; the placeholder (the group's own DN) goes when the first
    /// real member comes and comes back when the last one goes.
    private func memberRequest(_ group: String, _ link: LdapEntryLink, adds: inout [(String, String)], removes: inout [(String, String)]) -> MemberRequest {
        let members = state.groups[group]?.members.count ?? 0
        let addChunk = Array(adds.prefix(Self.memberChunk))
        adds.removeFirst(addChunk.count)
        let removeChunk = Array(removes.prefix(Self.memberChunk - addChunk.count))
        removes.removeFirst(removeChunk.count)
        var addValues = addChunk.map(\.1)
        var removeValues = removeChunk.map(\.1)
        let after = members + addChunk.count - removeChunk.count
        if dialect.placeholderMember {
            if members == 0 && after > 0 { removeValues.append(link.dn) }   // the placeholder goes
            if members > 0 && after == 0 { addValues.append(link.dn) }      // the group would be empty
        }
        var changes: [LDAPConnection.Change] = []
        if !addValues.isEmpty { changes.append(.add("member", addValues)) }
        if !removeValues.isEmpty { changes.append(.delete("member", removeValues)) }
        return MemberRequest(dn: link.dn, added: addChunk.map(\.0), removed: removeChunk.map(\.0), changes: changes)
    }

    /// Journals an acknowledged member request.
    private func membersChanged(_ group: String, _ request: MemberRequest) -> LdapMutation {
        ledger.summary.memberAdds += request.added.count
        ledger.summary.memberRemoves += request.removed.count
        return .members(target: target.name, group: group, added: request.added, removed: request.removed)
    }

    /// Membership deltas as modify add/delete of `member` values, at most `memberChunk` values a
    /// request. Members not yet in the directory wait for the next push.
    private func changeMembers(group: String, add: [ObjectID], remove: [ObjectID]) throws {
        guard let link = state.groups[group] else { return }
        var (adds, removes) = memberDeltas(link, add: add, remove: remove)
        while !adds.isEmpty || !removes.isEmpty {
            let request = memberRequest(group, link, adds: &adds, removes: &removes)
            do {
                try ldap.modify(dn: link.dn, request.changes)
            } catch {
                guard (dialect.memberAlreadyAdded + dialect.memberAlreadyRemoved).contains(error.code) else { throw error }
                // Partly done by a push that crashed before journaling it: value by value, taking "already so" as done.
                for single in request.singles {
                    let already = if case .delete = single { dialect.memberAlreadyRemoved } else { dialect.memberAlreadyAdded }
                    try tolerating(already) { () throws(LDAPError) in try ldap.modify(dn: link.dn, [single]) }
                }
            }
            try commit([membersChanged(group, request)])
        }
    }

    /// The first member request of every group that has a `changeMembers` in `operations` (most
    /// groups need only one), pipelined like the adds: up to `addWindow` in flight, journaled
    /// `addWindow` at a time (a member value sent twice is taken as done). Groups do not depend on
    /// one another. A refused request is left to `changeMembers`, which sends what is left of each
    /// group afterwards one request at a time (and records a refusal).
    ///
    /// Each group's changes are planned from `desired` and the state when its turn comes, and what
    /// is left of them after the first request put back in `operations` in place of the group's
    /// `changeMembers`: a first load's million member ids are never all held at once.
    private func changeMembersPipelined(_ operations: inout [LdapOperation], desired: LdapDesired) throws {
        var waiting: [String] = operations.reversed().compactMap { if case .changeMembers(let group, _, _) = $0 { group } else { nil } }
        operations.removeAll { if case .changeMembers = $0 { true } else { false } }
        // What each group has left after its first request (nothing: the later `execute` clears its failure), in plan order.
        var rest: [LdapOperation] = []
        defer { operations = rest.sorted { $0.objectId < $1.objectId } + operations }
        var inFlight: [Int32: (group: String, request: MemberRequest, all: LdapOperation, left: LdapOperation)] = [:]
        var acknowledged: [LdapMutation] = []
        while !waiting.isEmpty || !inFlight.isEmpty {
            while inFlight.count < Self.addWindow, !cancel.isCancelled, let group = waiting.popLast() {
                guard let link = state.groups[group] else {
                    rest.append(.changeMembers(group: group, add: [], remove: []))
                    continue
                }
                let (add, remove) = desired.memberChanges(of: group, from: link.members)
                var (adds, removes) = memberDeltas(link, add: add, remove: remove)
                guard !adds.isEmpty || !removes.isEmpty else {
                    rest.append(.changeMembers(group: group, add: [], remove: []))
                    continue
                }
                let request = memberRequest(group, link, adds: &adds, removes: &removes)
                let left = LdapOperation.changeMembers(group: group, add: adds.map { ObjectID($0.0) }, remove: removes.map { ObjectID($0.0) })
                inFlight[try ldap.sendModify(dn: link.dn, request.changes)] = (group, request, .changeMembers(group: group, add: add, remove: remove), left)
            }
            if inFlight.isEmpty {
                try stopIfCancelled()
                continue
            }
            var answers = [try ldap.nextAnswer()]
            while answers.count < Self.addWindow, let more = try ldap.arrivedAnswer() { answers.append(more) }
            var unusable: LDAPError?
            for (messageId, refusal) in answers {
                guard let sent = inFlight.removeValue(forKey: messageId) else { continue }
                if var refusal {
                    refusal.operation = "modify \(sent.request.dn)"
                    if refusal.isTargetFailure { unusable = unusable ?? refusal }
                    rest.append(sent.all)
                    continue
                }
                rest.append(sent.left)
                acknowledged.append(membersChanged(sent.group, sent.request))
            }
            if acknowledged.count >= Self.addWindow || inFlight.isEmpty || unusable != nil || cancel.isCancelled {
                try commit(acknowledged)
                acknowledged = []
            }
            if let unusable { throw unusable }
        }
    }

    private func delete(_ id: String, isGroup: Bool) throws {
        guard let link = isGroup ? state.groups[id] : state.users[id] else { return }
        try tolerating([LDAPError.noSuchObject]) { () throws(LDAPError) in try ldap.delete(dn: link.dn) }
        try commit([.entry(target: target.name, id: id, isGroup: isGroup, link: nil)])
        ledger.summary.deprovisioned += 1
    }

    /// DeprovisionMode=disable: entraAccountEnabled=FALSE; move: first into DisabledDN= (modrdn,
    /// journaled), then disabled, so a crash in between moves nothing twice and the next plan disables it.
    private func deprovision(_ id: String) throws {
        if target.deprovisionMode == .delete { return try delete(id, isGroup: false) }
        if target.deprovisionMode == .move, let disabledDN = target.disabledDN {
            if !disabledContainerChecked {
                try ensureContainer(disabledDN)
                disabledContainerChecked = true
            }
            try located(id, isGroup: false) { link in
                let (rdn, parent) = LdapDN.split(link.dn)
                guard LdapDN.normalized(parent) != LdapDN.normalized(disabledDN) else { return }
                try ldap.rename(dn: link.dn, newRDN: rdn, newSuperior: disabledDN)
                try commit([.entry(target: target.name, id: id, isGroup: false, link: LdapEntryLink(dn: "\(rdn),\(disabledDN)", attributes: link.attributes))])
            }
        }
        try located(id, isGroup: false) { link in
            var attributes = link.attributes
            let (name, value) = dialect.disabling(attributes)
            attributes[name.lowercased()] = [value]
            try ldap.modify(dn: link.dn, [.replace(name, [value])])
            try commit([.entry(target: target.name, id: id, isGroup: false, link: LdapEntryLink(dn: link.dn, attributes: attributes))])
            ledger.summary.deprovisioned += 1
        }
    }
}
