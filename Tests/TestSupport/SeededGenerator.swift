/// xorshift64*: seeded, so a failing randomized test can be repeated with its seed.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }
    public mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

extension SeededGenerator {
    /// Random text from tokens a parser cares about, with one character in five of ASCII noise.
    public mutating func text(tokens: [String], count: Int) -> String {
        (0..<count).map { _ in
            next() % 5 == 0 ? String(UnicodeScalar(UInt8(next() % 128))) : tokens[Int(next() % UInt64(tokens.count))]
        }.joined()
    }
}
