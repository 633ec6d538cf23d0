import Foundation

/// JSON batching: `POST /v1.0/$batch {"requests":[{"id":"1","method":"GET","url":"/users?$top=999"}]}`,
/// at most 20 requests. Each is counted, charged and throttled on its own (a throttled one is a 429
/// inside a 200 batch) and carries the batch's `Authorization`; the batch takes as long as its
/// slowest request. `dependsOn` is not modelled: requests are independent.
extension Simulator {
    /// The batch's answer and its time per page. Called with the lock held.
    func batch(_ request: Request) -> (Response, Int) {
        stats["requests.batch", default: 0] += 1
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any],
              let requests = body["requests"] as? [[String: Any]], !requests.isEmpty else {
            return (graphError(400, "BadRequest", "Invalid batch payload: a JSON object with a non-empty \"requests\" array is expected.", request), 0)
        }
        guard requests.count <= 20 else {
            return (graphError(400, "BadRequest", "The number of requests in a batch exceeds the limit of 20.", request), 0)
        }
        var out = JSONBytes()
        out.raw("{\"responses\":[")
        var slowest = 0
        for (n, item) in requests.enumerated() {
            let id = item["id"] as? String ?? "\(n + 1)"
            let url = item["url"] as? String ?? ""
            let target = "/v1.0" + (url.hasPrefix("/") ? url : "/" + url)
            let (path, query) = HTTPServer.split(target)
            var headers = request.headers
            for (name, value) in item["headers"] as? [String: String] ?? [:] { headers[name.lowercased()] = value }
            let sub = Request(method: (item["method"] as? String ?? "GET").uppercased(), target: target, path: path, query: query,
                              headers: headers, body: [])
            let admission = admit(sub)
            var response = admission.rejected ?? route(sub)
            response.headers += admission.headers
            slowest = max(slowest, admission.latencyMs)
            if n > 0 { out.raw(",") }
            out.raw("{\"id\":")
            out.string(id)
            out.raw(",\"status\":")
            out.raw(String(response.status))
            out.raw(",\"headers\":{")
            for (i, header) in response.headers.enumerated() {
                if i > 0 { out.raw(",") }
                out.string(header.0)
                out.raw(":")
                out.string(header.1)
            }
            out.raw("},\"body\":")
            if response.body.first == UInt8(ascii: "{") {
                out.bytes += response.body
            } else {
                out.string(String(decoding: response.body, as: UTF8.self))
            }
            out.raw("}")
        }
        out.raw("]}")
        return (Response(status: 200, headers: [("Content-Type", "application/json")], body: out.bytes), slowest)
    }
}
