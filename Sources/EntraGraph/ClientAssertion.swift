import Crypto
import EntraConfig
import Foundation
import _CryptoExtras

/// Builds the signed JWT that proves possession of the app's certificate key (client_assertion).
public enum ClientAssertion {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - audience: the token endpoint URL.
    public static func make(_ credential: CertificateCredential, clientId: String, audience: String,
                            now: Date = Date()) throws(Failure) -> String {
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: credential.privateKeyPEM.value)
        } catch {
            throw Failure(description: "cannot use the private key in \(credential.privateKeyPath): \(keyProblem(pem: credential.privateKeyPEM.value))")
        }
        var header: [String: String] = ["alg": credential.algorithm.rawValue, "typ": "JWT"]
        switch credential.algorithm {
        case .ps256: header["x5t#S256"] = base64url(Array(SHA256.hash(data: credential.certificateDER)))
        case .rs256: header["x5t"] = base64url(Array(Insecure.SHA1.hash(data: credential.certificateDER)))
        }
        let issued = Int(now.timeIntervalSince1970)
        let claims: [String: Any] = [
            "aud": audience, "iss": clientId, "sub": clientId, "jti": UUID().uuidString.lowercased(),
            "nbf": issued - 60, "iat": issued, "exp": issued + 600,
        ]
        let encode = { (object: Any) -> String in
            base64url(Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()))
        }
        let signingInput = encode(header) + "." + encode(claims)
        do {
            let padding: _RSA.Signing.Padding = credential.algorithm == .ps256 ? .PSS : .insecurePKCS1v1_5
            let signature = try key.signature(for: Data(signingInput.utf8), padding: padding)
            return signingInput + "." + base64url(Array(signature.rawRepresentation))
        } catch {
            throw Failure(description: "cannot sign the client assertion with \(credential.privateKeyPath): \(error)")
        }
    }

    /// Why a PEM text is not a usable RSA private key, in words an admin can act on. Never the key,
    /// nor its PEM label (the secrets test treats "PRIVATE KEY" in any output as a leak).
    static func keyProblem(pem: String) -> String {
        let labels = pem.split(separator: "\n").compactMap { line -> Substring? in
            let line = line.trimmingCharacters(in: .whitespaces)
            guard line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") else { return nil }
            return Substring(line.dropFirst(11).dropLast(5))
        }
        guard let label = labels.first(where: { $0.hasSuffix("PRIVATE KEY") }) else {
            return labels.isEmpty
                ? "it is not PEM: no -----BEGIN line (convert a .pfx with: openssl pkcs12 -in app.pfx -nocerts -nodes -out key.pem)"
                : "it holds no private key, only: \(labels.joined(separator: ", "))"
        }
        switch label {
        case "ENCRYPTED PRIVATE KEY":
            return "the key is encrypted; entra-sync needs it unencrypted (openssl pkey -in key.pem -out plain.pem), readable only by the daemon"
        case "EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY":
            return "it is a \(label.dropLast(12)) key; Entra certificate credentials need an RSA key"
        default:
            return "the key's PEM block is damaged or not an RSA key (check with: openssl pkey -in FILE -noout)"
        }
    }

    public static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
