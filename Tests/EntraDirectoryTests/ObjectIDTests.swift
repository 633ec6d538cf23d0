import EntraDirectory
import Testing

@Suite struct ObjectIDTests {
    @Test func guidRoundTripsThroughItsBytes() {
        let text = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        let id = ObjectID(text)
        #expect(id.description == text)
        #expect(id.withUTF8 { String(decoding: $0, as: UTF8.self) } == text)
        var bytes = Array(text.utf8)
        #expect(bytes.withUnsafeMutableBytes { ObjectID(utf8: UnsafeRawBufferPointer($0)) } == id)
        #expect(MemoryLayout<ObjectID>.size <= 24)
    }

    @Test func anythingElseIsKeptAsText() {
        for text in ["u1", "", "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", "0f1e2d3c+4b5a-6978-8796-a5b4c3d2e1f0",
                     "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg", "ü-\u{0}\"x"] {
            let id = ObjectID(text)
            #expect(id.description == text)
            #expect(id.withUTF8 { String(decoding: $0, as: UTF8.self) } == text)
            #expect(id != ObjectID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"))
        }
        // Upper case is not the same id's text: it is kept, not folded.
        #expect(ObjectID("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0") != ObjectID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"))
    }

    @Test func equalIdsHashEqualAndOrderFollowsTheText() {
        var rng = SystemRandomNumberGenerator()
        var texts: [String] = ["u1", "zz", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "0"]
        for _ in 0..<200 {
            let hex = (0..<32).map { _ in "0123456789abcdef".randomElement(using: &rng)! }
            var text = String(hex)
            for at in [8, 13, 18, 23] { text.insert("-", at: text.index(text.startIndex, offsetBy: at)) }
            texts.append(text)
        }
        let ids = texts.map { ObjectID($0) }
        #expect(ids.sorted().map(\.description) == texts.sorted())
        #expect(Set(ids).count == Set(texts).count)
        for (text, id) in zip(texts, ids) {
            #expect(ObjectID(text) == id)
            #expect(ObjectID(text).hashValue == id.hashValue)
        }
    }
}
