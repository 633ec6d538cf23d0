import EntraConfig
import EntraDirectory
import EntraJournal
@testable import EntraMirror
import Foundation
import Testing

@Suite("POSIX ids")
struct PosixIDsTests {
    let range = PosixIDRange(first: 1_879_113_728, last: 1_879_114_727)  // 1000 ids: collisions are common

    /// Two object ids whose probes start at the same id (found by search, deterministic).
    func collidingPair() -> (String, String) {
        var seen: [UInt32: String] = [:]
        for i in 0... {
            let id = String(format: "%08x-0000-4000-8000-%012x", i, i * 7919)
            let start = PosixIDs.preferred(id, in: range)
            if let other = seen[start] { return (other, id) }
            seen[start] = id
        }
        fatalError("unreachable")
    }

    @Test func derivedFromTheObjectIdInsideTheRange() {
        let id = "6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c"
        let preferred = PosixIDs.preferred(id, in: range)
        #expect(range.contains(preferred))
        // The same on every host, whatever the case Graph spells the id in.
        #expect(PosixIDs.preferred(id.uppercased(), in: range) == preferred)
        #expect(PosixIDs.preferred(id, in: .default) == PosixIDs.preferred(id, in: .default))
        #expect(PosixIDs.preferred(id, in: .default) != preferred)
        let assigned = PosixIDs().assign([id], in: range)
        #expect(assigned == [.posixID(object: id, id: preferred)])
    }

    @Test func aCollisionTakesTheNextFreeIdAndTheOrderDecides() throws {
        let (a, b) = collidingPair()
        let start = PosixIDs.preferred(a, in: range)
        var ids = PosixIDs()
        for mutation in ids.assign([a, b], in: range) {
            guard case .posixID(let object, let id) = mutation else { throw Failure("unexpected \(mutation)") }
            ids.apply(object: object, id: id)
        }
        #expect(ids[a] == start)
        #expect(ids[b] == (start == range.last ? range.first : start + 1))
        // Excluded ids (local accounts') are skipped like taken ones.
        let excluded = PosixIDs().assign([a], in: range, excluding: [start])
        #expect(excluded == [.posixID(object: a, id: start == range.last ? range.first : start + 1)])
    }

    @Test func theProbeWrapsAtTheEndOfTheRangeAndAFullRangeAssignsNothingMore() throws {
        let small = PosixIDRange(first: 70_000, last: 70_999)
        var ids = PosixIDs()
        let objects = (0..<1_000).map { "obj-\($0)" }
        for case .posixID(let object, let id) in ids.assign(objects, in: small) { ids.apply(object: object, id: id) }
        #expect(ids.count == 1_000)
        #expect(Set(ids.byObject.values).count == 1_000)
        #expect(ids.byObject.values.allSatisfy(small.contains))
        #expect(ids.assign(["one-more"], in: small).isEmpty)
    }

    /// Ids stay with their object for good: a removed user keeps its id (quarantined), and a new
    /// object whose probe starts there gets another one.
    @Test func aDeletedObjectsIdIsNeverReused() throws {
        let (a, b) = collidingPair()
        var state = MirrorState()
        state.apply(.upsertUser(DirectoryUser(id: a)))
        for m in state.posixIDs.assign([a], in: range) { state.apply(m) }
        let aID = try #require(state.posixIDs[a])
        state.apply(.removeUser(a))
        #expect(state.posixIDs[a] == aID)
        for m in state.posixIDs.assign([b], in: range) { state.apply(m) }
        #expect(state.posixIDs[b] != aID)
        // Re-applying a conflicting record (damage, or a second writer) never moves an id.
        state.apply(.posixID(object: "other", id: aID))
        state.apply(.posixID(object: a, id: aID + 5))
        #expect(state.posixIDs[a] == aID && state.posixIDs.owners[aID] == a && state.posixIDs["other"] == nil)
    }

