import EntraHTTP
import Foundation
import Testing
import TestSupport

/// A running `scim2-server` (PyPI, pinned by scripts/install-deps.sh): a real SCIM 2.0 application
/// that keeps its resources in memory and serves them under `http://127.0.0.1:PORT/v2`.
final class ScimServer {
    /// `$ENTRA_SCIM_SERVER`, else the venv scripts/install-deps.sh makes under `.build`.
    static let executable: String = {
        if let path = ProcessInfo.processInfo.environment["ENTRA_SCIM_SERVER"], !path.isEmpty { return path }
        var dir = Harness.productsDirectory
        while !dir.isEmpty && dir != "/" {
            if FileManager.default.fileExists(atPath: dir + "/Package.swift") { return dir + "/.build/scim-venv/bin/scim2-server" }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return "scim2-server"
    }()

    static var available: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    let token: String
    private(set) var port = 0
    private var process: Process?
    let logFile: String
    private let http: HTTPClient

    init(token: String = "scim-test-token-\(UInt32.random(in: 0...UInt32.max))") throws {
        self.token = token
        logFile = Harness.makeTempDirectory() + "/scim2-server.log"
        http = try HTTPClient(options: HTTPClientOptions())
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: (logFile as NSString).deletingLastPathComponent)
    }

    var endpoint: String { "http://127.0.0.1:\(port)/v2" }

