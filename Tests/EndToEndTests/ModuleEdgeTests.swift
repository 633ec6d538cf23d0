import Foundation
import Testing

/// The module graph ARCHITECTURE.md draws, checked against the sources' `import` lines: a new edge
/// (the engine importing the control layer, the Graph client importing the engine, a C library used
/// outside its wrapper) fails here until the table, and the document, say why it is right.
@Suite("module edges")
struct ModuleEdgeTests {
    /// Each module and the project modules it may import (C system libraries included).
    static let allowed: [String: Set<String>] = [
        "CCurlShim": ["CCurl"],
        // The one lock; it knows nothing else.
        "EntraLock": [],
        "EntraConfig": [],
        "EntraHTTP": ["EntraLock", "CCurl", "CCurlShim"],
        "EntraDirectory": [],
        "EntraGraph": ["EntraLock", "EntraHTTP", "EntraDirectory", "EntraConfig"],
        "EntraJournal": [],
        // libldap behind CLDAP; nothing of the mirror or the engine.
        "EntraLDAP": ["CLDAP"],
        "EntraMirror": ["EntraConfig", "EntraDirectory", "EntraGraph", "EntraJournal"],
        // Push targets (SCIM over EntraHTTP, LDAP over EntraLDAP) behind `PushTarget`: the committed mirror in, acknowledgements out.
        "EntraPush": ["EntraConfig", "EntraDirectory", "EntraHTTP", "EntraMirror", "EntraLDAP"],
        "EntraSync": ["EntraLock", "EntraConfig", "EntraHTTP", "EntraDirectory", "EntraGraph", "EntraJournal", "EntraMirror", "EntraEvents", "EntraPush", "CMalloc"],
        // Sockets, timers and signals on one epoll thread (no libdispatch manager thread).
        "EntraEvents": ["EntraLock", "CEpoll"],
        "EntraControl": ["EntraLock", "EntraEvents"],
        "EntraService": ["EntraLock", "EntraSync", "EntraPush", "EntraMirror", "EntraControl", "EntraConfig", "EntraDirectory"],
        "EntraSystemd": ["CSystemd"],
        // Linux identities: io.systemd.UserDatabase over the varlink server, answering from the pure core's LinuxDirectory.
        "EntraUserDB": ["EntraControl", "EntraMirror"],
        "entra-syncd": ["EntraSync", "EntraService", "EntraConfig", "EntraControl", "EntraEvents", "EntraSystemd", "EntraUserDB"],
        // `check` reads Graph, previews with the pure core and tests LDAP targets (EntraPush); the rest speaks the protocol only.
        "entra-syncctl": ["EntraControl", "EntraConfig", "EntraHTTP", "EntraGraph", "EntraMirror", "EntraPush"],
        // The simulator shares no code with the client on purpose.
        "entra-graph-sim": [],
    ]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func imports(of module: String) throws -> [String: Set<String>] {
        let directory = root.appendingPathComponent("Sources/" + module)
        var result: [String: Set<String>] = [:]
        let files = FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").filter { $0 != "@testable" && $0 != "@_exported" }
                guard words.first == "import", words.count >= 2 else { continue }
                result[String(words[1]), default: []].insert(file)
            }
        }
        return result
    }

    @Test("every module imports only the modules its row allows")
    func edges() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") }
        #expect(Set(modules).subtracting(["CCurl", "CSystemd", "CMalloc", "CEpoll", "CLDAP"]) == Set(Self.allowed.keys),
                "a module was added or removed: give it a row (and a place in ARCHITECTURE.md)")
        let project = Set(modules)
        for module in modules where Self.allowed[module] != nil {
            for (imported, files) in try Self.imports(of: module) where project.contains(imported) && imported != module {
                #expect(Self.allowed[module]!.contains(imported), "\(module) imports \(imported) in \(files.sorted())")
            }
        }
    }

    @Test("the check can fail: the engine importing the control layer is caught")
    func forbiddenEdgeIsCaught() {
        #expect(!Self.allowed["EntraSync"]!.contains("EntraControl"))
        #expect(!Self.allowed["EntraSync"]!.contains("EntraSystemd"))
        #expect(!Self.allowed["EntraGraph"]!.contains("EntraSync"))
        #expect(!Self.allowed["entra-syncctl"]!.contains("EntraSync"))
        for engineSide in ["EntraSync", "EntraControl", "EntraSystemd", "EntraEvents", "EntraService"] {
            #expect(!Self.allowed["EntraPush"]!.contains(engineSide), "push targets must not know \(engineSide)")
        }
        #expect(!Self.allowed["EntraSync"]!.contains("EntraLDAP"), "the engine reaches LDAP only through EntraPush")
    }
}
