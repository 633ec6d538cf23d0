import Foundation

/// `CertificateFile=` + `PrivateKeyFile=`: a client assertion signed with the app's certificate key.
public struct CertificateCredential: Sendable, Equatable {
    public enum Algorithm: String, Sendable {
        /// RSASSA-PSS with SHA-256; header carries `x5t#S256` (the current recommendation).
        case ps256 = "PS256"
        /// RSASSA-PKCS1-v1_5 with SHA-256; header carries `x5t` (SHA-1 thumbprint), for older setups.
        case rs256 = "RS256"
    }

    public var certificatePath: String
    public var privateKeyPath: String
    /// DER bytes of the (first) certificate in the file: what the thumbprint hashes.
    public var certificateDER: [UInt8]
    /// The PEM text of the private key.
    public var privateKeyPEM: Secret
    public var algorithm: Algorithm
    /// The certificate's notAfter, seconds since 1970.
    public var notAfter: Double?

    /// The DER of the first `-----BEGIN CERTIFICATE-----` block.
    public static func firstCertificateDER(pem: String) -> [UInt8]? {
        guard let begin = pem.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = pem.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<pem.endIndex) else { return nil }
        let base64 = pem[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        return Data(base64Encoded: String(base64)).map(Array.init)
    }

    /// Reads `tbsCertificate.validity.notAfter` with a minimal DER walk.
    public static func notAfter(der: [UInt8]) -> Double? {
        var reader = DERReader(bytes: der, offset: 0)
        guard let certificate = reader.next(), certificate.tag == 0x30 else { return nil }
        var cert = DERReader(bytes: der, offset: certificate.start, end: certificate.end)
        guard let tbs = cert.next(), tbs.tag == 0x30 else { return nil }
        var fields = DERReader(bytes: der, offset: tbs.start, end: tbs.end)
        var field = fields.next()
        if field?.tag == 0xA0 { field = fields.next() }       // version
        guard field?.tag == 0x02 else { return nil }          // serialNumber
        _ = fields.next()                                      // signature algorithm
        _ = fields.next()                                      // issuer
        guard let validity = fields.next(), validity.tag == 0x30 else { return nil }
        var times = DERReader(bytes: der, offset: validity.start, end: validity.end)
        _ = times.next()
        guard let after = times.next() else { return nil }
        var text = String(decoding: der[after.start..<after.end], as: UTF8.self)
        if after.tag == 0x17 { text = (Int(text.prefix(2)).map { $0 >= 50 ? "19" : "20" } ?? "20") + text }
        guard after.tag == 0x17 || after.tag == 0x18, text.count >= 15 else { return nil }
        let digits = Array(text)
        func number(_ from: Int, _ count: Int) -> Int? { Int(String(digits[from..<(from + count)])) }
        guard let y = number(0, 4), let mo = number(4, 2), let d = number(6, 2), let h = number(8, 2), let mi = number(10, 2), let s = number(12, 2)
        else { return nil }
        return CivilTime.utc(year: y, month: mo, day: d, hour: h, minute: mi, second: s)
    }
}

struct DERReader {
    struct Element {
        var tag: UInt8
        var start: Int
        var end: Int
    }

    let bytes: [UInt8]
    var offset: Int
    var end: Int

    init(bytes: [UInt8], offset: Int, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    mutating func next() -> Element? {
        guard offset + 2 <= end else { return nil }
        let tag = bytes[offset]
        var length = Int(bytes[offset + 1])
        var start = offset + 2
        if length & 0x80 != 0 {
            let count = length & 0x7f
            guard count >= 1, count <= 4, start + count <= end else { return nil }
            length = 0
            for i in 0..<count { length = length << 8 | Int(bytes[start + i]) }
            start += count
        }
        guard start + length <= end else { return nil }
        offset = start + length
        return Element(tag: tag, start: start, end: start + length)
    }
}
