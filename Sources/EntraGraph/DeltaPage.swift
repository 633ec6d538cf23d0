import EntraDirectory
import Foundation

/// One page of a Graph delta collection: its entries and exactly one of the two links.
struct DeltaPage<Entry: Decodable & Sendable>: Decodable, Sendable {
    var value: [Entry]
    var nextLink: String?
    var deltaLink: String?

    private enum CodingKeys: String, CodingKey {
        case value
        case nextLink = "@odata.nextLink"
        case deltaLink = "@odata.deltaLink"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        value = try container.decodeIfPresent([Entry].self, forKey: .value) ?? []
        nextLink = try container.decodeIfPresent(String.self, forKey: .nextLink)
        deltaLink = try container.decodeIfPresent(String.self, forKey: .deltaLink)
    }
}

/// The `@removed` annotation.
private struct RemovedAnnotation: Decodable {
    var reason: String?

    var removalReason: RemovalReason {
        reason == "changed" ? .changed : .deleted
    }
}

private struct AssignedLicense: Decodable {
    var skuId: String?
}

/// Decodes a user entry: unknown properties are ignored, missing and `null` ones become `nil`.
struct UserEntry: Decodable, Sendable {
    var delta: UserDelta

    private enum CodingKeys: String, CodingKey {
        case id, userPrincipalName, displayName, givenName, surname, mail, accountEnabled, jobTitle
        case department, employeeId, mailNickname, onPremisesImmutableId, assignedLicenses
        case removed = "@removed"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let id = try c.decode(String.self, forKey: .id)
        if let removed = try c.decodeIfPresent(RemovedAnnotation.self, forKey: .removed) {
            delta = .removed(id: id, reason: removed.removalReason)
            return
        }
        let licenses = try c.decodeIfPresent([AssignedLicense].self, forKey: .assignedLicenses)
        delta = .upsert(DirectoryUser(
            id: id,
            userPrincipalName: try c.decodeIfPresent(String.self, forKey: .userPrincipalName),
            displayName: try c.decodeIfPresent(String.self, forKey: .displayName),
            givenName: try c.decodeIfPresent(String.self, forKey: .givenName),
            surname: try c.decodeIfPresent(String.self, forKey: .surname),
            mail: try c.decodeIfPresent(String.self, forKey: .mail),
            accountEnabled: try c.decodeIfPresent(Bool.self, forKey: .accountEnabled),
            jobTitle: try c.decodeIfPresent(String.self, forKey: .jobTitle),
            department: try c.decodeIfPresent(String.self, forKey: .department),
            employeeId: try c.decodeIfPresent(String.self, forKey: .employeeId),
            mailNickname: try c.decodeIfPresent(String.self, forKey: .mailNickname),
            onPremisesImmutableId: try c.decodeIfPresent(String.self, forKey: .onPremisesImmutableId),
            assignedLicenses: licenses.map { $0.compactMap(\.skuId).sorted() }))
    }
}

private struct MemberEntry: Decodable {
    var id: String
    var type: String?
    var removed: RemovedAnnotation?

    private enum CodingKeys: String, CodingKey {
        case id
        case type = "@odata.type"
        case removed = "@removed"
    }
}

/// Decodes a group entry with its slice of `members@delta`.
struct GroupEntry: Decodable, Sendable {
    var delta: GroupDelta

    private enum CodingKeys: String, CodingKey {
        case id, displayName, description, mail, mailEnabled, mailNickname, securityEnabled, groupTypes
        case members = "members@delta"
        case removed = "@removed"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let id = try c.decode(String.self, forKey: .id)
        if let removed = try c.decodeIfPresent(RemovedAnnotation.self, forKey: .removed) {
            delta = .removed(id: id, reason: removed.removalReason)
            return
        }
        let members = try c.decodeIfPresent([MemberEntry].self, forKey: .members) ?? []
        delta = .upsert(
            DirectoryGroup(
                id: id,
                displayName: try c.decodeIfPresent(String.self, forKey: .displayName),
                description: try c.decodeIfPresent(String.self, forKey: .description),
                mail: try c.decodeIfPresent(String.self, forKey: .mail),
                mailEnabled: try c.decodeIfPresent(Bool.self, forKey: .mailEnabled),
                mailNickname: try c.decodeIfPresent(String.self, forKey: .mailNickname),
                securityEnabled: try c.decodeIfPresent(Bool.self, forKey: .securityEnabled),
                groupTypes: try c.decodeIfPresent([String].self, forKey: .groupTypes)),
            members: members.map { MemberDelta(id: ObjectID($0.id), kind: MemberKind(odataType: $0.type), removed: $0.removed != nil) })
    }
}

/// Graph's error body: `{"error":{"code":..,"message":..}}`.
struct GraphErrorBody: Decodable {
    struct Inner: Decodable {
        var code: String?
        var message: String?
    }
    var error: Inner?
}

/// The token endpoint's error body.
struct TokenErrorBody: Decodable {
    var error: String?
    var error_description: String?
    var error_codes: [Int]?
}

struct TokenResponse: Decodable {
    var access_token: String
    var expires_in: Double?
    var token_type: String?
}

extension DecodingError {
    /// "value[3].accountEnabled: expected Bool" — where in the body and what was wrong.
    var locationDescription: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text.isEmpty ? "(top level)" : text
        }
        switch self {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): missing \(type)"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): required property missing"
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { ": \($0.localizedDescription)" } ?? ""
            return "\(path(context.codingPath)): \(context.debugDescription)\(underlying)"
        @unknown default:
            return "\(self)"
        }
    }
}
