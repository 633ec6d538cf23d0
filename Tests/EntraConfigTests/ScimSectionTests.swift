import Foundation
import Testing
@testable import EntraConfig

@Suite("[SCIM] sections")
struct ScimSectionTests {
    let fixture: TargetSectionFixture

    init() throws {
        fixture = try TargetSectionFixture("scim", secrets: ["TOKEN": ("vault.token", "tok-123\n")])
    }

    func load(_ scim: String) throws(ConfigError) -> Profile { try fixture.load(scim) }

    func error(_ scim: String) -> ConfigError? { fixture.error(scim) }

    @Test func defaultsAndNamedTargets() throws {
        let profile = try load("""
            [SCIM]
            Endpoint=https://vault.internal.example/scim/v2/
            BearerTokenFile=TOKEN

            [SCIM:awareness]
            Endpoint=http://127.0.0.1:8080/v2
            BearerTokenFile=TOKEN
            Groups=no
            UserNameFrom=mail
            DeprovisionMode=delete
            MaxRequestsPerSecond=5
            """)
        #expect(profile.scimTargets.count == 2)
        let first = profile.scimTargets[0]
        #expect(first.name == "default")
        #expect(first.endpoint == "https://vault.internal.example/scim/v2")
        #expect(first.bearerToken.value == "tok-123")
        #expect(first.users && first.groups && first.bulk)
        #expect(first.userNameFrom == .userPrincipalName && first.deprovisionMode == .deactivate)
        #expect(first.maxRequestsPerSecond == 20 && first.requestTimeout == 30)
        let second = profile.scimTargets[1]
        #expect(second.name == "awareness" && !second.groups && second.userNameFrom == .mail)
        #expect(second.deprovisionMode == .delete && second.maxRequestsPerSecond == 5)
    }

    @Test func errorsNameTheLineAndKey() {
        let plainHTTP = error("[SCIM]\nEndpoint=http://vault.example/scim\nBearerTokenFile=TOKEN\n")
        #expect(plainHTTP?.line == 6 && plainHTTP?.key == "Endpoint")
        #expect(plainHTTP?.message.contains("loopback") == true)
        let typo = error("[SCIM]\nEndpoint=https://v.example\nBearerTokenFile=TOKEN\nDeprovisionMod=delete\n")
        #expect(typo?.line == 8 && typo?.message.contains("DeprovisionMode") == true)
        #expect(error("[SCIM]\nEndpoint=https://v.example\n")?.message.contains("no token") == true)
        #expect(error("[SCIM]\nEndpoint=https://v.example\nBearerTokenFile=TOKEN\nBearerToken=x\n")?.message.contains("only one") == true)
        #expect(error("[SCIM]\nEndpoint=https://v.example\nBearerTokenFile=TOKEN\nDeprovisionMode=archive\n")?.message.contains("deactivate or delete") == true)
        #expect(error("[SCIM:bad name]\nEndpoint=https://v.example\nBearerTokenFile=TOKEN\n") != nil)
        #expect(error("[SCIM]\nEndpoint=https://v.example\nBearerTokenCredential=vault\n")?.message.contains("CREDENTIALS_DIRECTORY") == true)
    }
}
