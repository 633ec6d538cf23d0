import Foundation

extension ProfileLoader {
    static let scimKeys = ["Endpoint", "BearerToken", "BearerTokenFile", "BearerTokenCredential", "CAFile", "Proxy", "Users", "Groups",
                           "UserNameFrom", "DeprovisionMode", "MaxRequestsPerSecond", "RequestTimeout", "Bulk"]

    /// Validates the `[SCIM]` and `[SCIM:NAME]` sections, in file order; adds what is wrong to `problems`.
    static func scimTargets(_ entries: [INIDocument.Entry], file: String, environment: [String: String], serviceGroup: String,
                            warnings: inout [ConfigWarning], problems: inout [ConfigError]) -> [ScimTarget] {
        targets(entries, kind: "SCIM", keys: scimKeys, file: file, problems: &problems) { name, r in
            scimTarget(name: name, &r, file: file, environment: environment, serviceGroup: serviceGroup, warnings: &warnings)
        }
    }

    /// One target; what is wrong goes to `r`.
    private static func scimTarget(name: String, _ r: inout SectionReader, file: String,
                                   environment: [String: String], serviceGroup: String, warnings: inout [ConfigWarning]) -> ScimTarget {
        var endpoint = r.string("Endpoint") ?? ""
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        if endpoint.isEmpty {
            r.fail("Endpoint", "missing; the SCIM base URL, e.g. https://app.example/scim/v2")
        } else if let parsed = URLComponents(string: endpoint), let scheme = parsed.scheme?.lowercased(), let host = parsed.host, !host.isEmpty {
            r.require(scheme == "https" || (scheme == "http" && isLoopback(host)), "Endpoint",
                      scheme == "http" ? "http:// is only allowed for loopback hosts; use https://" : "unsupported scheme '\(scheme)'; use https://")
        } else {
            r.fail("Endpoint", "not a URL: '\(endpoint)'")
        }

        let tokenKeys = ["BearerToken", "BearerTokenFile", "BearerTokenCredential"].filter { r.string($0) != nil }
        if tokenKeys.isEmpty {
            r.fail("BearerTokenFile", "no token; set BearerTokenFile=, BearerTokenCredential= or BearerToken=")
        } else if tokenKeys.count > 1 {
            r.fail(tokenKeys[1], "give only one of \(tokenKeys.joined(separator: ", "))")
        }
        var token: Secret?
        var source = SecretSource.inline  // set below whenever a token is read
        switch tokenKeys.count == 1 ? tokenKeys[0] : nil {
        case nil:
            break
        case "BearerTokenFile":
            let path = r.string("BearerTokenFile")!
            token = r.secretFile(path, key: "BearerTokenFile")
            source = .file(path)
            if let exposure = SecretFileAccess.exposure(of: path, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: path, message: "the SCIM bearer token \(exposure)"))
            }
        case "BearerTokenCredential":
            let credential = r.string("BearerTokenCredential")!
            guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else {
                r.fail("BearerTokenCredential", "$CREDENTIALS_DIRECTORY is not set; load the credential with LoadCredential=\(credential):PATH in the service")
                break
            }
            token = r.secretFile(dir + "/" + credential, key: "BearerTokenCredential")
            source = .credential(credential)
        default:
            token = Secret(r.string("BearerToken")!)
            source = .inline
            if let exposure = SecretFileAccess.exposure(of: file, serviceGroup: serviceGroup) {
                warnings.append(ConfigWarning(file: file, message: "holds BearerToken= and \(exposure) (or use BearerTokenFile=)"))
            }
        }
        if let token {
            r.require(token.value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }), tokenKeys[0], "the token holds spaces or control characters")
        }

        var target = ScimTarget(name: name, endpoint: endpoint, bearerToken: token ?? Secret(""), tokenSource: source)
        target.caFile = r.readableFile("CAFile")
        target.proxy = r.string("Proxy")
        if let proxy = target.proxy { r.require(URLComponents(string: proxy)?.host != nil, "Proxy", "not a URL: '\(proxy)'") }
        target.users = r.bool("Users", true)
        target.groups = r.bool("Groups", true)
        r.require(target.users || target.groups, "Groups", "Users=no and Groups=no leaves nothing to push")
        target.userNameFrom = r.choice("UserNameFrom", ScimTarget.UserNameSource.userPrincipalName)
        target.deprovisionMode = r.choice("DeprovisionMode", ScimTarget.DeprovisionMode.deactivate)
        if let v = r.string("MaxRequestsPerSecond") {
            if let rate = Double(v), rate >= 0, rate <= 100_000 { target.maxRequestsPerSecond = rate } else {
                r.fail("MaxRequestsPerSecond", "expected a number (0 = unlimited), found '\(v)'")
            }
        }
        target.requestTimeout = r.timeSpan("RequestTimeout", atLeast: 1, target.requestTimeout)
        target.bulk = r.bool("Bulk", true)
        return target
    }
}
