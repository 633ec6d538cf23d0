import ArgumentParser
import EntraConfig
import EntraGraph
import EntraHTTP
import EntraMirror
import EntraPush
import Foundation
import Logging

/// `entra-syncctl check`: "test connection" for a profile, without the daemon.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test a profile: tenant, token, Graph permissions, clock, LDAP targets; --preview also reads everything without committing.",
        discussion: "Reads PROFILE.conf from --config-dir directly; the daemon need not run. Exits 0 only when a sync would work.")

    @Argument var profile: String
    @Option(name: .customLong("config-dir"), help: "Directory of profile files.") var configDirectory = "/etc/entra-sync"
    @Flag(name: .long, help: "Run a full round without committing: print counts and the first users and groups.") var preview = false

    func step(_ name: String, _ ok: Bool, _ text: String, hint: String? = nil) {
        print("\(name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(ok ? "OK    " : "FAILED") \(text)")
        if let hint { print("         fix: \(hint)") }
    }

    func run() throws {
        let path = configDirectory + "/" + profile + ".conf"
        let loaded: Profile
        do {
            let (p, warnings) = try ProfileLoader.load(file: path)
            loaded = p
            step("config", true, path)
            for warning in warnings { print("         warning: \(warning)") }
        } catch {
            // Every problem of the file, each under the previous one.
            let problems = error.problems
            step("config", false, "\(problems[0])")
            for problem in problems.dropFirst() { print(String(repeating: " ", count: 16) + "\(problem)") }
            throw ExitCode(1)
        }
        var logger = Logger(label: "entra-syncctl")
        logger.logLevel = .critical
        let cancel = CancellationFlag()
        let graph: GraphClient
        do {
            graph = try GraphClient(profile: loaded, retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: 0.5), logger: logger)
        } catch {
            step("http", false, "\(error)")
            throw ExitCode(1)
        }

        // Tenant: the identity platform's discovery document.
        let http = try HTTPClient(options: HTTPClientOptions(caFile: loaded.caFile, proxy: loaded.proxy))
        let discovery = "\(loaded.loginEndpoint)/\(loaded.tenantId)/v2.0/.well-known/openid-configuration"
        do {
            let response = try http.perform(HTTPRequest(url: discovery, timeout: loaded.requestTimeout))
            let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
            if response.status == 200, let issuer = json?["issuer"] as? String {
                let id = issuer.split(separator: "/").first { $0.count == 36 && $0.contains("-") }.map(String.init) ?? issuer
                step("tenant", true, "\(loaded.tenantId) is tenant \(id) at \(loaded.loginEndpoint)")
            } else {
                let description = (json?["error_description"] as? String)?.split(separator: "\r\n").first.map(String.init) ?? "HTTP \(response.status)"
                step("tenant", false, description, hint: GraphError.hint(forAADSTS: 90002))
                throw ExitCode(1)
            }
        } catch let error as HTTPError {
            step("tenant", false, error.message, hint: GraphClient.transportHint(error))
            throw ExitCode(1)
        }

        // Token.
        do {
            _ = try graph.accessToken(cancel: cancel)
            step("token", true, "client credentials accepted for app \(loaded.clientId)")
        } catch {
            step("token", false, error.description, hint: error.hint)
            throw ExitCode(1)
        }

        // Permissions, and the server's clock.
        var serverDate: String?
        for (name, kind) in [("users", "users"), ("groups", "groups")] where (kind == "users" ? loaded.syncUsers : loaded.syncGroups) {
            do {
                let response = try graph.get("\(loaded.graphEndpoint)/v1.0/\(kind)?$top=1&$select=id", cancel: cancel)
                serverDate = serverDate ?? response.header("date")
                step(name, true, "GET /v1.0/\(kind)?$top=1 answered")
            } catch {
                var hint = error.hint
                if error.kind == .permissionDenied {
                    hint = "Grant the application permission \(kind == "users" ? "User.Read.All" : "Group.Read.All") (or Directory.Read.All) and admin consent; consent can take minutes to propagate, so retry in a few minutes."
                }
                step(name, false, error.description, hint: hint)
                throw ExitCode(1)
            }
        }
        if let serverDate, let date = Self.parseHTTPDate(serverDate) {
            let skew = date.timeIntervalSinceNow
            if abs(skew) > 300 {
                step("clock", false, String(format: "local clock differs from the server's by %.0f s", skew),
                     hint: "Synchronize the clock (systemd-timesyncd or chrony); tokens and TLS depend on it.")
                throw ExitCode(1)
            }
            step("clock", true, String(format: "within %.0f s of the server's", abs(skew)))
        }

        // LDAP targets: connect, TLS, bind, base DN, write permission (a probe entry added and deleted).
        var ldapFailed = false
        for target in loaded.ldapTargets {
            for result in LdapTargetCheck.run(target) {
                step("ldap", result.ok, "\(result.name): \(result.text)", hint: result.fix)
                ldapFailed = ldapFailed || !result.ok
            }
        }
        if ldapFailed { throw ExitCode(1) }

        guard preview else { return }
        do {
            let users = loaded.syncUsers ? try graph.userRound(from: nil, cancel: cancel) : nil
            let groups = loaded.syncGroups ? try graph.groupRound(from: nil, cancel: cancel) : nil
            var state = MirrorState()
            for mutation in SyncPlan.make(state: state, users: users, groups: groups).mutations { state.apply(mutation) }
            let view = ScopedView(state: state, scope: loaded.scope)
            let counts = view.counts
            step("preview", true, "would import \(counts.users) users, \(counts.groups) groups, \(counts.memberships) memberships (nothing committed)")
            for user in view.users.prefix(5) { print("         user  \(user.userPrincipalName ?? user.id)  \(user.displayName ?? "")") }
            for group in view.groups.prefix(5) { print("         group \(group.displayName ?? group.id)  (\(view.members(of: group.id).count) members)") }
        } catch {
            step("preview", false, "\(error)", hint: error.hint)
            throw ExitCode(1)
        }
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
