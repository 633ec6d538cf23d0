/// Which Entra field each LDAP attribute of a user entry is written from: the default mapping with
/// the section's `Attribute.NAME=FIELD` overrides applied (`Attribute.NAME=` with nothing: not managed).
///
/// | LDAP attribute | default Entra field | may be unmanaged |
/// |---|---|---|
/// | `uid` | `userPrincipalName` | with `UserRDN=cn` only |
/// | `cn` | `displayName` (else the uid) | no (`person` requires it) |
/// | `sn` | `surname` (else displayName, else the uid) | no (`person` requires it) |
/// | `givenName`, `displayName`, `mail`, `title`, `employeeNumber` | `givenName`, `displayName`, `mail`, `jobTitle`, `employeeId` | yes |
/// | `departmentNumber`, `employeeType`, `ou`, `o`, `description`, `initials`, `businessCategory`, `l`, `st`, `physicalDeliveryOfficeName` | none (mapped only on request) | yes |
///
/// `entraObjectId`, `entraAccountEnabled`, `objectClass`, `member` and the POSIX attributes are
/// entra-sync's own and cannot be mapped. A required attribute whose field is empty for a user
/// falls back as its default does (`cn` and `uid` to the UPN, `sn` to displayName, then the uid).
/// An attribute that stops being managed keeps the value the directory holds; nothing removes it.
public struct LdapAttributeMap: Sendable, Equatable {
    /// The user properties the mirror holds (`DirectoryUser`), by their Graph names.
    public enum Field: String, Sendable, CaseIterable {
        case id, userPrincipalName, displayName, givenName, surname, mail, jobTitle, department, employeeId, mailNickname, onPremisesImmutableId
    }

    /// LDAP attribute (lowercased) → the Entra field it is written from.
    public private(set) var fields: [String: Field]

    public static let defaultFields: [String: Field] = [
        "uid": .userPrincipalName, "cn": .displayName, "sn": .surname, "givenname": .givenName, "displayname": .displayName,
        "mail": .mail, "title": .jobTitle, "employeenumber": .employeeId,
    ]

    /// The user attributes a mapping may name, as the schema spells them (inetOrgPerson and its
    /// superclasses' directory-string attributes).
    public static let mappable = ["uid", "cn", "sn", "givenName", "displayName", "mail", "title", "employeeNumber", "departmentNumber", "employeeType",
                                  "ou", "o", "description", "initials", "businessCategory", "l", "st", "physicalDeliveryOfficeName"]

    /// Attributes entra-sync writes itself, whatever the mapping says.
    public static let reserved = ["entraObjectId", "entraAccountEnabled", "objectClass", "member", "uidNumber", "gidNumber", "homeDirectory", "loginShell"]

    public init(fields: [String: Field] = Self.defaultFields) {
        self.fields = fields
    }

    /// The default mapping with `overrides` (LDAP attribute as written → Entra field name, or "" for
    /// not managed) applied; what is wrong goes to `problem` with the override's attribute as written.
    /// - Parameter rdn: the attribute that names the entry (`UserRDN=`), which must stay managed.
    public init(overrides: [(attribute: String, field: String)], rdn: String, problem: (String, String) -> Void) {
        fields = Self.defaultFields
        var seen: [String: String] = [:]
        for (attribute, value) in overrides {
            let key = attribute.lowercased()
            if let other = seen[key] {
                problem(attribute, "maps \(attribute) a second time (also Attribute.\(other)=); LDAP attribute names ignore case")
                continue
            }
            seen[key] = attribute
            if Self.reserved.contains(where: { $0.lowercased() == key }) {
                problem(attribute, "\(attribute) is written by entra-sync itself and cannot be mapped")
                continue
            }
            guard Self.mappable.contains(where: { $0.lowercased() == key }) else {
                problem(attribute, "unknown user attribute '\(attribute)'; map one of \(Self.mappable.joined(separator: ", "))")
                continue
            }
            if value.isEmpty {
                if key == "cn" || key == "sn" {
                    problem(attribute, "\(attribute) is required by the person class and cannot be left unmanaged; map it from another field instead (Attribute.\(attribute)=FIELD)")
                } else if key == rdn.lowercased() {
                    problem(attribute, "\(attribute) names the entries (UserRDN=\(rdn)) and cannot be left unmanaged")
                } else {
                    fields[key] = nil
                }
                continue
            }
            guard let field = Field.allCases.first(where: { $0.rawValue.lowercased() == value.lowercased() }) else {
                problem(attribute, "unknown Entra field '\(value)'; use one of \(Field.allCases.map(\.rawValue).joined(separator: ", ")), or nothing to stop managing \(attribute)")
                continue
            }
            fields[key] = field
        }
    }
}
