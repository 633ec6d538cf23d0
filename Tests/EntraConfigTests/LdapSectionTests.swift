import Foundation
import Testing
@testable import EntraConfig

@Suite("[LDAP] sections")
struct LdapSectionTests {
    let fixture: TargetSectionFixture

    init() throws {
        fixture = try TargetSectionFixture("ldap", secrets: ["PASSWORD": ("bind.pw", "bind-pass-123\n")])
    }

    func load(_ ldap: String) throws(ConfigError) -> Profile { try fixture.load(ldap) }

    func error(_ ldap: String) -> ConfigError? { fixture.error(ldap) }

    @Test func defaultsAndNamedTargets() throws {
        let profile = try load("""
            [LDAP]
            URI=ldaps://ldap.example.com
            BindDN=cn=entra-sync,dc=example,dc=com
            BindPasswordFile=PASSWORD
            BaseDN=dc=example,dc=com

            [LDAP:local]
            URI=ldapi://%2Frun%2Fslapd%2Fldapi
            BaseDN=dc=example,dc=com
            UsersDN=ou=staff,dc=example,dc=com
            DeprovisionMode=delete
            MaxDeletions=5%
            Groups=no
            RequestTimeout=5s
            """)
        #expect(profile.ldapTargets.map(\.name) == ["default", "local"])
        let first = profile.ldapTargets[0]
        #expect(first.bind == .simple(dn: "cn=entra-sync,dc=example,dc=com", password: Secret("bind-pass-123"), file: fixture.path("PASSWORD")))
        #expect(first.usersDN == "ou=people,dc=example,dc=com" && first.groupsDN == "ou=groups,dc=example,dc=com")
        #expect(first.deprovisionMode == .disable && first.schema == .inetorgperson && first.users && first.groups)
        #expect(first.requestTimeout == 30 && first.maxDeletions == nil)
        let local = profile.ldapTargets[1]
        #expect(local.bind == .external)
        #expect(local.usersDN == "ou=staff,dc=example,dc=com")
        #expect(local.deprovisionMode == .delete && local.maxDeletions == .percent(5) && !local.groups && local.requestTimeout == 5)
        #expect("\(first.bind)".contains("bind-pass-123") == false, "the password never shows in a description")
    }

