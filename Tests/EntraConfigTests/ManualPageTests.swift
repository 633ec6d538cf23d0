import Foundation
import Testing
@testable import EntraConfig

/// entra-sync.conf(5) is written by hand; these tests keep it in step with the keys the loader accepts.
@Suite("entra-sync.conf(5)")
struct ManualPageTests {
    /// `packaging/man/entra-sync.conf.5`, found from this file's place in the checkout.
    static let page: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("packaging/man/entra-sync.conf.5"), encoding: .utf8)) ?? ""
    }()

    /// The keys the page documents, by its section headings (`.Sh [SYNC] SECTION`).
    static let documented: [String: Set<String>] = {
        var result: [String: Set<String>] = [:]
        var section = ""
        for line in page.split(separator: "\n") {
            if line.hasPrefix(".Sh [") {
                section = String(line.dropFirst(5).prefix { $0 != "]" })
            } else if line.hasPrefix(".It Cm ") {
                for item in line.dropFirst(4).components(separatedBy: " , ") where item.hasPrefix("Cm ") && item.hasSuffix("=") {
                    result[section, default: []].insert(String(item.dropFirst(3).dropLast()))
                }
            }
        }
        return result
    }()

    @Test func everyAcceptedKeyIsDocumentedInItsSection() {
        #expect(!Self.page.isEmpty, "packaging/man/entra-sync.conf.5 not found")
        var sections = ProfileLoader.known
        sections["SCIM"] = ProfileLoader.scimKeys
        sections["LDAP"] = ProfileLoader.ldapKeys
        for (section, keys) in sections {
            let documented = Self.documented[section.uppercased()] ?? []
            for key in keys {
                #expect(documented.contains(key), "entra-sync.conf(5) does not document \(key)= in [\(section)]")
            }
        }
    }

    @Test func everyDocumentedKeyIsAccepted() {
        var sections = ProfileLoader.known
        sections["SCIM"] = ProfileLoader.scimKeys
        sections["LDAP"] = ProfileLoader.ldapKeys
        #expect(Set(Self.documented.keys) == Set(sections.keys.map { $0.uppercased() }))
        for (section, keys) in Self.documented {
            let accepted = Set(sections.first { $0.key.uppercased() == section }?.value ?? [])
            #expect(keys.subtracting(accepted).isEmpty, "entra-sync.conf(5) documents unknown keys \(keys.subtracting(accepted)) in [\(section)]")
        }
    }
}
