import Foundation

/// Milliseconds per phase of a run or a push, for the debug log: `users 310 ms, groups 820 ms, ...`.
public struct PhaseClock: Sendable, CustomStringConvertible {
    private var last = DispatchTime.now().uptimeNanoseconds
    private var phases: [(String, UInt64)] = []

    public init() {}

    public mutating func mark(_ phase: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        phases.append((phase, (now - last) / 1_000_000))
        last = now
    }

    public var description: String { phases.map { "\($0.0) \($0.1) ms" }.joined(separator: ", ") }
}