    @Test func passwordFromASystemdCredential() throws {
        let credentials = fixture.dir + "/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "from-credential\n".write(toFile: credentials + "/ldap", atomically: true, encoding: .utf8)
        let profile = try fixture.load("[LDAP]\nURI=ldaps://l.example.com\nBindDN=cn=x,dc=example,dc=com\nBindPasswordCredential=ldap\nBaseDN=dc=example,dc=com\n",
                                       environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(profile.ldapTargets.first?.bind == .simple(dn: "cn=x,dc=example,dc=com", password: Secret("from-credential"), file: credentials + "/ldap"))
    }

    @Test func problemsNameFileLineAndKey() {
        // The [LDAP] section starts on line 5.
        let plain = error("[LDAP]\nURI=http://ldap.example.com\nBindDN=cn=x,dc=example,dc=com\nBindPasswordFile=PASSWORD\nBaseDN=dc=example,dc=com\n")
        #expect(plain?.line == 6 && plain?.key == "URI")
        #expect(plain?.file.hasSuffix("contoso.conf") == true)
        #expect(plain?.message.contains("ldaps://") == true)
        let schema = error("[LDAP]\nURI=ldaps://dc.example.com\nBindDN=cn=x,dc=example,dc=com\nBindPasswordFile=PASSWORD\nBaseDN=dc=example,dc=com\nSchema=ad\n")
        #expect(schema?.line == 10 && schema?.message.contains("inetorgperson (OpenLDAP, 389 DS) or activedirectory") == true)
        let noBind = error("[LDAP]\nURI=ldap://ldap.example.com\nBaseDN=dc=example,dc=com\n")
        #expect(noBind?.key == "BindDN" && noBind?.message.contains("SASL EXTERNAL") == true)
        let noPassword = error("[LDAP]\nURI=ldaps://l.example.com\nBindDN=cn=x,dc=example,dc=com\nBaseDN=dc=example,dc=com\n")
        #expect(noPassword?.key == "BindPasswordFile")
        let outside = error("[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\nGroupsDN=ou=groups,dc=other,dc=com\n")
        #expect(outside?.key == "GroupsDN" && outside?.message.contains("not under BaseDN") == true)
        let typo = error("[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\nDeprovisionMod=delete\n")
        #expect(typo?.line == 8 && typo?.message.contains("DeprovisionMode") == true)
        #expect(error("[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\nDeprovisionMode=park\n")?.message.contains("disable, delete or move") == true)
        #expect(error("[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\nMaxDeletions=lots\n")?.key == "MaxDeletions")
        #expect(error("[LDAP]\nURI=ldapi:///\n")?.key == "BaseDN")
        let both = error("[LDAP]\nURI=ldaps://l.example.com\nBindDN=cn=x,dc=example,dc=com\nBindPasswordFile=PASSWORD\nBindPasswordCredential=ldap\nBaseDN=dc=example,dc=com\n")
        #expect(both?.message.contains("only one") == true)
        let noCredentials = error("[LDAP]\nURI=ldaps://l.example.com\nBindDN=cn=x,dc=example,dc=com\nBindPasswordCredential=ldap\nBaseDN=dc=example,dc=com\n")
        #expect(noCredentials?.key == "BindPasswordCredential" && noCredentials?.message.contains("CREDENTIALS_DIRECTORY") == true)
        #expect(error("[LDAP:bad.name]\nURI=ldapi:///\nBaseDN=dc=x\n")?.message.contains("target name") == true)
    }

    @Test("Posix=yes with HomeDirectory= and LoginShell=; it needs [Linux]; the templates are checked with file:line")
    func posix() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        let profile = try load(base + "Posix=yes\nHomeDirectory=/srv/home/%l\nLoginShell=/bin/zsh\n\n[Linux]\nUsers=yes\n")
        let target = try #require(profile.ldapTargets.first)
        #expect(target.posix && target.homeDirectory == "/srv/home/%l" && target.loginShell == "/bin/zsh")
        let defaults = try load(base + "Posix=yes\n\n[Linux]\nUsers=yes\n")
        #expect(defaults.ldapTargets.first?.homeDirectory == "/home/%u" && defaults.ldapTargets.first?.loginShell == "/bin/bash")
        #expect(try load(base).ldapTargets.first?.posix == false)
        // [LDAP] starts on line 5: Posix= is line 8.
        let noLinux = error(base + "Posix=yes\n")
        #expect(noLinux?.line == 8 && noLinux?.key == "Posix" && noLinux?.message.contains("add a [Linux] section") == true)
        let placeholder = error(base + "Posix=yes\nHomeDirectory=/home/%x\n\n[Linux]\nUsers=yes\n")
        #expect(placeholder?.line == 9 && placeholder?.key == "HomeDirectory" && placeholder?.message.contains("'%x'") == true)
        let relative = error(base + "Posix=yes\nLoginShell=bash\n\n[Linux]\nUsers=yes\n")
        #expect(relative?.line == 9 && relative?.key == "LoginShell" && relative?.message.contains("absolute path") == true)
        let withoutPosix = error(base + "LoginShell=/bin/zsh\n")
        #expect(withoutPosix?.line == 8 && withoutPosix?.message.contains("without Posix=yes") == true)
        #expect(error(base + "Posix=maybe\n\n[Linux]\nUsers=yes\n")?.message.contains("yes or no") == true)
    }

