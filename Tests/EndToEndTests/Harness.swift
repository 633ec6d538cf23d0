import EntraHTTP
import Foundation
import Testing
import TestSupport

/// Helpers that run the real binaries: the Graph simulator, entra-syncd and entra-syncctl.
enum Harness {
    /// Where `swift build` put the executables: next to the test bundle.
    static let productsDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" {
            if FileManager.default.isExecutableFile(atPath: dir + "/entra-syncd") { return dir }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return (exe as NSString).deletingLastPathComponent
    }()

    static func binary(_ name: String) -> String { productsDirectory + "/" + name }

    /// Whether uid 65534 can run a built program here: it takes root and setpriv, and a checkout
    /// that `nobody` can read (it may live in a private directory).
    static func nobodyCanRun(_ name: String) -> Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return false }
        let probe = try? run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary(name), "--help"])
        return probe?.status == 0
    }

    /// A short temp directory (Unix socket paths are limited to 107 bytes).
    static func makeTempDirectory() -> String {
        let template = "/tmp/es-XXXXXX"
        var bytes = Array(template.utf8CString)
        let path = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: path!)
    }

    /// Polls until `condition` holds or the deadline passes.
    static func waitUntil(_ what: String, timeout: Double = 30, every interval: Double = 0.05, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: interval)
        }
        throw HarnessError("timed out after \(timeout)s waiting for \(what)")
    }

    /// A process's memory figure from /proc/PID/status in bytes: "VmRSS" now, "VmHWM" at its peak.
    static func memory(_ pid: Int32, _ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion (bounded by `timeout`).
    static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = Box(), errData = Box()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData.data = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData.data = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw HarnessError("\(path) \(arguments) did not finish within \(timeout)s")
        }
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData.data, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
    }

    final class Box: @unchecked Sendable {  // written by one reader thread, read after group.wait
        var data = Data()
    }
}


struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A running `entra-graph-sim`.
final class Simulator {
    let process = Process()
    let port: Int
    let directory: String
    let http: HTTPClient
    let tenantId: String
    let clientSecret: String

