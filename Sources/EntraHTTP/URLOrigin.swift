import Foundation

/// The origin of a URL (RFC 6454): scheme, host and port, compared the way a browser compares them.
///
/// The Graph token is sent only to the origin of the profile's Graph endpoint, so every link a
/// response hands us (`@odata.nextLink`, `@odata.deltaLink`, a redirect's `Location`) is checked
/// against it before a request carries the token. Parsing is strict on purpose: a URL with user
/// information (`https://graph.microsoft.com@evil.example/`), a backslash or anything else
/// `URLComponents` refuses has no origin, so it can never match.
public struct URLOrigin: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int

    /// The origin of `url`, or nil when it is not an absolute `http`/`https` URL with a host.
    public init?(_ url: String) {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
              let host = parts.host?.lowercased(), !host.isEmpty,
              parts.user == nil, parts.password == nil else { return nil }
        let defaultPort: Int
        switch scheme {
        case "https": defaultPort = 443
        case "http": defaultPort = 80
        default: return nil
        }
        self.scheme = scheme
        self.host = host
        self.port = parts.port ?? defaultPort
    }

    /// `scheme://host[:port]`, the port only when it is not the scheme's default.
    public var description: String {
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? "\(scheme)://\(bracketed)" : "\(scheme)://\(bracketed):\(port)"
    }

    /// How `url` is named in an error: its origin, or the first characters of what could not be parsed.
    public static func describe(_ url: String) -> String {
        // Without its query: delta and skip tokens never reach an error message.
        URLOrigin(url)?.description ?? "an unparsable URL ('\(url.prefix { $0 != "?" && $0 != "#" }.prefix(40))')"
    }
}
