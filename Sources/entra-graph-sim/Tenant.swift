import Foundation

/// A deterministic random number generator (SplitMix64), so a seed always makes the same tenant.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func guid() -> String {
        let a = next(), b = next()
        let hex = String(format: "%016llx%016llx", a, b)
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }
}

enum UserStatus { case live, soft, hard }

/// The simulated directory with a change log for delta rounds.
final class Tenant {
    var users: [String: [String: Any]] = [:]
    var userStatus: [String: UserStatus] = [:]
    var groups: [String: [String: Any]] = [:]
    var deletedGroups: Set<String> = []
    /// group id → member id → "user" | "group"
    var members: [String: [String: String]] = [:]
    var sequence = 0
    var userChanged: [String: Int] = [:]
    var groupChanged: [String: Int] = [:]
    var memberChanged: [String: [String: Int]] = [:]
    let domain: String
    var rng: SplitMix64

    static let givenNames = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Edsger", "Frances", "Donald", "Hedy", "John", "Katherine", "Tim", "Sophie", "Jürgen", "Zoë", "Ωmega"]
    static let surnames = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Perlman", "Dijkstra", "Allen", "Knuth", "Lamarr", "Backus", "Johnson", "Berners-Lee", "Wilson", "Schmidt", "O'Brien", "Müller"]
    static let departments = ["Engineering", "Sales", "Finance", "Support", "Legal", "Marketing", "Operations"]
    static let skus = ["c7df2760-2c81-4ef7-b578-5b5392b571df", "6fd2c87f-b296-42f0-b197-1e91e994b900", "05e9a617-0261-4cee-bb44-138d3ef5d965"]

    init(domain: String, seed: UInt64) {
        self.domain = domain
        rng = SplitMix64(seed: seed)
    }

    func tick() -> Int {
        sequence += 1
        return sequence
    }

    // MARK: Generation

    func generate(users userCount: Int, groups groupCount: Int, memberships: Int, nested: Int) {
        var userIds: [String] = []
        for i in 0..<userCount { userIds.append(createUser(randomUser(i))) }
        var groupIds: [String] = []
        for i in 0..<groupCount {
            let unified = i % 4 == 0
            var bag: [String: Any] = ["displayName": "Group \(i) \(Self.departments[i % Self.departments.count])",
                                      "securityEnabled": !unified, "mailEnabled": unified,
                                      "groupTypes": unified ? ["Unified"] : [String](),
                                      "mailNickname": "group\(i)", "createdDateTime": "2024-01-01T00:00:00Z"]
            if unified { bag["mail"] = "group\(i)@\(domain)" }
            if i % 3 == 0 { bag["description"] = "Members of group \(i)" }
            groupIds.append(createGroup(bag))
        }
        guard !groupIds.isEmpty, !userIds.isEmpty else { return }
        var added = 0
        var attempts = 0
        let target = min(memberships, userIds.count * groupIds.count)
        while added < target && attempts < target * 20 {
            attempts += 1
            let r = Double(rng.next() % 1_000_000) / 1_000_000
            let g = groupIds[min(groupIds.count - 1, Int(r * r * Double(groupIds.count)))]
            let u = userIds[Int(rng.next() % UInt64(userIds.count))]
            if members[g]?[u] == nil {
                addMember(group: g, member: u)
                added += 1
            }
        }
        if groupIds.count > 1 {
            for _ in 0..<nested {
                let a = Int(rng.next() % UInt64(groupIds.count - 1))
                let b = a + 1 + Int(rng.next() % UInt64(groupIds.count - a - 1))
                addMember(group: groupIds[a], member: groupIds[b])
            }
        }
    }

