import Testing
@testable import EntraHTTP

@Suite("URL origins: where the Graph token may go")
struct URLOriginTests {
    @Test("scheme, host and port; default ports and case do not matter")
    func sameOrigin() {
        let graph = URLOrigin("https://graph.microsoft.com")
        #expect(graph != nil)
        #expect(URLOrigin("https://graph.microsoft.com/v1.0/users/delta?$skiptoken=x") == graph)
        #expect(URLOrigin("HTTPS://Graph.Microsoft.COM:443/v1.0/users") == graph)
        #expect(URLOrigin("https://graph.microsoft.com?x") == graph)
        #expect(URLOrigin("http://127.0.0.1:8080/v1.0/users/delta?$skiptoken=1") == URLOrigin("http://127.0.0.1:8080"))
        #expect(graph?.description == "https://graph.microsoft.com")
        #expect(URLOrigin("http://127.0.0.1:8080/x")?.description == "http://127.0.0.1:8080")
    }

    @Test("another host, port or scheme (a downgrade to http) is another origin")
    func otherOrigins() {
        let graph = URLOrigin("https://graph.microsoft.com")
        #expect(URLOrigin("http://graph.microsoft.com/v1.0/users") != graph)
        #expect(URLOrigin("https://graph.microsoft.com:8443/v1.0/users") != graph)
        #expect(URLOrigin("https://graph.microsoft.com.evil.example/v1.0/users") != graph)
        #expect(URLOrigin("https://evil.example/graph.microsoft.com/v1.0") != graph)
        #expect(URLOrigin("http://127.0.0.2:8080/v1.0") != URLOrigin("http://127.0.0.1:8080"))
    }

    @Test("URLs that parsers read differently have no origin at all")
    func ambiguousURLs() {
        #expect(URLOrigin("https://graph.microsoft.com@evil.example/v1.0/users") == nil)
        #expect(URLOrigin("https://user:pw@graph.microsoft.com/v1.0/users") == nil)
        #expect(URLOrigin("https://graph.microsoft.com\\@evil.example/v1.0") == nil)
        #expect(URLOrigin("/v1.0/users/delta?$skiptoken=x") == nil)
        #expect(URLOrigin("//evil.example/v1.0") == nil)
        #expect(URLOrigin("ftp://graph.microsoft.com/") == nil)
        #expect(URLOrigin("") == nil)
        #expect(URLOrigin.describe("https://a@b/").hasPrefix("an unparsable URL"))
        #expect(!URLOrigin.describe("https://a@b/v1.0/users/delta?$deltatoken=SECRET").contains("SECRET"))
    }
}
