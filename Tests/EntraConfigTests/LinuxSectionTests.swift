import Foundation
import Testing
@testable import EntraConfig

@Suite("[Linux] section")
struct LinuxSectionTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "linux-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ linux: String) -> String {
        let secret = dir + "/c.secret"
        try? "s3cr3t".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let path = dir + "/\(name).conf"
        let text = """
            [Tenant]
            TenantId=contoso.onmicrosoft.com
            ClientId=11111111-2222-3333-4444-555555555555
            ClientSecretFile=\(secret)

            """ + linux
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    func load(_ linux: String) throws(ConfigError) -> Profile {
        try ProfileLoader.load(file: write("contoso", linux), environment: [:]).0
    }

    func error(_ linux: String) -> ConfigError? {
        do { _ = try load(linux) } catch { return error }
        return nil
    }

    @Test func absentMeansNoLinuxIdentitiesAndDefaultsApply() throws {
        #expect(try load("").linux == nil)
        let linux = try #require(try load("[Linux]\nUsers=yes\n").linux)
        #expect(linux.users && linux.groups && linux.includeGroups.isEmpty)
        #expect(linux.nameFrom == .upn && linux.groupNameFrom == .displayName)
        #expect(linux.homeDirectory == "/home/%u" && linux.shell == "/bin/bash")
        #expect(linux.idRange == .default)
        #expect(linux.line == 6)
    }

    @Test func everyKeyIsRead() throws {
        let linux = try #require(try load("""
            [Linux]
            Users=yes
            Groups=yes
            IncludeGroups=Vault Users, 0d3e1f2a-0000-4000-8000-000000000001
            NameFrom=upn-local
            GroupNameFrom=mailNickname
            HomeDirectory=/srv/home/%l-%U
            Shell=/usr/bin/zsh
            IdRange=100000-199999

            """).linux)
        #expect(linux.includeGroups == ["Vault Users", "0d3e1f2a-0000-4000-8000-000000000001"])
        #expect(linux.nameFrom == .upnLocal && linux.groupNameFrom == .mailNickname)
        #expect(linux.homeDirectory == "/srv/home/%l-%U" && linux.shell == "/usr/bin/zsh")
        #expect(linux.idRange == PosixIDRange(first: 100_000, last: 199_999))
    }

    @Test func badValuesSayWhatAndWhere() throws {
        let reserved = try #require(error("[Linux]\nIdRange=1000-60000\n"))
        #expect(reserved.line == 6 && reserved.key == "IdRange")
        #expect(reserved.description.contains("not inside a range systemd leaves unused"))
        // The container range, the signed-int trouble zone, a backwards range, too small, not a range.
        for text in ["524288-600000", "2147483648-2147490000", "1879200000-1879100000", "70000-70010", "lots"] {
            #expect(error("[Linux]\nIdRange=\(text)\n")?.key == "IdRange", "IdRange=\(text)")
        }
        let name = try #require(error("[Linux]\nNameFrom=mail\n"))
        #expect(name.line == 6 && name.description.contains("use upn or upn-local or mailNickname"))
        #expect(error("[Linux]\nShell=bash\n")?.key == "Shell")
        #expect(error("[Linux]\nHomeDirectory=/home/%x\n")?.description.contains("unknown placeholder '%x'") == true)
        let unknown = try #require(error("[Linux]\nUidRange=70000-80000\n"))
        #expect(unknown.line == 6 && unknown.description.contains("unknown key in [Linux]"))
        #expect(error("[Linux]\nGroups=no\nIncludeGroups=x\n")?.key == "IncludeGroups")
    }

    /// `IdPinsFile=`: `OBJECT-ID ID` lines, comments and blank lines skipped; every bad line is
    /// an error naming the pins file and its line.
    @Test func idPinsFileIsReadAndItsErrorsNameTheFileAndLine() throws {
        let pins = dir + "/contoso.pins"
        try """
            # from host one
            6F1E2C1A-5B7E-4C1D-9A52-0D3E1F2A3B4C 100000

            0d3e1f2a-0000-4000-8000-000000000001\t100001   # a group

            """.write(toFile: pins, atomically: true, encoding: .utf8)
        let linux = try #require(try load("[Linux]\nIdRange=100000-199999\nIdPinsFile=\(pins)\n").linux)
        #expect(linux.idPinsFile == pins)
        #expect(linux.idPins == ["6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c": 100_000, "0d3e1f2a-0000-4000-8000-000000000001": 100_001])

        try """
            6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c 100000
            alice 100001
            0d3e1f2a-0000-4000-8000-000000000001 lots
            0d3e1f2a-0000-4000-8000-000000000002 99999
            6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c 100005
            0d3e1f2a-0000-4000-8000-000000000003 100000
            0d3e1f2a-0000-4000-8000-000000000004
            """.write(toFile: pins, atomically: true, encoding: .utf8)
        let failure = try #require(error("[Linux]\nIdRange=100000-199999\nIdPinsFile=\(pins)\n"))
        let problems = failure.problems.filter { $0.file == pins }
        #expect(problems.map(\.line) == [2, 3, 4, 5, 6, 7], "\(failure)")
        #expect(failure.description.contains("\(pins):2: IdPinsFile: 'alice' is not an Entra object id"), "\(failure)")
        #expect(failure.description.contains("\(pins):3: IdPinsFile: the id 'lots' of 0d3e1f2a-0000-4000-8000-000000000001 is not a number"))
        #expect(failure.description.contains("\(pins):4: IdPinsFile: the id 99999 of 0d3e1f2a-0000-4000-8000-000000000002 is outside IdRange 100000-199999"))
        #expect(failure.description.contains("\(pins):5: IdPinsFile: 6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c is pinned twice (first at line 1)"))
        #expect(failure.description.contains("\(pins):6: IdPinsFile: the id 100000 is pinned twice"))
        #expect(failure.description.contains("\(pins):7: IdPinsFile: expected 'OBJECT-ID ID'"))

        let missing = try #require(error("[Linux]\nIdPinsFile=\(dir)/nope.pins\n"))
        #expect(missing.line == 6 && missing.key == "IdPinsFile" && missing.description.contains("cannot read '\(dir)/nope.pins': no such file"), "\(missing)")
        #expect(error("[Linux]\nIdPinsFile=pins.txt\n")?.key == "IdPinsFile")
    }

    /// Two profiles may not hand out the same ids: both are refused at load, each naming the other.
    @Test func overlappingRangesOfTwoProfilesAreRefused() throws {
        write("alpha", "[Linux]\nIdRange=100000-199999\n")
        write("beta", "[Linux]\nIdRange=150000-250000\n")
        write("gamma", "[Linux]\nIdRange=300000-399999\n")
        write("delta", "")
        let set = ProfileLoader.loadDirectory(dir, environment: [:])
        #expect(set.profiles.map(\.name).sorted() == ["delta", "gamma"])
        let beta = try #require(set.errors["beta"])
        #expect(beta.file.hasSuffix("beta.conf") && beta.line == 6 && beta.key == "IdRange")
        #expect(beta.description.contains("overlaps 100000-199999 of profile 'alpha'"))
        #expect(set.errors["alpha"]?.description.contains("of profile 'beta'") == true)
    }
}