    func randomUser(_ n: Int) -> [String: Any] {
        let given = Self.givenNames[Int(rng.next() % UInt64(Self.givenNames.count))]
        let surname = Self.surnames[Int(rng.next() % UInt64(Self.surnames.count))]
        let login = "\(given).\(surname)\(n)".lowercased().folding(options: .diacriticInsensitive, locale: nil)
            .filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == ".") }
        var bag: [String: Any] = [
            "userPrincipalName": "\(login)@\(domain)", "displayName": "\(given) \(surname)", "givenName": given,
            "surname": surname, "accountEnabled": rng.next() % 10 != 0, "mailNickname": login,
            "department": Self.departments[Int(rng.next() % UInt64(Self.departments.count))],
            "employeeId": String(format: "E%06d", n), "createdDateTime": "2024-01-01T00:00:00Z", "businessPhones": [String](),
        ]
        if rng.next() % 8 != 0 { bag["mail"] = "\(login)@\(domain)" }
        if rng.next() % 3 != 0 { bag["jobTitle"] = ["Engineer", "Manager", "Analyst", "Director"][Int(rng.next() % 4)] }
        bag["assignedLicenses"] = rng.next() % 5 == 0 ? [[String: Any]]() : [["disabledPlans": [String](), "skuId": Self.skus[Int(rng.next() % 3)]]]
        return bag
    }

    // MARK: Mutations (each bumps the sequence)

    @discardableResult
    func createUser(_ bag: [String: Any]) -> String {
        var bag = bag
        let id = (bag["id"] as? String)?.lowercased() ?? rng.guid()
        bag["id"] = id
        users[id] = bag
        userStatus[id] = .live
        userChanged[id] = tick()
        return id
    }

    func patchUser(_ id: String, _ changes: [String: Any]) {
        for (k, v) in changes where k != "id" { users[id]![k] = v }
        userChanged[id] = tick()
    }

    func softDeleteUser(_ id: String) {
        userStatus[id] = .soft
        userChanged[id] = tick()
    }

    func restoreUser(_ id: String) {
        userStatus[id] = .live
        userChanged[id] = tick()
    }

    /// Permanent delete: removes memberships and records member-removal events.
    func hardDeleteUser(_ id: String) {
        userStatus[id] = .hard
        removeFromAllGroups(id)
        userChanged[id] = tick()
    }

    @discardableResult
    func createGroup(_ bag: [String: Any]) -> String {
        var bag = bag
        let id = (bag["id"] as? String)?.lowercased() ?? rng.guid()
        bag["id"] = id
        groups[id] = bag
        groupChanged[id] = tick()
        return id
    }

    func patchGroup(_ id: String, _ changes: [String: Any]) {
        for (k, v) in changes where k != "id" && k != "members" { groups[id]![k] = v }
        groupChanged[id] = tick()
    }

    func deleteGroup(_ id: String) {
        deletedGroups.insert(id)
        members[id] = nil
        removeFromAllGroups(id)
        groupChanged[id] = tick()
    }

    func addMember(group: String, member: String) {
        members[group, default: [:]][member] = groups[member] != nil ? "group" : "user"
        memberChanged[group, default: [:]][member] = tick()
    }

    func removeMember(group: String, member: String) {
        members[group]?[member] = nil
        memberChanged[group, default: [:]][member] = tick()
    }

    private func removeFromAllGroups(_ id: String) {
        for g in members.keys where members[g]?[id] != nil { removeMember(group: g, member: id) }
    }

    func isLiveGroup(_ id: String) -> Bool { groups[id] != nil && !deletedGroups.contains(id) }

    // MARK: Delta rounds

    static let defaultUserProperties = ["businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                                        "officeLocation", "preferredLanguage", "surname", "userPrincipalName"]

    private func project(_ bag: [String: Any], _ select: [String]?, defaults: [String]?) -> [String: Any] {
        var out: [String: Any] = [:]
        let keys = select ?? defaults
        for (k, v) in bag where keys == nil || keys!.contains(k) || k == "id" { out[k] = v }
        return out
    }

    /// Entries of a users round with changes after `since` (nil = initial round).
    func userEntries(since: Int?, select: [String]?) -> [[String: Any]] {
        var out: [[String: Any]] = []
        for id in users.keys.sorted() {
            let status = userStatus[id]!
            if let since {
                guard userChanged[id]! > since else { continue }
            } else if status == .hard {
                continue
            }
            switch status {
            case .live: out.append(project(users[id]!, select, defaults: Self.defaultUserProperties))
            case .soft: out.append(["id": id, "@removed": ["reason": "changed"]])
            case .hard: out.append(["id": id, "@removed": ["reason": "deleted"]])
            }
        }
        return out
    }

    /// Entries of a groups round; a group with many members is split into slices.
    func groupEntries(since: Int?, select: [String]?, slice: Int) -> [[String: Any]] {
        var out: [[String: Any]] = []
        let withMembers = select == nil || select!.contains("members")
        for id in groups.keys.sorted() {
            if deletedGroups.contains(id) {
                if let since, groupChanged[id]! > since { out.append(["id": id, "@removed": ["reason": "deleted"]]) }
                continue
            }
            var memberEntries: [[String: Any]] = []
            if withMembers {
                let current = members[id] ?? [:]
                if let since {
                    for (member, seq) in (memberChanged[id] ?? [:]).sorted(by: { $0.key < $1.key }) where seq > since {
                        let type = current[member] ?? (groups[member] != nil ? "group" : "user")
                        var entry: [String: Any] = ["@odata.type": "#microsoft.graph.\(type)", "id": member]
                        if current[member] == nil { entry["@removed"] = ["reason": "deleted"] }
                        memberEntries.append(entry)
                    }
                } else {
                    for (member, type) in current.sorted(by: { $0.key < $1.key }) {
                        memberEntries.append(["@odata.type": "#microsoft.graph.\(type)", "id": member])
                    }
                }
            }
            if let since, groupChanged[id]! <= since, memberEntries.isEmpty { continue }
            let props = project(groups[id]!, select?.filter { $0 != "members" }, defaults: nil)
            if memberEntries.isEmpty {
                out.append(props)
            } else {
                var start = 0
                while start < memberEntries.count {
                    var entry = props
                    entry["members@delta"] = Array(memberEntries[start..<min(start + slice, memberEntries.count)])
                    out.append(entry)
                    start += slice
                }
            }
        }
        return out
    }

    /// The live tenant, for tests to compare with.
    func stateJSON() -> [String: Any] {
        func clean(_ bag: [String: Any]) -> [String: Any] { bag.filter { !($0.value is NSNull) } }
        let liveUsers = users.keys.sorted().filter { userStatus[$0] == .live }.map { clean(users[$0]!) }
        let soft = users.keys.sorted().filter { userStatus[$0] == .soft }
        let liveGroups = groups.keys.sorted().filter { !deletedGroups.contains($0) }.map { id -> [String: Any] in
            var bag = clean(groups[id]!)
            bag["members"] = (members[id] ?? [:]).keys.sorted()
            return bag
        }
        return ["users": liveUsers, "softDeletedUsers": soft, "groups": liveGroups]
    }

    /// Deterministic random changes of every kind.
    func churn(seed: UInt64, changes: Int) -> [String: Int] {
        var r = SplitMix64(seed: seed)
        var counts: [String: Int] = [:]
        func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[Int(r.next() % UInt64(items.count))] }
        // Sorted id lists kept up to date across the changes (sorting the whole tenant for each
        // change made churn quadratic at benchmark sizes); the picks are the same as re-sorting.
        var live = users.keys.sorted().filter { userStatus[$0] == .live }
        var soft = users.keys.sorted().filter { userStatus[$0] == .soft }
        let liveGroups = groups.keys.sorted().filter { !deletedGroups.contains($0) }
        func position(_ id: String, in list: [String]) -> Int {
            var low = 0, high = list.count
            while low < high {
                let mid = (low + high) / 2
                if list[mid] < id { low = mid + 1 } else { high = mid }
            }
            return low
        }
        func insert(_ id: String, into list: inout [String]) { list.insert(id, at: position(id, in: list)) }
        func remove(_ id: String, from list: inout [String]) {
            let at = position(id, in: list)
            if at < list.count && list[at] == id { list.remove(at: at) }
        }
        for i in 0..<changes {
            switch r.next() % 9 {
            case 0:
                let id = createUser(randomUser(100_000 + Int(seed % 1000) * 1000 + i)); counts["created", default: 0] += 1
                insert(id, into: &live)
            case 1:
                if let u = pick(live) { patchUser(u, ["displayName": "Renamed \(i)", "jobTitle": NSNull()]); counts["updated", default: 0] += 1 }
            case 2:
                if let u = pick(live) {
                    softDeleteUser(u); counts["softDeleted", default: 0] += 1
                    remove(u, from: &live)
                    insert(u, into: &soft)
                }
            case 3:
                if let u = pick(soft) {
                    restoreUser(u); counts["restored", default: 0] += 1
                    remove(u, from: &soft)
                    insert(u, into: &live)
                }
            case 4:
                let total = live.count + soft.count
                if total > 0 {
                    let at = Int(r.next() % UInt64(total))
                    let u = at < live.count ? live[at] : soft[at - live.count]
                    if r.next() % 2 == 0 {
                        hardDeleteUser(u); counts["hardDeleted", default: 0] += 1
                        remove(u, from: &live)
                        remove(u, from: &soft)
                    }
                }
            case 5, 6:
                if let g = pick(liveGroups), let u = pick(live), members[g]?[u] == nil { addMember(group: g, member: u); counts["memberAdded", default: 0] += 1 }
            case 7:
                if let g = pick(liveGroups), let m = pick((members[g] ?? [:]).keys.sorted()) { removeMember(group: g, member: m); counts["memberRemoved", default: 0] += 1 }
            default:
                if let g = pick(liveGroups) { patchGroup(g, ["description": "Changed \(i)"]); counts["groupUpdated", default: 0] += 1 }
            }
        }
        return counts
    }
}
