import Dispatch
import EntraConfig
import EntraHTTP
import Foundation
import Logging

/// The OnChange program, a consumer of committed runs: it gets every pending change set on its
/// standard input. The caller journals `hookDelivered` only when the program exits 0, so a failure,
/// a timeout, a stop or a crash means the sets are delivered again: after the next run, or at the
/// next start (at least once).
struct ChangeHook {
    var program: String
    var timeout: Double
    /// The profile's name, in `ENTRA_PROFILE`.
    var profile: String
    var logger: Logger
    /// Set when the daemon stops: the program is ended and its change sets stay pending.
    var stop: CancellationFlag

    /// Runs the program on `pending` (oldest first).
    /// - Returns: the last run id the program accepted, or nil when it did not (logged).
    func deliver(_ pending: [(runId: String, lines: [UInt8])]) -> String? {
        guard let last = pending.last else { return nil }
        let input = pending.flatMap(\.lines)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        var environment = ProcessInfo.processInfo.environment
        environment["ENTRA_PROFILE"] = profile
        environment["ENTRA_RUN_ID"] = last.runId
        process.environment = environment
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            logger.error("OnChange program \(program) could not start: \(error); the changes will be delivered with the next run")
            return nil
        }
        let writer = stdin.fileHandleForWriting
        DispatchQueue(label: "entra-sync.onchange.input").async {
            try? writer.write(contentsOf: Data(input))
            try? writer.close()
        }
        let deadline = DispatchTime.now() + timeout
        while finished.wait(timeout: min(deadline, .now() + 0.2)) == .timedOut {
            guard DispatchTime.now() >= deadline || stop.isCancelled else { continue }
            process.terminate()
            if finished.wait(timeout: .now() + (stop.isCancelled ? 1 : 5)) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                // Bounded: while the daemon stops, Foundation does not always report the exit of a
                // program it killed, and a stop must not wait for it.
                _ = finished.wait(timeout: .now() + 2)
            }
            if stop.isCancelled {
                logger.notice("OnChange program \(program) ended: the daemon is stopping; \(pending.count) change sets will be delivered again after the next start")
            } else {
                logger.error("OnChange program \(program) timed out after \(TimeSpan.format(timeout)); \(pending.count) change sets will be delivered again with the next run")
            }
            return nil
        }
        guard process.terminationStatus == 0 else {
            logger.error("OnChange program \(program) failed with exit status \(process.terminationStatus); \(pending.count) change sets will be delivered again with the next run")
            return nil
        }
        return last.runId
    }
}
