/// On-disk layout of the journal.
///
/// A journal is a directory of segment files `SSSSSSSSSSSSSSSS.seg` (hex sequence, ascending).
/// Each segment starts with a 32-byte header:
///
/// | bytes | field |
/// |---|---|
/// | 0..<8 | magic `ENTRAJ1\0` |
/// | 8..<12 | format version (1), little endian |
/// | 12..<16 | flags: bit 0 = snapshot segment |
/// | 16..<24 | segment sequence |
/// | 24..<28 | salt (random per segment) |
/// | 28..<32 | masked CRC32C of bytes 0..<28 |
///
/// followed by records, each framed as
///
/// | bytes | field |
/// |---|---|
/// | 0..<4 | payload length n, little endian |
/// | 4..<8 | masked CRC32C over salt, type and payload |
/// | 8 | type (1...199 caller's, 200 commit marker) |
/// | 9..<9+n | payload |
///
/// A commit marker (payload: 8-byte commit sequence) closes every batch; records count only up to
/// the last commit marker. The salt makes stale frames of an older segment fail the checksum.
enum JournalFormat {
    static let magic: [UInt8] = Array("ENTRAJ1\0".utf8)
    static let version: UInt32 = 1
    static let headerSize = 32
    static let frameHeaderSize = 9
    static let commitType: UInt8 = 200
    static let snapshotFlag: UInt32 = 1
    static let maxPayload = 64 << 20

    struct Header {
        var flags: UInt32
        var sequence: UInt64
        var salt: UInt32
        var isSnapshot: Bool { flags & snapshotFlag != 0 }
    }

    static func encodeHeader(_ h: Header) -> [UInt8] {
        var b = magic
        b.appendLE(version)
        b.appendLE(h.flags)
        b.appendLE(h.sequence)
        b.appendLE(h.salt)
        b.appendLE(CRC32C.mask(CRC32C.checksum(b)))
        return b
    }

    static func decodeHeader(_ b: UnsafeRawBufferPointer) -> Header? {
        guard b.count >= headerSize, Array(b[0..<8]) == magic, b.loadLE32(8) == version else { return nil }
        let crc = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[0..<28])))
        guard crc == b.loadLE32(28) else { return nil }
        return Header(flags: b.loadLE32(12), sequence: UInt64(b.loadLE32(16)) | UInt64(b.loadLE32(20)) << 32, salt: b.loadLE32(24))
    }

    static func frameChecksum(salt: UInt32, type: UInt8, payload: UnsafeRawBufferPointer) -> UInt32 {
        // The 5-byte prefix (salt, type) on the stack: this runs once per record.
        let prefix = (salt.littleEndian, type)
        let seed = withUnsafeBytes(of: prefix) { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<5])) }
        return CRC32C.mask(CRC32C.checksum(payload, seed: seed))
    }

    static func appendFrame(to out: inout [UInt8], salt: UInt32, type: UInt8, payload: [UInt8]) {
        out.appendLE(UInt32(payload.count))
        out.appendLE(payload.withUnsafeBytes { frameChecksum(salt: salt, type: type, payload: $0) })
        out.append(type)
        out.append(contentsOf: payload)
    }

    static func fileName(_ sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".seg"
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v)); append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v >> 16)); append(UInt8(truncatingIfNeeded: v >> 24))
    }

    mutating func appendLE(_ v: UInt64) {
        appendLE(UInt32(truncatingIfNeeded: v))
        appendLE(UInt32(truncatingIfNeeded: v >> 32))
    }
}

extension UnsafeRawBufferPointer {
    func loadLE32(_ offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }
}
