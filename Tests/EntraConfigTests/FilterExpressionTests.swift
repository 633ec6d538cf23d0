import Testing
@testable import EntraConfig

@Suite("filter expressions")
struct FilterExpressionTests {
    let user: [String: FilterValue] = [
        "accountEnabled": .bool(true), "userPrincipalName": .string("Zoë.Müller@Contoso.com"),
        "department": .string("Sales"), "displayName": .string("svc-backup"),
    ]

    func eval(_ text: String) throws -> Bool {
        try FilterExpression.parse(text).matches { user[$0] ?? .null }
    }

    @Test func operators() throws {
        #expect(try eval("accountEnabled eq true and endswith(userPrincipalName,'@contoso.com')"))
        #expect(try eval("department eq 'sales'"))  // case-insensitive, as Graph
        #expect(try !eval("department ne 'Sales'"))
        #expect(try eval("startswith(userPrincipalName,'zoë.')"))
        #expect(try eval("contains(userPrincipalName,'MÜLLER')"))
        #expect(try eval("not (department eq 'Legal' or startswith(displayName,'x'))"))
        #expect(try eval("jobTitle eq null"))  // a missing property is null
        #expect(try !eval("startswith(jobTitle,'a')"))
        #expect(try eval("department eq 'Legal' or department eq 'Sales' and accountEnabled eq true"))
        #expect(try !eval("(department eq 'Legal' or department eq 'Sales') and accountEnabled eq false"))
        #expect(try eval("displayName eq 'it''s'") == false)
    }

    @Test("syntax errors point at the column", arguments: [
        ("accountEnabled eq", 18), ("department = 'x'", 12), ("startswith(mail 'x')", 17), ("department eq 'open", 15),
        ("(a eq 1", 8), ("a eq 1 b", 8), ("§", 1),
    ])
    func errors(text: String, column: Int) {
        #expect { try FilterExpression.parse(text) } throws: { ($0 as? FilterSyntaxError)?.column == column }
    }

    @Test func profileKeysValidateFilters() throws {
        let path = "/tmp/filter-\(UInt64.random(in: 0...UInt64.max)).conf"
        try """
            [Tenant]
            TenantId=contoso.onmicrosoft.com
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecret=x
            [Sync]
            UserFilter=accountEnabled eq true and endswith(userPrincipalName,'@contoso.com')
            IncludeGroups=Sales, 0d2a1f3e-1111-4222-8333-444455556666
            ExcludeDisabled=yes
            MaxDeletions=10%
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let (profile, _) = try ProfileLoader.load(file: path)
        #expect(profile.scope.includeGroups == ["Sales", "0d2a1f3e-1111-4222-8333-444455556666"])
        #expect(profile.scope.excludeDisabled)
        #expect(profile.maxDeletions == .percent(10))
        #expect(DeletionLimit.percent(10).limit(total: 205) == 20)

        try "[Tenant]\nTenantId=c.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecret=x\n[Sync]\nGroupFilter=color eq 'red'\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try ProfileLoader.load(file: path) } throws: { "\($0)".contains(":6: GroupFilter: unknown property 'color'") }
        try "[Tenant]\nTenantId=c.com\nClientId=11111111-2222-3333-4444-555555555555\nClientSecret=x\n[Sync]\nUserFilter=mail eq\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try ProfileLoader.load(file: path) } throws: { "\($0)".contains(":6: UserFilter: column 8") }
    }
}