    init(users: Int = 30, groups: Int = 6, memberships: Int = 80, seed: Int = 1, pageSize: Int = 10, memberSlice: Int = 7,
         tenantId: String = "00000000-0000-4000-8000-000000000001", clientSecret: String = "sim-secret", extra: [String] = []) throws {
        directory = Harness.makeTempDirectory()
        self.tenantId = tenantId
        self.clientSecret = clientSecret
        let portFile = directory + "/port"
        process.executableURL = URL(fileURLWithPath: Harness.binary("entra-graph-sim"))
        process.arguments = ["--port", "0", "--port-file", portFile, "--users", "\(users)", "--groups", "\(groups)",
                             "--memberships", "\(memberships)", "--seed", "\(seed)", "--page-size", "\(pageSize)",
                             "--member-slice", "\(memberSlice)", "--tenant-id", tenantId, "--client-secret", clientSecret] + extra
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = directory + "/sim.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        try Harness.waitUntil("the simulator's port file") {
            (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } != nil
        }
        port = Int(try String(contentsOfFile: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        http = try HTTPClient(options: HTTPClientOptions())
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Calls the admin API; returns the decoded JSON object (or nil for an empty body).
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: Any? = nil, expect: ClosedRange<Int> = 200...299) throws -> Any? {
        let bytes = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
        let response = try http.perform(HTTPRequest(method: method, url: baseURL + path,
                                                    headers: [(name: "Content-Type", value: "application/json")],
                                                    body: bytes, timeout: 30))
        guard expect.contains(response.status) else {
            throw HarnessError("simulator \(method) \(path) answered \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
        if response.body.isEmpty { return nil }
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }

    /// The tenant as the simulator holds it, in the shape the exports should have.
    func expectedMirror() throws -> Mirror {
        let state = try admin("GET", "/_sim/state") as! [String: Any]
        let softDeleted = Set(state["softDeletedUsers"] as? [String] ?? [])
        var mirror = Mirror()
        for user in state["users"] as! [[String: Any]] {
            mirror.users[user["id"] as! String] = Mirror.User(json: user)
        }
        for group in state["groups"] as! [[String: Any]] {
            let members = (group["members"] as? [String] ?? []).filter { !softDeleted.contains($0) }.sorted()
            mirror.groups[group["id"] as! String] = Mirror.Group(displayName: group["displayName"] as? String, members: members)
        }
        return mirror
    }

    func requests() throws -> [[String: Any]] {
        (try admin("GET", "/_sim/requests") as! [String: Any])["requests"] as! [[String: Any]]
    }

    func addFault(_ fault: [String: Any]) throws {
        try admin("POST", "/_sim/faults", fault)
    }
}

/// Users and groups as a user of the exports sees them.
struct Mirror: Equatable, CustomStringConvertible {
    struct User: Equatable {
        var userPrincipalName: String?
        var displayName: String?
        var mail: String?
        var accountEnabled: Bool?
        var givenName: String?
        var surname: String?
        var jobTitle: String?
        var department: String?

        init(json: [String: Any]) {
            userPrincipalName = json["userPrincipalName"] as? String
            displayName = json["displayName"] as? String
            mail = json["mail"] as? String
            accountEnabled = json["accountEnabled"] as? Bool
            givenName = json["givenName"] as? String
            surname = json["surname"] as? String
            jobTitle = json["jobTitle"] as? String
            department = json["department"] as? String
        }
    }

    struct Group: Equatable {
        var displayName: String?
        var members: [String]
    }

    var users: [String: User] = [:]
    var groups: [String: Group] = [:]

    var membershipCount: Int { groups.values.reduce(0) { $0 + $1.members.count } }

    var description: String { "\(users.count) users, \(groups.count) groups, \(membershipCount) memberships" }

    /// Reads `export/users.json` and `export/groups.json` of a profile.
    static func fromExports(_ directory: String) throws -> Mirror {
        var mirror = Mirror()
        let users = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/users.json"))) as! [[String: Any]]
        for user in users { mirror.users[user["id"] as! String] = User(json: user) }
        let groups = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/groups.json"))) as! [[String: Any]]
        for group in groups {
            mirror.groups[group["id"] as! String] = Group(displayName: group["displayName"] as? String,
                                                          members: group["members"] as? [String] ?? [])
        }
        return mirror
    }

    /// A readable difference, for test failures.
    func difference(from other: Mirror) -> String {
        var lines: [String] = []
        for id in Set(users.keys).union(other.users.keys).sorted() where users[id] != other.users[id] {
            lines.append("user \(id): \(String(describing: users[id])) vs \(String(describing: other.users[id]))")
        }
        for id in Set(groups.keys).union(other.groups.keys).sorted() where groups[id] != other.groups[id] {
            lines.append("group \(id): \(String(describing: groups[id])) vs \(String(describing: other.groups[id]))")
        }
        return lines.prefix(10).joined(separator: "\n")
    }
}

/// A daemon with its own config, state and socket in a temp directory.
final class DaemonHarness {
    let directory: String
    var configDirectory: String { directory + "/etc" }
    var stateDirectory: String { directory + "/state" }
    var socket: String { directory + "/ctl.sock" }
    var logFile: String { directory + "/daemon.log" }
    private(set) var process: Process?
    var extraArguments: [String] = []
    /// Extra environment for the next start (e.g. `ENTRA_SYNC_CRASH_AT`).
    var environment: [String: String] = [:]
    /// A program that execs the daemon given as its arguments (e.g. `unshare` to mount a small state dir).
    var launcher: [String] = []

    init() {
        directory = Harness.makeTempDirectory()
        try? FileManager.default.createDirectory(atPath: directory + "/etc", withIntermediateDirectories: true)
    }

    deinit {
        if let process, process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Writes `NAME.conf` pointing at a simulator.
    /// - Parameter parallel: `Parallel=`; tests read the delta chain unless they test the parallel full sync.
    func writeProfile(_ name: String, simulator: Simulator, interval: String = "1h", parallel: String = "off", extra: String = "") throws {
        let secretFile = configDirectory + "/\(name).secret"
        try simulator.clientSecret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile, 0o600)
        let text = """
            # test profile
            [Tenant]
            TenantId=\(simulator.tenantId)
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecretFile=\(secretFile)
            LoginEndpoint=\(simulator.baseURL)
            GraphEndpoint=\(simulator.baseURL)

            [Sync]
            Interval=\(interval)
            RandomizedDelay=0
            RequestTimeout=10s
            Parallel=\(parallel)
            \(extra)
            """
        try write(name + ".conf", text)
    }

    func write(_ file: String, _ text: String) throws {
        let path = configDirectory + "/" + file
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }

    func exportDirectory(_ profile: String) -> String { stateDirectory + "/\(profile)/export" }

    func journalDirectory(_ profile: String) -> String { stateDirectory + "/\(profile)/journal" }

    /// Starts entra-syncd and waits until its socket answers.
    func start() throws {
        let process = try launch()
        try Harness.waitUntil("entra-syncd's socket") {
            guard process.isRunning else { throw HarnessError("entra-syncd exited early:\n\(self.log)") }
            return (try? ctl(["status"]).status) == 0
        }
        try waitForIdle()
    }

    /// Starts entra-syncd without waiting for it.
    @discardableResult
    func launch() throws -> Process {
        let process = Process()
        let arguments = ["--config-dir", configDirectory, "--state-dir", stateDirectory, "--socket", socket,
                         "--log-level", "debug"] + extraArguments
        process.executableURL = URL(fileURLWithPath: launcher.first ?? Harness.binary("entra-syncd"))
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [Harness.binary("entra-syncd")] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "JOURNAL_STREAM")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if !FileManager.default.fileExists(atPath: logFile) { FileManager.default.createFile(atPath: logFile, contents: nil) }
        let log = FileHandle(forWritingAtPath: logFile)!
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
        return process
    }

    /// Waits until every profile finished its first run (the daemon starts one at once when it has no state).
    func waitForIdle(timeout: Double = 60) throws {
        try Harness.waitUntil("the profiles' runs to finish", timeout: timeout) {
            // A status call may fail while runs hold every descriptor (DescriptorLimitEndToEndTests): ask again.
            guard let all = try? status() else { return false }
            return all.values.allSatisfy { profile in
                let state = profile["state"] as? String
                return state == "config-error" || (state != "syncing" && state != "queued" && (profile["lastRun"] != nil || profile["error"] != nil))
            }
        }
    }

    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    var pid: Int32 { process?.processIdentifier ?? 0 }

    func kill(_ signal: Int32) {
        guard let process else { return }
        Glibc.kill(process.processIdentifier, signal)
    }

    /// Sends a signal and waits for the daemon to exit; returns its exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 30) throws -> Int32 {
        guard let process else { return 0 }
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
        try Harness.waitUntil("entra-syncd to exit", timeout: timeout, every: 0.005) { !process.isRunning }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    func ctl(_ arguments: [String]) throws -> Harness.Output {
        try Harness.run(Harness.binary("entra-syncctl"), arguments, environment: ["ENTRA_SYNC_SOCKET": socket])
    }

    /// `entra-syncctl run-now PROFILE --wait`, expecting success.
    func runNow(_ profile: String, full: Bool = false) throws -> Harness.Output {
        let output = try ctl(["run-now", profile, "--wait"] + (full ? ["--full"] : []))
        guard output.status == 0 else {
            throw HarnessError("run-now \(profile) failed (\(output.status)): \(output.stdout)\(output.stderr)\nlog:\n\(log.suffix(3000))")
        }
        return output
    }

    /// `entra-syncctl status --json`, decoded.
    func status() throws -> [String: [String: Any]] {
        let output = try ctl(["status", "--json"])
        guard output.status == 0 else { throw HarnessError("status failed: \(output.stderr)") }
        let json = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as! [String: Any]
        var result: [String: [String: Any]] = [:]
        for profile in json["profiles"] as! [[String: Any]] { result[profile["name"] as! String] = profile }
        return result
    }
}