    @Test("UserRDN= is uid (default) or cn")
    func userRDN() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        #expect(try load(base).ldapTargets.first?.userRDN == .uid)
        #expect(try load(base + "UserRDN=cn\n").ldapTargets.first?.userRDN == .cn)
        let bad = error(base + "UserRDN=mail\n")
        #expect(bad?.line == 8 && bad?.key == "UserRDN" && bad?.message.contains("uid or cn") == true)
    }

    @Test("Schema=activedirectory: users named by cn (UserRDN=uid is an error); plain ldap:// to loopback is refused (unicodePwd needs encryption)")
    func activeDirectory() throws {
        let base = "[LDAP]\nURI=ldaps://dc.example.com\nBindDN=CN=entra-sync,CN=Users,DC=example,DC=com\nBindPasswordFile=PASSWORD\nBaseDN=DC=example,DC=com\n"
        let target = try #require(try load(base + "Schema=ActiveDirectory\nDeprovisionMode=move\nDisabledDN=OU=disabled,DC=example,DC=com\n").ldapTargets.first)
        #expect(target.schema == .activedirectory && target.userRDN == .cn && target.deprovisionMode == .move)
        #expect(try load(base + "Schema=activedirectory\nUserRDN=cn\n").ldapTargets.first?.userRDN == .cn)
        #expect(try load(base.replacingOccurrences(of: "ldaps://dc.example.com", with: "ldap://dc.example.com") + "Schema=activedirectory\n")
            .ldapTargets.first?.schema == .activedirectory, "ldap:// to another host uses StartTLS")
        let uid = error(base + "Schema=activedirectory\nUserRDN=uid\n")
        #expect(uid?.line == 11 && uid?.key == "UserRDN" && uid?.message.contains("names users by cn") == true)
        for uri in ["ldap://127.0.0.1:389", "ldap://localhost", "ldap://[::1]:389"] {
            let plain = error(base.replacingOccurrences(of: "ldaps://dc.example.com", with: uri) + "Schema=activedirectory\n")
            #expect(plain?.line == 6 && plain?.key == "URI" && plain?.message.contains("use ldaps:// or ldapi://") == true, "\(uri)")
        }
        #expect(try load(base.replacingOccurrences(of: "ldaps://dc.example.com", with: "ldap://127.0.0.1")).ldapTargets.first?.schema == .inetorgperson,
                "inetorgperson over plain loopback stays allowed")

        #expect(target.idAttribute == nil && !target.location.contains("msDS"))
        let external = try #require(try load(base + "Schema=activedirectory\nIdAttribute=msDS-ExternalDirectoryObjectId\n").ldapTargets.first)
        #expect(external.idAttribute == "msDS-ExternalDirectoryObjectId" && external.location.hasSuffix(" msDS-ExternalDirectoryObjectId"),
                "another id attribute starts over")
        let bad = error(base + "Schema=activedirectory\nIdAttribute=ms DS/x\n")
        #expect(bad?.line == 11 && bad?.key == "IdAttribute" && bad?.message.contains("not an attribute name") == true)
        let inetorg = error(base + "IdAttribute=employeeNumber\n")
        #expect(inetorg?.line == 10 && inetorg?.message.contains("only Schema=activedirectory") == true)
        let mapped = error(base + "Schema=activedirectory\nAttribute.mail=userPrincipalName\n")
        #expect(mapped?.line == 11 && mapped?.key == "Attribute.mail" && mapped?.message.contains("fixed mapping") == true, "\(String(describing: mapped))")
    }

    @Test("DeprovisionMode=move needs DisabledDN= under BaseDN, beside UsersDN; DisabledDN= alone is an error")
    func move() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        let target = try #require(try load(base + "DeprovisionMode=move\nDisabledDN=ou=disabled,dc=example,dc=com\n").ldapTargets.first)
        #expect(target.deprovisionMode == .move && target.disabledDN == "ou=disabled,dc=example,dc=com")
        let missing = error(base + "DeprovisionMode=move\n")
        #expect(missing?.line == 8 && missing?.key == "DeprovisionMode" && missing?.message.contains("needs DisabledDN=") == true)
        let inside = error(base + "DeprovisionMode=move\nDisabledDN=ou=old,ou=people,dc=example,dc=com\n")
        #expect(inside?.line == 9 && inside?.message.contains("inside UsersDN=") == true)
        #expect(error(base + "DeprovisionMode=move\nDisabledDN=ou=x,dc=other\n")?.message.contains("not under BaseDN") == true)
        let alone = error(base + "DisabledDN=ou=disabled,dc=example,dc=com\n")
        #expect(alone?.line == 8 && alone?.message.contains("without DeprovisionMode=move") == true)
    }

    @Test("ReconcileInterval= is a time span of at least a minute, default a day")
    func reconcileInterval() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        #expect(try load(base).ldapTargets.first?.reconcileInterval == 86_400)
        #expect(try load(base + "ReconcileInterval=6h\n").ldapTargets.first?.reconcileInterval == 21_600)
        let short = error(base + "ReconcileInterval=5s\n")
        #expect(short?.line == 8 && short?.key == "ReconcileInterval" && short?.message.contains("at least 60s") == true)
    }

    @Test("Attribute.NAME=FIELD remaps a user attribute, Attribute.NAME= stops managing it; bad names are errors with file:line")
    func attributeMapping() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        #expect(try load(base).ldapTargets.first?.userAttributes == LdapAttributeMap())
        let target = try #require(try load(base + "Attribute.mail=userPrincipalName\nAttribute.title=\nAttribute.departmentNumber=Department\nAttribute.uid=mailNickname\n")
            .ldapTargets.first)
        var fields = LdapAttributeMap.defaultFields
        fields["mail"] = .userPrincipalName
        fields["title"] = nil
        fields["departmentnumber"] = .department
        fields["uid"] = .mailNickname
        #expect(target.userAttributes.fields == fields)
        // [LDAP] starts on line 5: the first override is line 8.
        let unknownField = error(base + "Attribute.mail=email\n")
        #expect(unknownField?.line == 8 && unknownField?.key == "Attribute.mail" && unknownField?.message.contains("unknown Entra field 'email'") == true)
        #expect(unknownField?.message.contains("userPrincipalName") == true, "the message lists the fields")
        let unknownAttribute = error(base + "UserRDN=cn\nAttribute.telephone=mail\n")
        #expect(unknownAttribute?.line == 9 && unknownAttribute?.message.contains("unknown user attribute 'telephone'") == true)
        let required = error(base + "Attribute.sn=\n")
        #expect(required?.line == 8 && required?.message.contains("required by the person class") == true)
        #expect(error(base + "Attribute.cn=\n")?.message.contains("required") == true)
        let rdn = error(base + "Attribute.uid=\n")
        #expect(rdn?.message.contains("names the entries (UserRDN=uid)") == true)
        #expect(try load(base + "UserRDN=cn\nAttribute.uid=\n").ldapTargets.first?.userAttributes.fields["uid"] == nil, "uid may go when cn names the entries")
        let reserved = error(base + "Attribute.entraObjectId=id\n")
        #expect(reserved?.message.contains("written by entra-sync itself") == true)
        let twice = error(base + "Attribute.mail=mail\nAttribute.MAIL=userPrincipalName\n")
        #expect(twice?.line == 9 && twice?.message.contains("second time") == true)
        #expect(error(base + "Attribute.=mail\n")?.message.contains("unknown key") == true, "a name is required")
    }

    @Test("MaxRequestsPerSecond= is 0 (unlimited, the default) or at least 1")
    func maxRequestsPerSecond() throws {
        let base = "[LDAP]\nURI=ldapi:///\nBaseDN=dc=example,dc=com\n"
        #expect(try load(base).ldapTargets.first?.maxRequestsPerSecond == 0)
        #expect(try load(base + "MaxRequestsPerSecond=250\n").ldapTargets.first?.maxRequestsPerSecond == 250)
        #expect(try load(base + "MaxRequestsPerSecond=0\n").ldapTargets.first?.maxRequestsPerSecond == 0)
        for bad in ["fast", "0.5", "-3"] {
            let problem = error(base + "MaxRequestsPerSecond=\(bad)\n")
            #expect(problem?.line == 8 && problem?.key == "MaxRequestsPerSecond" && problem?.message.contains("at least 1") == true, "\(bad)")
        }
    }
}
