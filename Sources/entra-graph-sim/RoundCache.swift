/// Rendered delta rounds by what they were rendered from, so the same request for the same tenant
/// state is served from the pages already rendered.
///
/// A round's pages depend on the request (kind, since, `$select`, page size, host) and on the
/// tenant: every admin change bumps `Tenant.sequence` (and a sync reset the generation), which
/// makes every cached entry stale.
struct RoundCache {
    struct Key: Hashable {
        var kind: String
        var since: Int?
        /// `$deltatoken=latest`: an empty round.
        var latest: Bool
        var select: [String]?
        var pageSize: Int
        var memberSlice: Int
        var maxLinksPerPage: Int
        var base: String
        var generation: Int
    }

    private var sequence = -1
    private var roundIds: [Key: String] = [:]

    /// The round id cached for `key` at the tenant's `sequence`; forgets everything older.
    mutating func roundId(for key: Key, sequence: Int) -> String? {
        if sequence != self.sequence {
            roundIds = [:]
            self.sequence = sequence
        }
        return roundIds[key]
    }

    mutating func store(_ roundId: String, for key: Key, sequence: Int) {
        if sequence != self.sequence {
            roundIds = [:]
            self.sequence = sequence
        }
        roundIds[key] = roundId
    }
}
