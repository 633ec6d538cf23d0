/// CRC-32C (Castagnoli), slicing-by-8.
public enum CRC32C {
    /// Eight 256-entry tables, one after the other (one array: one bounds-free pointer per call).
    static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            table[i] = c
        }
        for i in 0..<256 {
            for t in 1..<8 { table[t * 256 + i] = (table[(t - 1) * 256 + i] >> 8) ^ table[Int(table[(t - 1) * 256 + i] & 0xff)] }
        }
        return table
    }()

    /// Continues a checksum (`seed` is a previous result, 0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        table.withUnsafeBufferPointer { t in
            var crc = ~seed
            var i = 0
            let n = bytes.count
            while n - i >= 8 {
                let lo = crc ^ (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
                let hi = UInt32(bytes[i + 4]) | UInt32(bytes[i + 5]) << 8 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 24
                crc = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)] ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)] ^ t[256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(bytes[i])) & 0xff)] ^ (crc >> 8)
                i += 1
            }
            return ~crc
        }
    }

    public static func checksum(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }

    /// LevelDB's mask: a CRC stored next to the data it covers must not look like data.
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }
}
