/// systemd-style time spans: `30min`, `1h 30s`, `2h30m`, `1.5h`, `500ms`; a bare number is seconds.
public enum TimeSpan {
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var text: String
        public var description: String { "invalid time span '\(text)'. Use e.g. 30min or 1h 30s." }
    }

    private static let units: [(String, Double)] = [
        ("usec", 1e-6), ("us", 1e-6), ("msec", 1e-3), ("ms", 1e-3),
        ("seconds", 1), ("second", 1), ("sec", 1), ("s", 1),
        ("minutes", 60), ("minute", 60), ("min", 60), ("m", 60),
        ("hours", 3600), ("hour", 3600), ("hr", 3600), ("h", 3600),
        ("days", 86400), ("day", 86400), ("d", 86400),
        ("weeks", 604800), ("week", 604800), ("w", 604800),
    ]

    public static func parse(_ text: String) throws(ParseError) -> Double {
        let chars = Array(text)
        var i = 0
        var total = 0.0
        var parts = 0
        while true {
            while i < chars.count, chars[i] == " " { i += 1 }
            if i == chars.count { break }
            var number = ""
            while i < chars.count, chars[i].isNumber || chars[i] == "." { number.append(chars[i]); i += 1 }
            guard let value = Double(number), value >= 0 else { throw ParseError(text: text) }
            while i < chars.count, chars[i] == " " { i += 1 }
            var unit = ""
            while i < chars.count, chars[i].isLetter { unit.append(chars[i]); i += 1 }
            let factor: Double
            if unit.isEmpty {
                factor = 1
            } else if let match = units.first(where: { $0.0 == unit }) {
                factor = match.1
            } else {
                throw ParseError(text: text)
            }
            total += value * factor
            parts += 1
        }
        guard parts > 0 else { throw ParseError(text: text) }
        return total
    }

    public static func format(_ seconds: Double) -> String {
        var rest = Int(seconds.rounded())
        if rest == 0 { return seconds > 0 ? "\(Int(seconds * 1000))ms" : "0" }
        var parts: [String] = []
        for (unit, size) in [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)] where rest >= size {
            parts.append("\(rest / size)\(unit)")
            rest %= size
        }
        return parts.joined(separator: " ")
    }
}
