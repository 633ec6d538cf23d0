import EntraConfig

/// The stable POSIX ids of a profile's users and groups: which object holds which id.
///
/// An object's id is derived from its object id: FNV-1a (64 bit) of the lower-cased object id,
/// modulo the size of the profile's `IdRange=`, from its first id. When that id is taken, the next
/// ids are tried in order (wrapping at the end of the range) until a free one: a linear probe, so
/// the same tenant on two hosts gives the same ids unless two objects collide, and then the order
/// in which they were first seen decides.
///
/// Every assignment is journaled (`Mutation.posixID`) and kept for good: an id never changes, and
/// the id of a deleted object stays with that object id (quarantined for ever: it comes back if
/// the object is restored, and is never handed to another object). Assignments outside a changed
/// `IdRange=` stay valid; only new objects take ids from the new range.
///
/// `IdPinsFile=` gives new objects chosen ids (e.g. the ids another host assigned, as
/// `entra-syncctl ids` prints them), ahead of the hash.
public struct PosixIDs: Sendable, Equatable {
    /// Object id (as Graph spells it) → id.
    public private(set) var byObject: [String: UInt32] = [:]
    /// Id → object id: every id ever assigned.
    public private(set) var owners: [UInt32: String] = [:]

    public init() {}

    public var count: Int { byObject.count }
    public subscript(object: String) -> UInt32? { byObject[object] }

    /// Records an assignment read from the journal or just made. An id or object already taken
    /// keeps its first assignment (a journal cannot hand an id out twice).
    public mutating func apply(object: String, id: UInt32) {
        guard byObject[object] == nil, owners[id] == nil else { return }
        byObject[object] = id
        owners[id] = object
    }

    /// Where the probe for `object` starts in `range`.
    public static func preferred(_ object: String, in range: PosixIDRange) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in object.lowercased().utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return range.first + UInt32(hash % UInt64(range.count))
    }

    /// The mutations that give each of `objects` without an id one, in the order given (sort
    /// them for a result that does not depend on dictionary order). Ids in `excluded` (local
    /// accounts') are skipped as if taken. Objects that find the range full get none.
    ///
    /// `pins` (`IdPinsFile=`, by lower-cased object id) come first: an object without an id gets
    /// its pinned id when no other object holds it and it is not excluded; else it falls back to
    /// the probe. The probe skips ids pinned to other objects, so an object that appears later
    /// still finds its pin free. Pins never move an id already assigned.
    public func assign(_ objects: [String], in range: PosixIDRange, excluding excluded: Set<UInt32> = [],
                       pins: [String: UInt32] = [:]) -> [Mutation] {
        var next = self
        var mutations: [Mutation] = []
        let pinned = Set(pins.values)
        var unpinned: [String] = []
        for object in objects where next.byObject[object] == nil {
            if let pin = pins[object.lowercased()], range.contains(pin), next.owners[pin] == nil, !excluded.contains(pin) {
                next.apply(object: object, id: pin)
                mutations.append(.posixID(object: object, id: pin))
            } else {
                unpinned.append(object)
            }
        }
        for object in unpinned where next.byObject[object] == nil {
            let own = pins[object.lowercased()]
            let start = Self.preferred(object, in: range)
            var candidate = start
            var found: UInt32?
            for _ in 0..<range.count {
                if next.owners[candidate] == nil && !excluded.contains(candidate) && (candidate == own || !pinned.contains(candidate)) {
                    found = candidate
                    break
                }
                candidate = candidate == range.last ? range.first : candidate + 1
            }
            guard let id = found else { break }
            next.apply(object: object, id: id)
            mutations.append(.posixID(object: object, id: id))
        }
        return mutations
    }
}
