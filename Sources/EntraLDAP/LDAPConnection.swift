import CLDAP
import Foundation

/// One connection to an LDAP server through libldap, used from one thread at a time.
///
/// Security rules enforced here, not left to callers: an `ldap://` URI to a host that is not
/// loopback must use StartTLS before any bind (`connect` does it), certificates are always
/// verified (`LDAP_OPT_X_TLS_HARD`), and the bind password never appears in an error.
///
/// Operations are synchronous (`ldap_*_ext_s`) with `timeout` seconds each, except `sendAdd` and
/// `sendModify`, whose answers `nextAnswer` reads (`ldap_add_ext`/`ldap_modify_ext` + `ldap_result`),
/// so adds and modifies can be pipelined; a search
/// is paged (RFC 2696) so a large directory is never one response.
public final class LDAPConnection {
    public enum Scope: Int32, Sendable {
        case base = 0, oneLevel = 1, subtree = 2
    }

    /// One change of a modify request.
    public enum Change: Sendable, Equatable {
        case add(String, [String])
        /// An empty list removes the attribute; values remove only those values.
        case delete(String, [String])
        /// An empty list removes the attribute.
        case replace(String, [String])
    }

    /// A search result entry; attribute names are lowercased.
    public struct Entry: Sendable, Equatable {
        public var dn: String
        public var attributes: [String: [String]]

        public init(dn: String, attributes: [String: [String]]) {
            self.dn = dn
            self.attributes = attributes
        }

        public func first(_ name: String) -> String? { attributes[name.lowercased()]?.first }
    }

    /// How the URI's scheme is secured.
    public enum Transport: Sendable, Equatable {
        /// `ldaps://`: TLS from the first byte.
        case tls
        /// `ldap://` to a non-loopback host: StartTLS before anything else.
        case startTLS
        /// `ldap://` to a loopback host: plain (the traffic never leaves the machine).
        case loopbackPlain
        /// `ldapi://`: a Unix socket.
        case unixSocket
    }

