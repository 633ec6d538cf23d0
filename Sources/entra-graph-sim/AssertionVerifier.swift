import Crypto
import Foundation
import _CryptoExtras

/// Verifies client assertions the way the identity platform does: thumbprint, claims and signature.
struct AssertionVerifier {
    let certificateDER: [UInt8]
    let publicKey: _RSA.Signing.PublicKey

    init?(certificatePath: String, publicKeyPath: String) {
        guard let pem = try? String(contentsOfFile: certificatePath, encoding: .utf8),
              let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = pem.range(of: "-----END CERTIFICATE-----"),
              let der = Data(base64Encoded: String(pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace })),
              let keyPEM = try? String(contentsOfFile: publicKeyPath, encoding: .utf8),
              let key = try? _RSA.Signing.PublicKey(pemRepresentation: keyPEM) else { return nil }
        certificateDER = Array(der)
        publicKey = key
    }

    static func decode(_ part: Substring) -> Data? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text)
    }

    static func b64(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// nil when valid, else (AADSTS code, message).
    func check(_ jwt: String, clientId: String, tenantPathSuffix: String) -> (Int, String)? {
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerData = Self.decode(parts[0]), let claimsData = Self.decode(parts[1]),
              let signature = Self.decode(parts[2]),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any] else {
            return (50027, "JWT token is invalid or malformed.")
        }
        let padding: _RSA.Signing.Padding
        switch header["alg"] as? String {
        case "PS256":
            guard header["x5t#S256"] as? String == Self.b64(SHA256.hash(data: certificateDER)) else {
                return (700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]")
            }
            padding = .PSS
        case "RS256":
            guard header["x5t"] as? String == Self.b64(Insecure.SHA1.hash(data: certificateDER)) else {
                return (700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]")
            }
            padding = .insecurePKCS1v1_5
        default:
            return (5002738, "Invalid JWT token. 'alg' is not supported.")
        }
        let now = Date().timeIntervalSince1970
        guard claims["iss"] as? String == clientId, claims["sub"] as? String == clientId else {
            return (700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
        }
        guard (claims["aud"] as? String)?.hasSuffix(tenantPathSuffix) == true else {
            return (700212, "No matching federated identity record found for presented assertion audience.")
        }
        guard let exp = claims["exp"] as? Double, exp > now, (claims["nbf"] as? Double ?? 0) <= now + 300, claims["jti"] is String else {
            return (700024, "Client assertion is not within its valid time range.")
        }
        let input = Data((String(parts[0]) + "." + String(parts[1])).utf8)
        guard publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: input, padding: padding) else {
            return (700027, "Client assertion failed signature validation.")
        }
        return nil
    }
}