    /// `IdPinsFile=`: a pinned object gets its pin (whatever the case of its object id), a pin
    /// another object holds falls back to the probe, and pins never move an id already assigned.
    @Test func pinsAreHonouredWhenFreeAndNeverMoveAnId() throws {
        let (a, b) = collidingPair()
        let c = "6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c"
        let pinA = range.first + 7, pinC = range.last
        var ids = PosixIDs()
        let pins = [a.lowercased(): pinA, c: pinC]
        for m in ids.assign([a.uppercased(), b], in: range, pins: pins) {
            guard case .posixID(let object, let id) = m else { throw Failure("unexpected \(m)") }
            ids.apply(object: object, id: id)
        }
        #expect(ids[a.uppercased()] == pinA)
        // b is not pinned: its probe starts where a's would have and finds that id free.
        #expect(ids[b] == PosixIDs.preferred(b, in: range))

        // A pin taken by another object (or a local account's id) falls back to the hash.
        let taken = ids.assign([c], in: range, pins: [c: pinA])
        #expect(taken == [.posixID(object: c, id: PosixIDs.preferred(c, in: range))])
        let local = ids.assign([c], in: range, excluding: [pinC], pins: pins)
        #expect(local == [.posixID(object: c, id: PosixIDs.preferred(c, in: range))])
        // An object that already has an id keeps it, whatever its pin says.
        #expect(ids.assign([b], in: range, pins: [b: range.first + 100]).isEmpty)

        // The probe skips ids pinned to other objects: a pinned object seen later still finds its pin free.
        let late = ids.assign([c], in: range, pins: [a: pinA, b: PosixIDs.preferred(c, in: range)])
        guard case .posixID(_, let cID) = try #require(late.first) else { throw Failure("\(late)") }
        #expect(cID != PosixIDs.preferred(c, in: range) && range.contains(cID))
    }

    @Test func recordRoundTripsAndRejectsDamage() throws {
        let mutation = Mutation.posixID(object: "6f1e2c1a-5b7e-4c1d-9a52-0d3e1f2a3b4c", id: 2_147_352_575)
        #expect(mutation.record.type == 40)
        #expect(try Mutation(record: mutation.record) == mutation)
        var truncated = mutation.record
        truncated.payload.removeLast(2)
        #expect(throws: ByteReader.Malformed.self) { try Mutation(record: truncated) }
    }

    /// Through a real journal: assignments survive a restart (replay) and a compaction (snapshot),
    /// and the replayed state assigns nothing twice.
    @Test func assignmentsSurviveRestartAndCompaction() throws {
        let dir = NSTemporaryDirectory() + "posix-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var state = MirrorState()
        let users = (0..<300).map { String(format: "%08x-1111-4000-8000-000000000000", $0) }
        var (journal, _) = try Journal.open(directory: dir) { _ in }
        let created = users.map { Mutation.upsertUser(DirectoryUser(id: $0)) }
        try journal.commit(created.map(\.record))
        for m in created { state.apply(m) }
        let assigned = state.posixIDs.assign(users, in: range)
        #expect(assigned.count == 300)
        try journal.commit(assigned.map(\.record))
        for m in assigned { state.apply(m) }
        journal.close()

        func reopen() throws -> MirrorState {
            var replay = MirrorReplay()
            var failure: Error?
            (journal, _) = try Journal.open(directory: dir) { record in
                do { try replay.apply(record) } catch { failure = error }
            }
            if let failure { throw failure }
            return replay.state
        }
        var replayed = try reopen()
        #expect(replayed.posixIDs == state.posixIDs)
        #expect(replayed.posixIDs.assign(users, in: range).isEmpty)

        // Compaction: the snapshot carries the assignments, also of users removed since.
        replayed.apply(.removeUser(users[0]))
        try journal.commit([Mutation.removeUser(users[0]).record])
        let snapshotOf = replayed
        try journal.writeSnapshot { emit in try snapshotOf.snapshotMutations { try emit($0.record) } }
        journal.close()
        let compacted = try reopen()
        journal.close()
        #expect(compacted.posixIDs == state.posixIDs)
        #expect(compacted.users[users[0]] == nil)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
