import Foundation

/// A real OpenLDAP `slapd` for one test: a temporary cn=config (core, cosine, inetorgperson, nis and
/// entra-sync's shipped schema from `packaging/ldap/entra-sync.ldif`), an mdb database under
/// `dc=example,dc=test`, listening on a loopback port (or `host`'s) and an `ldapi://` socket. Stopped by its PID.
/// With `accessLog`, slapd's `stats` log (one line per connection and operation) is kept (`accessLog()`).
/// Besides the root DN (and the test's uid over ldapi), entries with a userPassword may bind and read, not write.
public final class Slapd: @unchecked Sendable {  // one test's thread only: `process` changes in down/up/stop, which the test calls in order
    public static let suffix = "dc=example,dc=test"
    public static let rootDN = "cn=admin,dc=example,dc=test"
    public static let rootPassword = "test-secret-not-logged"
    public let directory: URL
    public let port: Int
    /// The address slapd listens on (127.0.0.1 unless the test gave another).
    public let host: String
    public var uri: String { "ldap://\(host):\(port)" }
    public var ldapiURI: String { "ldapi://" + directory.appendingPathComponent("ldapi").path.replacingOccurrences(of: "/", with: "%2F") }
    /// A file holding `rootPassword` (for BindPasswordFile=).
    public let passwordFile: String
    private var process = Process()
    private var arguments: [String] = []
    private var logFile: String?
    /// With `tls`: `ldaps://127.0.0.1:TLSPORT`, its certificate signed by `caFile` (a test CA made
    /// with the openssl CLI, the certificate naming IP 127.0.0.1); `otherCAFile` is a CA that did not sign it.
    public private(set) var tlsPort = 0
    public var tlsURI: String { "ldaps://\(host):\(tlsPort)" }
    public var caFile: String { directory.appendingPathComponent("ca.pem").path }
    public var otherCAFile: String { directory.appendingPathComponent("other-ca.pem").path }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// - Parameters:
    ///   - tls: a certificate from a test CA (ldaps:// listener, StartTLS on ldap://).
    ///   - host: the IPv4 address to listen on (and the certificate's IP), e.g. one of a private network namespace.
    public init(tls: Bool = false, host: String = "127.0.0.1", accessLog: Bool = false) throws {
        let slapd = "/usr/sbin/slapd"
        guard FileManager.default.isExecutableFile(atPath: slapd), FileManager.default.isExecutableFile(atPath: "/usr/sbin/slapadd") else {
            throw Unavailable(description: "slapd is not installed; run scripts/install-deps.sh (Debian packages slapd, ldap-utils)")
        }
        self.host = host
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("entra-slapd-\(UUID().uuidString.prefix(8))")
        let config = directory.appendingPathComponent("slapd.d")
        let db = directory.appendingPathComponent("db")
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: db, withIntermediateDirectories: true)
        passwordFile = directory.appendingPathComponent("bind.pw").path
        try Data(Self.rootPassword.utf8).write(to: URL(fileURLWithPath: passwordFile))
        chmod(passwordFile, 0o600)
        let schema = Self.repository.appendingPathComponent("packaging/ldap/entra-sync.ldif").path
        var tlsConfig = ""
        if tls {
            try Self.makeCertificates(in: directory, host: host)
            tlsConfig = """
                olcTLSCACertificateFile: \(directory.appendingPathComponent("ca.pem").path)
                olcTLSCertificateFile: \(directory.appendingPathComponent("server.pem").path)
                olcTLSCertificateKeyFile: \(directory.appendingPathComponent("server.key").path)

                """
        }
        let ldif = """
            dn: cn=config
            objectClass: olcGlobal
            cn: config
            \(tlsConfig)
            dn: cn=module{0},cn=config
            objectClass: olcModuleList
            cn: module{0}
            olcModulePath: /usr/lib/ldap
            olcModuleLoad: back_mdb

            dn: cn=schema,cn=config
            objectClass: olcSchemaConfig
            cn: schema

            include: file:///etc/ldap/schema/core.ldif
            include: file:///etc/ldap/schema/cosine.ldif
            include: file:///etc/ldap/schema/inetorgperson.ldif
            include: file:///etc/ldap/schema/nis.ldif
            include: file://\(schema)

            dn: olcDatabase={-1}frontend,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcFrontendConfig
            olcDatabase: {-1}frontend
            olcSizeLimit: 1000

            dn: olcDatabase={0}config,cn=config
            objectClass: olcDatabaseConfig
            olcDatabase: {0}config
            olcAccess: {0}to * by * none

            dn: olcDatabase={1}mdb,cn=config
            objectClass: olcDatabaseConfig
            objectClass: olcMdbConfig
            olcDatabase: {1}mdb
            olcDbDirectory: \(db.path)
            olcSuffix: \(Self.suffix)
            olcRootDN: \(Self.rootDN)
            olcRootPW: \(Self.rootPassword)
            olcDbIndex: objectClass eq
            olcDbIndex: entraObjectId eq
            olcDbMaxSize: 67108864
            olcDbNoSync: TRUE
            olcAccess: {0}to * by dn.exact=gidNumber=\(getegid())+uidNumber=\(geteuid()),cn=peercred,cn=external,cn=auth manage by * break
            olcAccess: {1}to attrs=userPassword by anonymous auth by * none
            olcAccess: {2}to * by users read


            """
        try Self.run("/usr/sbin/slapadd", ["-n0", "-F", config.path], input: ldif)
        try Self.run("/usr/sbin/slapadd", ["-n1", "-F", config.path],
                     input: "dn: \(Self.suffix)\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n\n")
        guard let free = LoopbackPort.free() else { throw Unavailable(description: "no free loopback port") }
        port = free
        let socket = directory.appendingPathComponent("ldapi").path.replacingOccurrences(of: "/", with: "%2F")
        var listeners = "ldap://\(host):\(port)/ ldapi://\(socket)"
        if tls {
            guard let free = LoopbackPort.free(), free != port else { throw Unavailable(description: "no second free loopback port") }
            tlsPort = free
            listeners += " ldaps://\(host):\(tlsPort)/"
        }
        // -d 0: stay in the foreground (the test owns the process) and log nothing; -d 256: log `stats` to stderr.
        arguments = ["-F", config.path, "-h", listeners, "-d", accessLog ? "256" : "0"]
        logFile = accessLog ? directory.appendingPathComponent("access.log").path : nil
        if let logFile { FileManager.default.createFile(atPath: logFile, contents: nil) }
        try up()
    }

    /// Starts slapd (again, after `down`) on the same ports and database; returns once it listens.
    public func up() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/slapd")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        if let logFile, let log = FileHandle(forWritingAtPath: logFile) {
            log.seekToEndOfFile()
            process.standardError = log
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        // Bounded wait for the listener.
        for _ in 0..<200 {
            if Self.accepts(host: host, port: port) && (tlsPort == 0 || Self.accepts(host: host, port: tlsPort)) { return }
            guard process.isRunning else { break }
            usleep(25_000)
        }
        stop()
        throw Unavailable(description: "slapd did not listen on \(host):\(port) within 5 s")
    }

    /// slapd's `stats` log so far (with `accessLog`): `conn=N op=M BIND dn=...`, `MOD dn=...`, `MOD attr=member`, `RESULT ...`.
    public func accessLog() -> String {
        guard let logFile else { return "" }
        return (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
    }

    /// Stops slapd and keeps its database: "the server is down" until `up`.
    public func down() {
        // Never signal before `run()`: pid 0 would be this process's whole group.
        guard process.isRunning, process.processIdentifier > 0 else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        // Bounded: slapd exits at once on SIGTERM; after 5 s it is killed. (`isRunning` only changes
        // once Foundation reaps the child, so /proc tells when it has exited.)
        for _ in 0..<200 where Self.alive(pid) { usleep(10_000) }
        if Self.alive(pid) { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// A test CA, a server certificate it signs for IP `host` (and 127.0.0.1, localhost), and a second CA.
    static func makeCertificates(in directory: URL, host: String) throws {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { throw Unavailable(description: "openssl is not installed") }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        for ca in ["ca", "other-ca"] {
            _ = try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("\(ca).key"), "-out", path("\(ca).pem"),
                              "-days", "2", "-subj", "/CN=entra-sync test \(ca)"])
        }
        _ = try run(openssl, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=\(host)"])
        let names = host == "127.0.0.1" ? "IP:127.0.0.1" : "IP:\(host),IP:127.0.0.1"
        try "subjectAltName=\(names),DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            .write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        _ = try run(openssl, ["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                          "-out", path("server.pem"), "-days", "2", "-extfile", path("server.ext")])
        chmod(path("server.key"), 0o600)
    }

    deinit { stop() }

    public func stop() {
        down()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs an ldap-utils command against this server (bound as the root DN) and returns its output.
    @discardableResult
    public func tool(_ name: String, _ arguments: [String], input: String? = nil) throws -> String {
        try Self.run("/usr/bin/\(name)", ["-x", "-H", uri, "-D", Self.rootDN, "-y", passwordFile] + arguments, input: input)
    }

    /// The entries under `base` as `ldapsearch -LLL` prints them, unwrapped, one string per entry.
    public func entries(base: String = Slapd.suffix, filter: String = "(objectClass=*)", attributes: [String] = []) throws -> [String: [String]] {
        Self.entries(ldif: try tool("ldapsearch", ["-LLL", "-o", "ldif-wrap=no", "-b", base, filter] + attributes))
    }

    /// Unwrapped LDIF as `ldapsearch -LLL` prints it: DN → its attribute lines, sorted (comments
    /// skipped; values ldapsearch printed in base64, `name:: …`, as `name: value`).
    static func entries(ldif text: String) -> [String: [String]] {
        func decoded(_ line: String) -> String {
            guard let range = line.range(of: ":: "), let data = Data(base64Encoded: String(line[range.upperBound...])) else { return line }
            return line[..<range.lowerBound] + ": " + String(decoding: data, as: UTF8.self)
        }
        var result: [String: [String]] = [:]
        for block in text.components(separatedBy: "\n\n") {
            let lines = block.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }.map(decoded)
            guard let first = lines.first, first.hasPrefix("dn: ") else { continue }
            result[String(first.dropFirst(4))] = Array(lines.dropFirst()).sorted()
        }
        return result
    }

    @discardableResult
    static func run(_ path: String, _ arguments: [String], input: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inPipe = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inPipe
        try p.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Unavailable(description: "\(path) \(arguments.joined(separator: " ")) exited \(p.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The process exists and is not a zombie.
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    static func accepts(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
