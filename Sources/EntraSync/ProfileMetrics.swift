import EntraConfig
import EntraGraph
import EntraMirror
import Foundation

/// One profile's Prometheus text (node_exporter's textfile collector format) and where it goes.
/// Pure: the runner gathers the figures and writes the file (atomically, through `ExportWriter`).
enum ProfileMetrics {
    /// The profile's lines: last success, last run, objects in scope, runs by result, Graph requests.
    static func text(profile: String, status: ProfileSnapshot, runs: [String: Int], counters: GraphRequestCounters,
                     lastSuccess: RunSummary?, last: RunSummary?) -> String {
        let label = "profile=\"\(profile)\""
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { text += "\(name){\(labels)} \(value == value.rounded() ? String(Int(value)) : String(value))\n" }
        }
        metric("entra_sync_last_success_timestamp_seconds", "gauge", "When the last successful run finished.",
               [(label, lastSuccess?.finished ?? 0)])
        metric("entra_sync_last_run_duration_seconds", "gauge", "Duration of the last run.", [(label, Double(last?.durationMsec ?? 0) / 1000)])
        metric("entra_sync_last_run_success", "gauge", "1 if the last run succeeded.", [(label, last?.result == .succeeded ? 1 : 0)])
        metric("entra_sync_objects", "gauge", "Objects in the profile's scope.",
               [("\(label),kind=\"users\"", Double(status.users)), ("\(label),kind=\"groups\"", Double(status.groups)),
                ("\(label),kind=\"memberships\"", Double(status.memberships))])
        metric("entra_sync_runs_total", "counter", "Runs since the daemon started, by result.",
               RunSummary.Result.allCases.map { ("\(label),result=\"\($0.rawValue)\"", Double(runs[$0.rawValue] ?? 0)) })
        metric("entra_sync_graph_requests_total", "counter", "Graph requests sent.", [(label, Double(counters.requests))])
        metric("entra_sync_graph_throttled_total", "counter", "Graph answers 429.", [(label, Double(counters.throttled))])
        metric("entra_sync_graph_retries_total", "counter", "Graph requests retried.", [(label, Double(counters.retries))])
        return text
    }

    /// Where the file goes: `Metrics=` names a file, or a directory that gets `entra-sync-PROFILE.prom`;
    /// without it, `metrics.prom` in the profile's state directory.
    static func file(for profile: Profile, stateDirectory: String) -> (directory: String, name: String) {
        guard let path = profile.metricsPath else { return (stateDirectory, "metrics.prom") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return (path, "entra-sync-\(profile.name).prom")
        }
        return ((path as NSString).deletingLastPathComponent, (path as NSString).lastPathComponent)
    }
}
