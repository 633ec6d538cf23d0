import Foundation
import Testing
import TestSupport
@testable import EntraControl

/// Seeded random control messages: each is refused, or accepted as a call that survives a round
/// trip through the wire format unchanged.
@Suite("control fuzz")
struct ControlFuzzTests {
    static let valid = [
        #"{"method":"io.entrasync.Manager.Status","parameters":{"profile":"contoso"}}"#,
        #"{"method":"io.entrasync.Manager.RunNow","parameters":{"profile":"a","wait":true},"more":false}"#,
        #"{"method":"io.entrasync.Manager.Status","oneway":true}"#,
    ]

    @Test("every accepted call re-encodes and parses to the same call; typed parameters round-trip too")
    func controlMessages() throws {
        var rng = SeededGenerator(seed: 3)
        let tokens = ["{", "}", "\"method\"", ":", "\"io.entrasync.Manager.Status\"", ",", "\"parameters\"", "{}", "[", "]", "null",
                      "\"more\":true", "\"oneway\":true", "1e999", "\"\\u0000\"", "\"profile\"", "\"contoso\"", "{\"profile\":\"x\"}"]
        let peer = PeerCredentials(pid: 1, uid: 0, gid: 0)
        var accepted = 0
        for _ in 0..<5000 {
            // Half are token soup, half are valid calls with a few tokens spliced in.
            var text = rng.text(tokens: tokens, count: Int(rng.next() % 16))
            if rng.next() % 2 == 0 {
                var valid = Array(Self.valid[Int(rng.next() % UInt64(Self.valid.count))])
                for _ in 0..<Int(rng.next() % 3) {
                    let at = Int(rng.next() % UInt64(valid.count + 1))
                    valid.insert(contentsOf: rng.text(tokens: tokens, count: 1), at: at)
                }
                text = String(valid)
            }
            guard let call = VarlinkCall.parse(Array(text.utf8), peer: peer) else { continue }
            accepted += 1
            var object: [String: Any] = ["method": call.method, "oneway": call.oneway, "more": call.more]
            object["parameters"] = try JSONSerialization.jsonObject(with: Data(call.parameters))
            let again = VarlinkCall.parse(Array(try JSONSerialization.data(withJSONObject: object)), peer: peer)
            #expect(again?.method == call.method && again?.oneway == call.oneway && again?.more == call.more, "\(text)")
            #expect(again.map { NSDictionary(dictionary: try! JSONSerialization.jsonObject(with: Data($0.parameters)) as! [String: Any]) }
                    == NSDictionary(dictionary: object["parameters"] as! [String: Any]), "\(text)")
            if let request = try? call.decode(StatusRequest.self) {
                let encoded = try JSONEncoder().encode(request)
                #expect(try JSONDecoder().decode(StatusRequest.self, from: encoded).profile == request.profile)
            }
        }
        #expect(accepted > 0)
    }
}