    /// Starts the server on a free port (tries again if another process took the port first).
    private func start() throws {
        for _ in 0..<5 {
            port = try Self.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.executable)
            process.arguments = ["--hostname", "127.0.0.1", "--port", "\(port)", "--bearer-token", token]
            FileManager.default.createFile(atPath: logFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: logFile)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            self.process = process
            do {
                try Harness.waitUntil("scim2-server on port \(port)", timeout: 30) {
                    guard process.isRunning else { throw HarnessError("scim2-server exited") }
                    return (try? request("GET", "/ServiceProviderConfig").status) == 200
                }
                return
            } catch {
                stop()
            }
        }
        throw HarnessError("scim2-server did not start: \((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")")
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        guard let port = LoopbackPort.free() else { throw HarnessError("no free loopback port: errno \(errno)") }
        return port
    }

    struct Answer {
        var status: Int
        var json: [String: Any]
    }

    /// One request to the server, with the bearer token.
    @discardableResult
    func request(_ method: String, _ path: String, _ body: Any? = nil) throws -> Answer {
        let bytes = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
        let response = try http.perform(HTTPRequest(method: method, url: endpoint + path,
                                                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/scim+json")],
                                                    body: bytes, timeout: 60))
        let json = response.body.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return Answer(status: response.status, json: json)
    }

    /// Every resource of `/Users` or `/Groups`.
    func resources(_ kind: String) throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        for _ in 0..<1000 {
            let page = try request("GET", "/\(kind)?startIndex=\(all.count + 1)&count=1000")
            guard page.status == 200 else { throw HarnessError("GET /\(kind) answered \(page.status): \(page.json)") }
            let items = page.json["Resources"] as? [[String: Any]] ?? []
            all += items
            if items.isEmpty || all.count >= page.json["totalResults"] as? Int ?? 0 { break }
        }
        return all
    }

    /// How many resources of a kind the server holds.
    func count(_ kind: String) throws -> Int {
        let page = try request("GET", "/\(kind)?count=0")
        guard page.status == 200, let total = page.json["totalResults"] as? Int else { throw HarnessError("GET /\(kind)?count=0: \(page.status) \(page.json)") }
        return total
    }

    /// Creates a user as an application's admin would, outside entra-sync.
    @discardableResult
    func createUser(userName: String, externalId: String? = nil, displayName: String? = nil) throws -> String {
        var body: [String: Any] = ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": userName]
        if let externalId { body["externalId"] = externalId }
        if let displayName { body["displayName"] = displayName }
        let answer = try request("POST", "/Users", body)
        guard answer.status == 201, let id = answer.json["id"] as? String else { throw HarnessError("POST /Users: \(answer.status) \(answer.json)") }
        return id
    }

    @discardableResult
    func createGroup(displayName: String, members: [String] = []) throws -> String {
        let body: [String: Any] = ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": displayName,
                                   "members": members.map { ["value": $0] }]
        let answer = try request("POST", "/Groups", body)
        guard answer.status == 201, let id = answer.json["id"] as? String else { throw HarnessError("POST /Groups: \(answer.status) \(answer.json)") }
        return id
    }

    /// Checks the server against the daemon's exports object by object; returns the differences.
    ///
    /// Every exported user is a `User` with externalId = Entra id and the mapped attributes; every
    /// exported group a `Group` with the same members. Users the mirror no longer holds are
    /// deactivated (or, with `deprovisionDeletes`, gone); groups it no longer holds are gone.
    func differences(from exports: String, deprovisionDeletes: Bool = false) throws -> [String] {
        let users = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exports + "/users.json"))) as! [[String: Any]]
        let groups = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: exports + "/groups.json"))) as! [[String: Any]]
        var problems: [String] = []
        let scimUsers = try resources("Users")
        let scimGroups = try resources("Groups")
        var userByExternal: [String: [String: Any]] = [:]
        var entraIdOf: [String: String] = [:]
        for r in scimUsers {
            guard let external = r["externalId"] as? String else { problems.append("user \(r["userName"] ?? "?") has no externalId"); continue }
            if userByExternal[external] != nil { problems.append("two users with externalId \(external)") }
            userByExternal[external] = r
            entraIdOf[r["id"] as! String] = external
        }
        for r in scimGroups {
            if let external = r["externalId"] as? String { entraIdOf[r["id"] as! String] = external }
        }
        let mirrorIds = Set(users.map { $0["id"] as! String })
        for u in users {
            let id = u["id"] as! String
            guard let r = userByExternal[id] else { problems.append("user \(id) (\(u["userPrincipalName"] ?? "")) missing"); continue }
            let name = r["name"] as? [String: Any]
            let email = (r["emails"] as? [[String: Any]])?.first { $0["primary"] as? Bool == true }?["value"] as? String
            let checks: [(String, Any?, Any?)] = [
                ("userName", u["userPrincipalName"], r["userName"]), ("displayName", u["displayName"], r["displayName"]),
                ("givenName", u["givenName"], name?["givenName"]), ("familyName", u["surname"], name?["familyName"]),
                ("email", u["mail"], email), ("active", (u["accountEnabled"] as? Bool) ?? true, r["active"] as? Bool ?? true),
            ]
            for (what, want, have) in checks where "\(want.map { $0 is NSNull ? "nil" : "\($0)" } ?? "nil")" != "\(have.map { "\($0)" } ?? "nil")" {
                problems.append("user \(id) \(what): mirror \(want ?? "nil"), SCIM \(have ?? "nil")")
            }
        }
        for (external, r) in userByExternal where !mirrorIds.contains(external) {
            if deprovisionDeletes { problems.append("user \(external) should be deleted") }
            else if r["active"] as? Bool != false { problems.append("user \(external) should be deactivated") }
        }
        var groupByExternal: [String: [String: Any]] = [:]
        for r in scimGroups {
            guard let external = r["externalId"] as? String else { problems.append("group \(r["displayName"] ?? "?") has no externalId"); continue }
            if groupByExternal[external] != nil { problems.append("two groups with externalId \(external)") }
            groupByExternal[external] = r
        }
        for g in groups {
            let id = g["id"] as! String
            guard let r = groupByExternal.removeValue(forKey: id) else { problems.append("group \(id) missing"); continue }
            if r["displayName"] as? String != g["displayName"] as? String {
                problems.append("group \(id) displayName: mirror \(g["displayName"] ?? "nil"), SCIM \(r["displayName"] ?? "nil")")
            }
            let want = Set(g["members"] as? [String] ?? [])
            let have = Set((r["members"] as? [[String: Any]] ?? []).map { entraIdOf[$0["value"] as! String] ?? "scim:\($0["value"]!)" })
            if want != have {
                problems.append("group \(id) members: missing \(want.subtracting(have).sorted().prefix(5)), extra \(have.subtracting(want).sorted().prefix(5))")
            }
        }
        for external in groupByExternal.keys { problems.append("group \(external) should be deleted") }
        return problems
    }
}