    /// How `uri` must be secured, or nil when its scheme is not LDAP's.
    public static func transport(of uri: String) -> Transport? {
        let lower = uri.lowercased()
        if lower.hasPrefix("ldaps://") { return .tls }
        if lower.hasPrefix("ldapi://") { return .unixSocket }
        guard lower.hasPrefix("ldap://") else { return nil }
        var host = String(uri.dropFirst("ldap://".count).prefix { $0 != "/" })
        if host.hasPrefix("[") {
            host = String(host.dropFirst().prefix { $0 != "]" })
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let loopbackIPv4 = octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        return loopbackIPv4 || ["localhost", "::1"].contains(host.lowercased()) ? .loopbackPlain : .startTLS
    }

    private var ld: OpaquePointer?
    public let uri: String
    private let timeout: Double
    /// Operations sent (for metrics and the push summary).
    public private(set) var operations = 0
    /// Bytes of the requests sent, counted as their DNs, filters, attribute names and values (the BER
    /// framing, a few bytes an element, and the bind password are not counted).
    public private(set) var bytesSent = 0
    /// Called before each operation is sent (a caller's rate limit; it may wait).
    public var beforeOperation: (() -> Void)?

    /// Connects to `uri` (StartTLS when `transport(of:)` says so).
    /// - Parameters:
    ///   - caFile: an extra PEM trust anchor; verification is on either way.
    ///   - timeout: seconds for the connection and for each operation.
    public init(uri: String, caFile: String?, timeout: Double) throws(LDAPError) {
        self.uri = uri
        self.timeout = timeout
        guard let transport = Self.transport(of: uri) else {
            throw LDAPError(code: -12, operation: "connect to \(uri)", diagnostic: "not an ldap://, ldaps:// or ldapi:// URI")
        }
        var handle: OpaquePointer?
        let rc = ldap_initialize(&handle, uri)
        guard rc == 0, let handle else {
            throw LDAPError(code: rc, operation: "connect to \(uri)", diagnostic: String(cString: ldap_err2string(rc)))
        }
        ld = handle
        var version: Int32 = 3
        try option(LDAP_OPT_PROTOCOL_VERSION, &version)
        try option(LDAP_OPT_REFERRALS, nil)
        var limit = Self.timeLimit(timeout)
        try option(LDAP_OPT_NETWORK_TIMEOUT, &limit)
        try option(LDAP_OPT_TIMEOUT, &limit)
        var hard: Int32 = LDAP_OPT_X_TLS_HARD
        try option(LDAP_OPT_X_TLS_REQUIRE_CERT, &hard)
        if let caFile {
            let path = strdup(caFile)
            defer { free(path) }
            try option(LDAP_OPT_X_TLS_CACERTFILE, path)
        }
        if transport == .tls || transport == .startTLS {
            // A new TLS context picks up the options above for this handle only.
            var server: Int32 = 0
            try option(LDAP_OPT_X_TLS_NEWCTX, &server)
        }
        if transport == .startTLS { try startTLS() }
    }

    /// StartTLS before anything else; when it fails nothing more is sent (no bind in clear), and the
    /// error says which side is wrong (libldap itself says "Connect error" or "Protocol error").
    private func startTLS() throws(LDAPError) {
        sending(0)
        let rc = ldap_start_tls_s(ld, nil, nil)
        guard rc != 0 else { return }
        let host = Self.hostAndPort(uri, defaultPort: 389)?.0 ?? uri
        if rc == -11 {  // LDAP_CONNECT_ERROR: the TLS handshake after the server agreed
            throw LDAPError(code: rc, operation: "StartTLS with \(uri)",
                            diagnostic: "the server offers StartTLS, but its certificate was not accepted: not signed by a trusted CA (CAFile=), or not issued for \(host); nothing was sent in clear")
        }
        var text = diagnostic()
        if text.isEmpty { text = String(cString: ldap_err2string(rc)) }
        throw LDAPError(code: rc, operation: "StartTLS with \(uri)",
                        diagnostic: "\(text): the server does not offer StartTLS; enable TLS on it or use ldaps:// (an ldap:// URI to a host that is not loopback is never used without it; no bind was sent)")
    }

    private func sending(_ bytes: Int) {
        operations += 1
        bytesSent += bytes
        beforeOperation?()
    }

    /// The size a request's DN and changes count for in `bytesSent`.
    private static func size(_ dn: String, _ changes: [Change]) -> Int {
        changes.reduce(dn.utf8.count) { total, change in
            switch change {
            case .add(let n, let v), .delete(let n, let v), .replace(let n, let v): total + n.utf8.count + v.reduce(0) { $0 + $1.utf8.count }
            }
        }
    }

    deinit {
        if let ld { ldap_unbind_ext_s(ld, nil, nil) }
    }

    /// Opens the connection now (with TLS for ldaps://) instead of at the first operation, so a
    /// caller can tell "cannot reach or trust the server" from what follows.
    /// A TLS handshake that fails (an untrusted or mismatched certificate) reaches us as "Can't
    /// contact LDAP server" with no detail; when the port does answer TCP, the error says so.
    public func connect() throws(LDAPError) {
        let rc = ldap_connect(ld)
        if rc == -1, Self.transport(of: uri) == .tls, let (host, port) = Self.hostAndPort(uri, defaultPort: 636), Self.answersTCP(host: host, port: port, timeout: timeout) {
            throw LDAPError(code: rc, operation: "TLS handshake with \(uri)",
                            diagnostic: "the server answers, but its certificate was not accepted: not signed by a trusted CA (CAFile=), or not issued for \(host)")
        }
        try check(rc, "connect to \(uri)")
    }

    static func hostAndPort(_ uri: String, defaultPort: UInt16) -> (String, UInt16)? {
        guard let scheme = uri.range(of: "://") else { return nil }
        let authority = String(uri[scheme.upperBound...].prefix { $0 != "/" })
        if authority.hasPrefix("[") {
            let host = String(authority.dropFirst().prefix { $0 != "]" })
            let rest = authority.drop { $0 != "]" }.dropFirst()
            return (host, rest.hasPrefix(":") ? UInt16(rest.dropFirst()) ?? defaultPort : defaultPort)
        }
        guard let colon = authority.lastIndex(of: ":") else { return (authority, defaultPort) }
        return (String(authority[..<colon]), UInt16(authority[authority.index(after: colon)...]) ?? defaultPort)
    }

    /// True when a TCP connection to host:port opens within `timeout`.
    static func answersTCP(host: String, port: UInt16, timeout: Double) -> Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return false }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                var limit = timeval(tv_sec: Int(max(1, timeout)), tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                let connected = Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
                close(fd)
                if connected { return true }
            }
            entry = info.pointee.ai_next
        }
        return false
    }

    private func option(_ name: Int32, _ value: UnsafeRawPointer?) throws(LDAPError) {
        let rc = ldap_set_option(ld, name, value)
        guard rc == 0 else { throw LDAPError(code: rc, operation: "set LDAP option \(name)", diagnostic: "") }
    }

    private static func timeLimit(_ seconds: Double) -> timeval {
        timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
    }

    /// The server's diagnostic message for the last operation.
    private func diagnostic() -> String {
        var message: UnsafeMutablePointer<CChar>?
        guard ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message) == 0, let message else { return "" }
        defer { ldap_memfree(message) }
        return String(cString: message)
    }

    private func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LDAPError) {
        guard rc != 0 else { return }
        var text = diagnostic()
        if text.isEmpty { text = String(cString: ldap_err2string(rc)) }
        throw LDAPError(code: rc, operation: operation(), diagnostic: text)
    }

    // MARK: Binding

    /// A simple bind. The password is sent only over TLS or to loopback (see `transport(of:)`).
    public func bind(dn: String, password: String) throws(LDAPError) {
        sending(dn.utf8.count)
        var bytes = Array(password.utf8)
        defer { for i in bytes.indices { bytes[i] = 0 } }
        let rc = bytes.withUnsafeMutableBufferPointer { buffer in
            var credential = berval(bv_len: ber_len_t(buffer.count), bv_val: UnsafeMutableRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self))
            return ldap_sasl_bind_s(ld, dn, nil, &credential, nil, nil, nil)
        }
        try check(rc, "bind as \(dn)")
    }

    /// SASL EXTERNAL: over `ldapi://` the server knows the process's uid and gid.
    public func bindExternal() throws(LDAPError) {
        sending(8)
        // An empty initial response (an empty authzid: act as the socket's own identity), present
        // rather than absent, so the server answers in one step instead of asking for it.
        let nothing = strdup("")
        defer { free(nothing) }
        var empty = berval(bv_len: 0, bv_val: nothing)
        try check(ldap_sasl_bind_s(ld, nil, "EXTERNAL", &empty, nil, nil, nil), "SASL EXTERNAL bind")
    }

    // MARK: Writing

    /// - Parameter secret: one binary attribute value (Active Directory's `unicodePwd`), zeroed by the
    ///   caller after the call; never part of an error.
    public func add(dn: String, attributes: [(String, [String])], secret: (String, [UInt8])? = nil) throws(LDAPError) {
        sending(Self.size(dn, attributes.map { .add($0.0, $0.1) }))
        let rc = withMods(attributes.map { .add($0.0, $0.1) }, secret: secret) { mods in ldap_add_ext_s(ld, dn, mods, nil, nil) }
        try check(rc, "add \(dn)")
    }

    /// Sends an add without waiting for its answer (`nextAnswer` reads it); returns the message id.
    /// libldap encodes the request before returning, so `secret` may be zeroed right after.
    public func sendAdd(dn: String, attributes: [(String, [String])], secret: (String, [UInt8])? = nil) throws(LDAPError) -> Int32 {
        sending(Self.size(dn, attributes.map { .add($0.0, $0.1) }))
        var id: Int32 = 0
        let rc = withMods(attributes.map { .add($0.0, $0.1) }, secret: secret) { mods in ldap_add_ext(ld, dn, mods, nil, nil, &id) }
        try check(rc, "add \(dn)")
        return id
    }

    /// The next answer to an operation sent with `send…`: its message id and, when the server
    /// refused it, the error (whose `operation` the caller fills in). Waits at most `timeout`.
    /// - Throws: when no answer can be read (connection lost, timeout).
    public func nextAnswer() throws(LDAPError) -> (id: Int32, refusal: LDAPError?) {
        guard let answer = try answer(within: Self.timeLimit(timeout)) else {
            throw LDAPError(code: -5, operation: "wait for an answer from \(uri)", diagnostic: "no answer within \(Int(timeout)) s")
        }
        return answer
    }

    /// An answer that has arrived already, or nil: `nextAnswer` without waiting, so the caller can
    /// journal every answer at hand in one commit.
    public func arrivedAnswer() throws(LDAPError) -> (id: Int32, refusal: LDAPError?)? {
        try answer(within: timeval(tv_sec: 0, tv_usec: 0))
    }

    private func answer(within limit: timeval) throws(LDAPError) -> (id: Int32, refusal: LDAPError?)? {
        var limit = limit
        var message: OpaquePointer?
        // LDAP_RES_ANY (-1), LDAP_MSG_ALL (1).
        let rc = ldap_result(ld, -1, 1, &limit, &message)
        guard rc > 0, let message else {
            if rc == 0 { return nil }
            var code: Int32 = -1
            _ = ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code)
            try check(code == 0 ? -1 : code, "wait for an answer from \(uri)")
            throw LDAPError(code: -1, operation: "wait for an answer from \(uri)", diagnostic: "")
        }
        let id = ldap_msgid(message)
        var code: Int32 = 0
        var diagnostic: UnsafeMutablePointer<CChar>?
        let parsed = ldap_parse_result(ld, message, &code, nil, &diagnostic, nil, nil, 1)  // frees the message
        defer { if diagnostic != nil { ldap_memfree(diagnostic) } }
        try check(parsed, "read an answer from \(uri)")
        guard code != 0 else { return (id, nil) }
        let text = diagnostic.map { String(cString: $0) } ?? ""
        return (id, LDAPError(code: code, operation: "", diagnostic: text.isEmpty ? String(cString: ldap_err2string(code)) : text))
    }

    /// Sends a modify without waiting for its answer (`nextAnswer` reads it); returns the message id.
    public func sendModify(dn: String, _ changes: [Change]) throws(LDAPError) -> Int32 {
        operations += 1
        var id: Int32 = 0
        let rc = withMods(changes) { mods in ldap_modify_ext(ld, dn, mods, nil, nil, &id) }
        try check(rc, "modify \(dn)")
        return id
    }

    public func modify(dn: String, _ changes: [Change]) throws(LDAPError) {
        guard !changes.isEmpty else { return }
        sending(Self.size(dn, changes))
        let rc = withMods(changes) { mods in ldap_modify_ext_s(ld, dn, mods, nil, nil) }
        try check(rc, "modify \(dn)")
    }

    /// modrdn: the old RDN value is removed (deleteoldrdn), so the entry keeps one name.
    public func rename(dn: String, newRDN: String, newSuperior: String?) throws(LDAPError) {
        sending(dn.utf8.count + newRDN.utf8.count + (newSuperior?.utf8.count ?? 0))
        try check(ldap_rename_s(ld, dn, newRDN, newSuperior, 1, nil, nil), "rename \(dn) to \(newRDN)")
    }

    public func delete(dn: String) throws(LDAPError) {
        sending(dn.utf8.count)
        try check(ldap_delete_ext_s(ld, dn, nil, nil), "delete \(dn)")
    }

    /// Calls `body` with a NULL-terminated `LDAPMod*` array built from `changes` (string values),
    /// freed afterwards.
    /// `secret`: one more attribute added with one binary value (`LDAP_MOD_BVALUES`), copied into
    /// memory that is zeroed before it is freed.
    private func withMods(_ changes: [Change], secret: (String, [UInt8])? = nil,
                          _ body: (UnsafeMutablePointer<UnsafeMutablePointer<LDAPMod>?>) -> Int32) -> Int32 {
        var allocated: [UnsafeMutablePointer<CChar>?] = []
        var valueArrays: [UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>] = []
        var mods: [UnsafeMutablePointer<LDAPMod>?] = []
        defer {
            for p in allocated { free(p) }
            for a in valueArrays { a.deallocate() }
            for m in mods { m?.deallocate() }
        }
        for change in changes {
            let (op, name, values): (Int32, String, [String])
            switch change {
            case .add(let n, let v): (op, name, values) = (0, n, v)
            case .delete(let n, let v): (op, name, values) = (1, n, v)
            case .replace(let n, let v): (op, name, values) = (2, n, v)
            }
            let type = strdup(name)
            allocated.append(type)
            var strvals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
            if !values.isEmpty {
                let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: values.count + 1)
                for (i, v) in values.enumerated() {
                    array[i] = strdup(v)
                    allocated.append(array[i])
                }
                array[values.count] = nil
                valueArrays.append(array)
                strvals = array
            }
            let mod = UnsafeMutablePointer<LDAPMod>.allocate(capacity: 1)
            mod.initialize(to: LDAPMod(mod_op: op, mod_type: type, mod_vals: mod_vals_u(modv_strvals: strvals)))
            mods.append(mod)
        }
        if let secret {
            let (name, value) = secret
            let type = strdup(name)
            allocated.append(type)
            let bytes = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, value.count))
            for (i, byte) in value.enumerated() { bytes[i] = CChar(bitPattern: byte) }
            let single = UnsafeMutablePointer<berval>.allocate(capacity: 1)
            single.initialize(to: berval(bv_len: ber_len_t(value.count), bv_val: bytes))
            let list = UnsafeMutablePointer<UnsafeMutablePointer<berval>?>.allocate(capacity: 2)
            list[0] = single
            list[1] = nil
            let mod = UnsafeMutablePointer<LDAPMod>.allocate(capacity: 1)
            mod.initialize(to: LDAPMod(mod_op: 0x80, mod_type: type, mod_vals: mod_vals_u(modv_bvals: list)))  // LDAP_MOD_ADD | LDAP_MOD_BVALUES
            mods.append(mod)
            defer {
                memset(bytes, 0, max(1, value.count))
                bytes.deallocate()
                single.deallocate()
                list.deallocate()
            }
            mods.append(nil)
            return mods.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        }
        mods.append(nil)
        return mods.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }

    // MARK: Searching

    /// Every entry under `base` matching `filter`, page by page (`pageSize` a page).
    /// - Throws: `LDAPError` with `noSuchObject` when `base` does not exist.
    public func search(base: String, scope: Scope, filter: String, attributes: [String], pageSize: Int32 = 500) throws(LDAPError) -> [Entry] {
        var entries: [Entry] = []
        var cookie = berval(bv_len: 0, bv_val: nil)
        defer { if cookie.bv_val != nil { ber_memfree(cookie.bv_val) } }
        var names: [UnsafeMutablePointer<CChar>?] = attributes.map { strdup($0) } + [nil]
        defer { for p in names { free(p) } }
        var limit = Self.timeLimit(timeout)
        for _ in 0..<1_000_000 {
            sending(base.utf8.count + filter.utf8.count + attributes.reduce(0) { $0 + $1.utf8.count })
            var control: UnsafeMutablePointer<LDAPControl>?
            // A base search is one entry: not paged, and 389 DS answers a paged search of a missing
            // base with success and no entries instead of noSuchObject.
            if scope != .base { try check(ldap_create_page_control(ld, pageSize, &cookie, 0, &control), "paged search under \(base)") }
            var controls: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
            var result: OpaquePointer?
            let rc = names.withUnsafeMutableBufferPointer { attrs in
                controls.withUnsafeMutableBufferPointer { ctrls in
                    ldap_search_ext_s(ld, base, scope.rawValue, filter, attrs.baseAddress, 0, ctrls.baseAddress, nil, &limit, 0, &result)
                }
            }
            ldap_control_free(control)
            defer { if result != nil { ldap_msgfree(result) } }
            try check(rc, "search under \(base) for \(filter)")
            var entry = ldap_first_entry(ld, result)
            while let current = entry {
                entries.append(read(current))
                entry = ldap_next_entry(ld, current)
            }
            var code: Int32 = 0
            var serverControls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
            try check(ldap_parse_result(ld, result, &code, nil, nil, nil, &serverControls, 0), "search under \(base)")
            defer { if serverControls != nil { ldap_controls_free(serverControls) } }
            try check(code, "search under \(base) for \(filter)")
            if cookie.bv_val != nil {
                ber_memfree(cookie.bv_val)
                cookie = berval(bv_len: 0, bv_val: nil)
            }
            guard let paged = ldap_control_find("1.2.840.113556.1.4.319", serverControls, nil) else { break }
            var estimate: Int32 = 0
            try check(ldap_parse_pageresponse_control(ld, paged, &estimate, &cookie), "paged search under \(base)")
            if cookie.bv_len == 0 { break }
        }
        return entries
    }

    private func read(_ message: OpaquePointer) -> Entry {
        var dn = ""
        if let text = ldap_get_dn(ld, message) {
            dn = String(cString: text)
            ldap_memfree(text)
        }
        var attributes: [String: [String]] = [:]
        var ber: OpaquePointer?
        var name = ldap_first_attribute(ld, message, &ber)
        while let current = name {
            var values: [String] = []
            if let list = ldap_get_values_len(ld, message, current) {
                var i = 0
                while let value = list[i] {
                    let bytes = UnsafeRawBufferPointer(start: value.pointee.bv_val, count: Int(value.pointee.bv_len))
                    values.append(String(decoding: bytes, as: UTF8.self))
                    i += 1
                }
                ldap_value_free_len(list)
            }
            attributes[String(cString: current).lowercased()] = values
            ldap_memfree(current)
            name = ldap_next_attribute(ld, message, ber)
        }
        if ber != nil { ber_free(ber, 0) }
        return Entry(dn: dn, attributes: attributes)
    }

    // MARK: Escaping

    /// A value for a search filter (RFC 4515): `*`, `(`, `)`, `\` and NUL escaped.
    public static func filterValue(_ value: String) -> String {
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case 0x2a, 0x28, 0x29, 0x5c, 0x00: out += Array(String(format: "\\%02x", byte).utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
