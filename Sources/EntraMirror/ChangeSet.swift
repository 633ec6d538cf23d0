import EntraGraph
import Foundation

/// The change set of one run as JSON lines, for the OnChange program:
/// `{"op":"add|update|remove","kind":"user|group|membership",...}`.
public enum ChangeSet {
    public static func lines(before: MirrorState, mutations: [Mutation], runId: String) -> [UInt8] {
        var out: [UInt8] = []
        func line(_ op: StaticString, _ kind: StaticString, _ fields: (inout JSONText) -> Void) {
            var text = JSONText(capacity: 128)
            text.raw("{\"op\":\"")
            text.raw(op)
            text.raw("\",\"kind\":\"")
            text.raw(kind)
            text.raw("\",\"run\":")
            text.string(runId)
            fields(&text)
            text.raw("}\n")
            out += text.bytes
        }
        for mutation in mutations {
            switch mutation {
            case .upsertUser(let user):
                let fields: (inout JSONText) -> Void = { t in
                    t.raw(",\"id\":"); t.string(user.id)
                    t.raw(",\"object\":"); t.rawBytes(DirectoryJSON.user(user))
                }
                if before.users[user.id] == nil { line("add", "user", fields) } else { line("update", "user", fields) }
            case .softDeleteUser(let id) where before.users[id] != nil:
                line("remove", "user") { t in t.raw(",\"id\":"); t.string(id); t.raw(",\"reason\":\"softDeleted\"") }
            case .removeUser(let id) where before.users[id] != nil:
                line("remove", "user") { t in t.raw(",\"id\":"); t.string(id); t.raw(",\"reason\":\"deleted\"") }
            case .upsertGroup(let group):
                var single = MirrorState()
                single.groups[group.id] = group
                let fields: (inout JSONText) -> Void = { t in
                    t.raw(",\"id\":"); t.string(group.id)
                    t.raw(",\"object\":")
                    t.rawBytes(DirectoryJSON.group(ScopedView(state: single, scope: .init()), group))
                }
                if before.groups[group.id] == nil { line("add", "group", fields) } else { line("update", "group", fields) }
            case .removeGroup(let id) where before.groups[id] != nil:
                line("remove", "group") { t in t.raw(",\"id\":"); t.string(id) }
            case .addMember(let group, let member, let kind) where before.members[group]?[member] == nil:
                line("add", "membership") { t in
                    t.raw(",\"group\":"); t.string(group); t.raw(",\"member\":"); t.objectID(member)
                    t.raw(",\"memberType\":"); t.string(kind.name)
                }
            case .addMembers(let group, let members, let kinds):
                let known = before.members[group] ?? [:]
                for (member, kind) in zip(members, kinds) where known[member] == nil {
                    line("add", "membership") { t in
                        t.raw(",\"group\":"); t.string(group); t.raw(",\"member\":"); t.objectID(member)
                        t.raw(",\"memberType\":"); t.string(kind.name)
                    }
                }
            case .removeMember(let group, let member) where before.members[group]?[member] != nil:
                line("remove", "membership") { t in t.raw(",\"group\":"); t.string(group); t.raw(",\"member\":"); t.objectID(member) }
            default:
                break
            }
        }
        return out
    }
}