/// A TCP relay in front of a server: stopping it makes the server unreachable (connection
/// refused) without losing what the server holds; starting it again on the same port brings it back.
/// `throttle(n)` makes it answer the next `n` connections itself with 429 and `Retry-After: 3` (longer than the client's own first backoff).
final class Relay {
    let port: Int
    let upstream: Int
    private var process: Process?
    private let throttleFile = Harness.makeTempDirectory() + "/throttle"

    static let script = """
        import os, socket, sys, threading
        port, upstream, throttle = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        def throttled():
            try:
                n = int(open(throttle).read() or 0)
            except (OSError, ValueError):
                return False
            if n <= 0: return False
            open(throttle, "w").write(str(n - 1))
            return True
        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data: break
                    b.sendall(data)
            except OSError: pass
            finally:
                for s in (a, b):
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(64)
        print("ready", flush=True)
        while True:
            client, _ = server.accept()
            if throttled():
                client.recv(65536)
                client.sendall(b"HTTP/1.1 429 Too Many Requests\\r\\nRetry-After: 3\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
                client.close(); continue
            try:
                up = socket.create_connection(("127.0.0.1", upstream))
            except OSError:
                client.close(); continue
            threading.Thread(target=pipe, args=(client, up), daemon=True).start()
            threading.Thread(target=pipe, args=(up, client), daemon=True).start()
        """

    init(upstream: Int) throws {
        self.upstream = upstream
        port = try ScimServer.freePort()
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: (throttleFile as NSString).deletingLastPathComponent)
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, "\(port)", "\(upstream)", throttleFile]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        self.process = process
        let line = out.fileHandleForReading.availableData
        guard String(decoding: line, as: UTF8.self).contains("ready") else { throw HarnessError("relay did not start") }
    }

    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    func throttle(_ connections: Int) throws {
        try "\(connections)".write(toFile: throttleFile, atomically: true, encoding: .utf8)
    }
}

extension DaemonHarness {
    /// `entra-syncctl scim PROFILE [args] --json`, decoded: the targets' status.
    /// `entra-syncctl scim` (or `command`: `ldap`) with `--json`: the targets.
    func scimStatus(_ profile: String, _ arguments: [String] = [], command: String = "scim") throws -> [[String: Any]] {
        let output = try ctl([command, profile] + arguments + ["--json"])
        guard let json = try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
              let targets = json["targets"] as? [[String: Any]] else {
            throw HarnessError("\(command) \(profile) \(arguments) failed (\(output.status)): \(output.stdout)\(output.stderr)")
        }
        return targets
    }

    /// Waits until the target's state is one of `wanted`, after more than `after` pushes (the `pushes`
    /// of an earlier status), so a state left from an earlier push does not count.
    func waitForScim(_ profile: String, state wanted: Set<String> = ["in-sync"], after: [String: Any]? = nil,
                     timeout: Double = 120, command: String = "scim", until: ([String: Any]) -> Bool = { _ in true }) throws -> [String: Any] {
        var last: [String: Any] = [:]
        let before = after?["pushes"] as? Int ?? 0
        do {
            // Each status computes the plan from the whole mirror: poll gently.
            try Harness.waitUntil("\(command) target of \(profile) to reach \(wanted.sorted())", timeout: timeout, every: 0.25) {
                last = try scimStatus(profile, command: command).first ?? [:]
                return (last["pushes"] as? Int ?? 0) > before && wanted.contains(last["state"] as? String ?? "") && until(last)
            }
        } catch {
            throw HarnessError("\(error); last status \(last)\nlog:\n\(log.suffix(3000))")
        }
        return last
    }

    /// The `[SCIM]` section for a server.
    func writeScimToken(_ server: ScimServer, file: String = "scim.token") throws -> String {
        let path = configDirectory + "/" + file
        try server.token.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }
}
