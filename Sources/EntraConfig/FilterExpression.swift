/// A small OData-style filter language, evaluated locally (delta queries take no filters):
///
///     accountEnabled eq true and endswith(userPrincipalName,'@contoso.com')
///     not (department eq 'Sales' or startswith(displayName,'svc-'))
///
/// Operators: `eq`, `ne`, `startswith(p,'x')`, `endswith(p,'x')`, `contains(p,'x')`, `and`, `or`,
/// `not`, parentheses. Literals: `'text'` (`''` for a quote), `true`, `false`, `null`, numbers.
/// String comparison ignores case, as Graph's does. A missing property is `null`.
public indirect enum FilterExpression: Sendable, Equatable {
    case compare(property: String, op: ComparisonOperator, value: FilterValue)
    case function(name: String, property: String, argument: String)
    case and(FilterExpression, FilterExpression)
    case or(FilterExpression, FilterExpression)
    case not(FilterExpression)

    public enum ComparisonOperator: String, Sendable { case eq, ne }

    /// Parses an expression; errors name the 1-based column.
    public static func parse(_ text: String) throws(FilterSyntaxError) -> FilterExpression {
        var parser = FilterParser(text)
        let expression = try parser.parseOr()
        guard parser.atEnd else { throw parser.error("unexpected '\(parser.peekText)'") }
        return expression
    }

    /// Evaluates against an object whose properties `lookup` returns.
    public func matches(_ lookup: (String) -> FilterValue) -> Bool {
        switch self {
        case .compare(let property, let op, let value):
            let equal = lookup(property).equals(value)
            return op == .eq ? equal : !equal
        case .function(let name, let property, let argument):
            guard case .string(let actual) = lookup(property) else { return false }
            let a = actual.lowercased(), b = argument.lowercased()
            switch name {
            case "startswith": return a.hasPrefix(b)
            case "endswith": return a.hasSuffix(b)
            default: return a.contains(b)
            }
        case .and(let l, let r): return l.matches(lookup) && r.matches(lookup)
        case .or(let l, let r): return l.matches(lookup) || r.matches(lookup)
        case .not(let e): return !e.matches(lookup)
        }
    }

    /// The property names the expression reads.
    public var properties: Set<String> {
        switch self {
        case .compare(let p, _, _), .function(_, let p, _): [p]
        case .and(let l, let r), .or(let l, let r): l.properties.union(r.properties)
        case .not(let e): e.properties
        }
    }
}

public enum FilterValue: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case number(Double)
    case null

    func equals(_ other: FilterValue) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): a.lowercased() == b.lowercased()
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.null, .null): true
        default: false
        }
    }
}

public struct FilterSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var column: Int
    public var message: String
    public var description: String { "column \(column): \(message)" }
}

struct FilterParser {
    enum Token: Equatable {
        case word(String)
        case string(String)
        case number(Double)
        case open, close, comma
    }

    var tokens: [(Token, Int)] = []
    var index = 0
    var tokenizeError: FilterSyntaxError?
    let length: Int

    init(_ text: String) {
        let chars = Array(text)
        length = chars.count
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let column = i + 1
            if c == " " || c == "\t" { i += 1; continue }
            if c == "(" { tokens.append((.open, column)); i += 1; continue }
            if c == ")" { tokens.append((.close, column)); i += 1; continue }
            if c == "," { tokens.append((.comma, column)); i += 1; continue }
            if c == "'" {
                var value = ""
                i += 1
                var closed = false
                while i < chars.count {
                    if chars[i] == "'" {
                        if i + 1 < chars.count && chars[i + 1] == "'" { value.append("'"); i += 2; continue }
                        closed = true
                        i += 1
                        break
                    }
                    value.append(chars[i])
                    i += 1
                }
                if !closed { tokenizeError = FilterSyntaxError(column: column, message: "unterminated string"); return }
                tokens.append((.string(value), column))
                continue
            }
            if c.isNumber || c == "-" {
                var text = String(c)
                i += 1
                while i < chars.count, chars[i].isNumber || chars[i] == "." { text.append(chars[i]); i += 1 }
                guard let n = Double(text) else { tokenizeError = FilterSyntaxError(column: column, message: "bad number '\(text)'"); return }
                tokens.append((.number(n), column))
                continue
            }
            if c.isLetter || c == "_" {
                var word = ""
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "/" {
                    word.append(chars[i])
                    i += 1
                }
                tokens.append((.word(word), column))
                continue
            }
            tokenizeError = FilterSyntaxError(column: column, message: "unexpected character '\(c)'")
            return
        }
    }

    var atEnd: Bool { index >= tokens.count }
    var column: Int { atEnd ? length + 1 : tokens[index].1 }
    var peekText: String {
        guard !atEnd else { return "end" }
        switch tokens[index].0 {
        case .word(let w): return w
        case .string(let s): return "'\(s)'"
        case .number(let n): return "\(n)"
        case .open: return "("
        case .close: return ")"
        case .comma: return ","
        }
    }

    func error(_ message: String) -> FilterSyntaxError { FilterSyntaxError(column: column, message: message) }

    mutating func keyword(_ word: String) -> Bool {
        if !atEnd, case .word(let w) = tokens[index].0, w.lowercased() == word { index += 1; return true }
        return false
    }

    mutating func expect(_ token: Token, _ what: String) throws(FilterSyntaxError) {
        guard !atEnd, tokens[index].0 == token else { throw error("expected \(what), found \(peekText)") }
        index += 1
    }

    mutating func parseOr() throws(FilterSyntaxError) -> FilterExpression {
        if let tokenizeError { throw tokenizeError }
        var left = try parseAnd()
        while keyword("or") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws(FilterSyntaxError) -> FilterExpression {
        var left = try parseUnary()
        while keyword("and") { left = .and(left, try parseUnary()) }
        return left
    }

    mutating func parseUnary() throws(FilterSyntaxError) -> FilterExpression {
        if keyword("not") { return .not(try parseUnary()) }
        if !atEnd, tokens[index].0 == .open {
            index += 1
            let inner = try parseOr()
            try expect(.close, "')'")
            return inner
        }
        guard !atEnd, case .word(let name) = tokens[index].0 else { throw error("expected a property, a function or '(', found \(peekText)") }
        index += 1
        let lower = name.lowercased()
        if ["startswith", "endswith", "contains"].contains(lower) {
            try expect(.open, "'(' after \(name)")
            guard !atEnd, case .word(let property) = tokens[index].0 else { throw error("expected a property name") }
            index += 1
            try expect(.comma, "','")
            guard !atEnd, case .string(let argument) = tokens[index].0 else { throw error("expected a quoted string") }
            index += 1
            try expect(.close, "')'")
            return .function(name: lower, property: property, argument: argument)
        }
        let op: FilterExpression.ComparisonOperator
        if keyword("eq") { op = .eq } else if keyword("ne") { op = .ne } else {
            throw error("expected eq or ne after \(name), found \(peekText)")
        }
        guard !atEnd else { throw error("expected a value") }
        let value: FilterValue
        switch tokens[index].0 {
        case .string(let s): value = .string(s)
        case .number(let n): value = .number(n)
        case .word(let w) where w.lowercased() == "true": value = .bool(true)
        case .word(let w) where w.lowercased() == "false": value = .bool(false)
        case .word(let w) where w.lowercased() == "null": value = .null
        default: throw error("expected a value ('text', true, false, null or a number), found \(peekText)")
        }
        index += 1
        return .compare(property: name, op: op, value: value)
    }
}
