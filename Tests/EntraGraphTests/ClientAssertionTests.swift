@testable import EntraConfig
import Testing
@testable import EntraGraph

@Suite struct ClientAssertionTests {
    func credential(_ pem: String) -> CertificateCredential {
        CertificateCredential(certificatePath: "/etc/entra-sync/app.crt", privateKeyPath: "/etc/entra-sync/app.key", certificateDER: [1, 2, 3],
                              privateKeyPEM: Secret(pem), algorithm: .ps256, notAfter: nil)
    }

    @Test("an unusable private key is named with the reason and a fix, never with its text")
    func unusableKeys() {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDSECRETSECRET"
        let cases: [(String, String)] = [
            ("just some text \(body)", "it is not PEM"),
            ("-----BEGIN CERTIFICATE-----\n\(body)\n-----END CERTIFICATE-----\n", "no private key, only: CERTIFICATE"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\n\(body)\n-----END ENCRYPTED PRIVATE KEY-----\n", "the key is encrypted"),
            ("-----BEGIN EC PRIVATE KEY-----\n\(body)\n-----END EC PRIVATE KEY-----\n", "it is a EC key"),
            ("-----BEGIN PRIVATE KEY-----\n\(body)\n-----END PRIVATE KEY-----\n", "the key's PEM block is damaged or not an RSA key"),
            ("-----BEGIN RSA PRIVATE KEY-----\n\(body)\n-----END RSA PRIVATE KEY-----\n", "the key's PEM block is damaged"),
        ]
        for (pem, reason) in cases {
            #expect(throws: ClientAssertion.Failure.self) {
                try ClientAssertion.make(credential(pem), clientId: "c", audience: "https://login/token")
            }
            do {
                _ = try ClientAssertion.make(credential(pem), clientId: "c", audience: "https://login/token")
            } catch {
                #expect(error.description.hasPrefix("cannot use the private key in /etc/entra-sync/app.key: "), "\(error)")
                #expect(error.description.contains(reason), "\(error)")
                #expect(!error.description.contains("SECRET"), "\(error)")
                #expect(!error.description.contains("CoreCrypto"), "\(error)")
                #expect(!error.description.contains("PRIVATE KEY"), "\(error)")
            }
        }
    }
}
