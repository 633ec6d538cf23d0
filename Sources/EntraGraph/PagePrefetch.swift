import EntraHTTP
import Foundation
import EntraLock

/// The next delta page, requested on a thread of its own while the caller decodes the current one.
///
/// `GraphClient` starts one as soon as a page's body has arrived, for the `@odata.nextLink` that
/// `nextLink(in:)` guesses from the bytes, and takes the response only if the decoded page names
/// the same link. The caller makes no request of its own until it has waited for the prefetch, so
/// the client's HTTP handle is used by one thread at a time and at most two pages are held: the
/// one being decoded and the prefetched one.
///
/// A `Thread` rather than a dispatch queue: the caller usually runs on a dispatch queue and blocks
/// in `wait()`, which must never wait for a pool thread.
final class PagePrefetch: Sendable {
    /// The URL requested.
    let url: String
    private let outcome = Locked<Result<HTTPResponse, GraphError>?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `fetch(url)` on a new thread.
    init(url: String, fetch: @escaping @Sendable (String) throws(GraphError) -> HTTPResponse) {
        self.url = url
        let thread = Thread { [self] in
            let result = Result { () throws(GraphError) in try fetch(url) }
            // The lock, not the semaphore, orders the result's writes before `wait()` reads them.
            outcome.withLock { $0 = result }
            finished.signal()
        }
        thread.name = "graph-prefetch"
        thread.start()
    }

    /// Waits until the request has ended, retries included, and returns its outcome. Call it once.
    func wait() -> Result<HTTPResponse, GraphError> {
        finished.wait()
        return outcome.withLock { $0.take()! }
    }

    // MARK: The guess

    private static let nextLinkKey = Array("odata.nextLink\":\"".utf8)
    private static let deltaLinkKey = Array("odata.deltaLink\":\"".utf8)

    /// The `@odata.nextLink` of a page body, found by a byte scan from its end; nil when the last
    /// link key is `@odata.deltaLink` or the value holds escapes other than `\/`.
    ///
    /// Only a guess, checked against the decoded page. The bytes `"@odata.nextLink":"` cannot occur
    /// inside a JSON string (a quote in one is escaped), so they are a key, and Graph writes the
    /// page's own links last. A nested object with such a key would make the guess wrong, which
    /// costs one request and no correctness.
    static func nextLink(in body: [UInt8]) -> String? {
        body.withUnsafeBytes { bytes -> String? in
            var i = bytes.count
            while i > 1 {
                i -= 1
                guard bytes[i] == UInt8(ascii: "@"), bytes[i - 1] == UInt8(ascii: "\"") else { continue }
                let rest = UnsafeRawBufferPointer(rebasing: bytes[(i + 1)...])
                if rest.starts(with: deltaLinkKey) { return nil }
                guard rest.starts(with: nextLinkKey) else { continue }
                return unescapedString(UnsafeRawBufferPointer(rebasing: rest[nextLinkKey.count...]))
            }
            return nil
        }
    }

    /// The JSON string value that `bytes` start with (after its opening quote); nil when it does not end or
    /// holds an escape other than `\/` (a URL needs none).
    private static func unescapedString(_ bytes: UnsafeRawBufferPointer) -> String? {
        var value: [UInt8] = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\""):
                return String(decoding: value, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "/") else { return nil }
                value.append(UInt8(ascii: "/"))
                i += 2
            case ..<0x20:
                return nil
            case let byte:
                value.append(byte)
                i += 1
            }
        }
        return nil
    }
}
