import Foundation

/// Graph's server time per page: a lognormal distribution with a given median.
///
/// `sigma` 0 holds every page exactly `medianMs`; with `sigma` 0.5 one page in 100 takes about
/// 3.2× the median and one in 1,000 about 4.7×. Samples are capped at 20× the median, and come from
/// a seeded generator, so a run's latencies repeat with the same request sequence.
struct PageLatency {
    var medianMs = 0
    var sigma = 0.0
    var rng = SplitMix64(seed: 99)

    mutating func sample() -> Int {
        guard medianMs > 0 else { return 0 }
        guard sigma > 0 else { return medianMs }
        // Box–Muller: a standard normal from two uniforms in (0, 1].
        let u1 = Double(rng.next() >> 11 + 1) / Double(1 << 53)
        let u2 = Double(rng.next() >> 11) / Double(1 << 53)
        let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        return Int(min(20, exp(sigma * z)) * Double(medianMs))
    }
}
