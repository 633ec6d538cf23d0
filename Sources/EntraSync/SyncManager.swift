import Dispatch
import EntraConfig
import EntraControl
import EntraGraph
import EntraSystemd
import Foundation
import Logging
import Synchronization

/// The daemon's core: its profiles, their runners, and the control interface over them.
public final class SyncManager: Sendable {
    public struct Options: Sendable {
        public var configDirectory: String
        public var stateDirectory: String
        public var compaction: ProfileRunner.CompactionPolicy
        public var access: AccessPolicy
        public init(configDirectory: String, stateDirectory: String, compaction: ProfileRunner.CompactionPolicy = .init(),
                    access: AccessPolicy = AccessPolicy(adminGroup: "entra-sync-admin")) {
            self.configDirectory = configDirectory
            self.stateDirectory = stateDirectory
            self.compaction = compaction
            self.access = access
        }
    }

    private struct Profiles: Sendable {
        var runners: [String: ProfileRunner] = [:]
        /// Profiles whose file is invalid and that never loaded: name → error.
        var broken: [String: String] = [:]
        var stopping = false
    }

    private let options: Options
    private let logger: Logger
    private let profiles = Mutex(Profiles())
    /// The scheduler queue: timers fire here; the watchdog is fed from here too.
    public let schedulerQueue = DispatchQueue(label: "entra-sync.scheduler")

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    // MARK: Lifecycle

    /// Loads every profile and opens its journal. Profiles that fail to load are reported, the others run.
    public func start() {
        _ = reload()
    }

    /// Re-reads the configuration directory: adds new profiles, removes deleted ones, updates changed
    /// ones. A profile whose file became invalid keeps its old configuration and shows config-error.
    @discardableResult
    public func reload() -> ReloadReply {
        let set = ProfileLoader.loadDirectory(options.configDirectory)
        for warning in set.warnings { logger.warning("\(warning)") }
        var reply = ReloadReply()
        var toStart: [ProfileRunner] = []
        var toStop: [ProfileRunner] = []
        let loaded = Dictionary(uniqueKeysWithValues: set.profiles.map { ($0.name, $0) })
        profiles.withLock { p in
            guard !p.stopping else { return }
            for (name, error) in set.errors.sorted(by: { $0.key < $1.key }) {
                for problem in error.problems {
                    logger.error("\(problem)", metadata: ["MESSAGE_ID": "\(MessageID.configError)", "profile": "\(name)"])
                    reply.errors.append("\(problem)")
                }
                if let runner = p.runners[name] {
                    runner.markConfigError("\(error) (still running with the previous configuration)")
                } else {
                    p.broken[name] = "\(error)"
                }
            }
            for (name, profile) in loaded {
                p.broken[name] = nil
                if let runner = p.runners[name] {
                    if runner.profile != profile {
                        runner.update(profile: profile)
                        reply.changed.append(name)
                    } else {
                        runner.markConfigError(nil)
                    }
                } else {
                    let runner = ProfileRunner(profile: profile, stateRoot: options.stateDirectory, schedulerQueue: schedulerQueue,
                                               logger: logger, compaction: options.compaction) { [weak self] runner, summary in
                        self?.runFinished(runner, summary)
                    }
                    p.runners[name] = runner
                    toStart.append(runner)
                    reply.added.append(name)
                }
            }
            for (name, runner) in p.runners where loaded[name] == nil && set.errors[name] == nil {
                p.runners[name] = nil
                toStop.append(runner)
                reply.removed.append(name)
            }
            for name in p.broken.keys where set.errors[name] == nil { p.broken[name] = nil }
        }
        for runner in toStop {
            logger.info("profile removed from the configuration; its state stays in \(options.stateDirectory)/\(runner.name)",
                        metadata: ["profile": "\(runner.name)"])
            _ = runner.stop(deadline: .now() + 30)
        }
        for runner in toStart {
            runner.refreshExportsIfStale()
            runner.start()
        }
        reply.added.sort()
        reply.removed.sort()
        reply.changed.sort()
        return reply
    }

    /// Stops every runner (cancelling in-flight runs; nothing partial is committed).
    public func stop(deadline: DispatchTime) {
        let runners = profiles.withLock { p -> [ProfileRunner] in
            p.stopping = true
            return Array(p.runners.values)
        }
        let group = DispatchGroup()
        for runner in runners {
            DispatchQueue.global().async(group: group) { _ = runner.stop(deadline: deadline) }
        }
        _ = group.wait(timeout: deadline)
    }

    private func runFinished(_ runner: ProfileRunner, _ summary: RunSummary) {
        SystemdNotifier.status(statusLine())
    }

    /// The one-line summary for systemd's STATUS=.
    public func statusLine() -> String {
        let all = status(profile: nil)
        let failed = all.filter { $0.state == "failed" || $0.state == "config-error" }.map(\.name)
        let users = all.reduce(0) { $0 + $1.users }
        let groups = all.reduce(0) { $0 + $1.groups }
        var line = "\(all.count) profile\(all.count == 1 ? "" : "s"), \(users) users, \(groups) groups"
        if !failed.isEmpty { line += "; failing: \(failed.joined(separator: ", "))" }
        return line
    }

    // MARK: Queries

    public func runner(named name: String) -> ProfileRunner? {
        profiles.withLock { $0.runners[name] }
    }

    public func status(profile: String?) -> [ProfileStatus] {
        let (runners, broken) = profiles.withLock { ($0.runners, $0.broken) }
        var result = runners.values.map { $0.status() }
        for (name, error) in broken {
            result.append(ProfileStatus(name: name, state: "config-error", error: error))
        }
        if let profile { result = result.filter { $0.name == profile } }
        return result.sorted { $0.name < $1.name }
    }

    // MARK: Control interface

    public func handle(_ call: VarlinkCall, _ replier: VarlinkReplier) {
        do {
            let mutating = [ManagerProtocol.Method.runNow, ManagerProtocol.Method.reload, ManagerProtocol.Method.scimPush].contains(call.method)
            if mutating && !options.access.mayMutate(call.peer) {
                logger.warning("refused \(call.method) from uid \(call.peer.uid) (pid \(call.peer.pid))")
                replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.permissionDenied,
                                              parameters: ["method": call.method, "adminGroup": options.access.adminGroup ?? ""]))
                return
            }
            switch call.method {
            case ManagerProtocol.Method.status:
                let request = try call.decode(StatusRequest.self)
                let profiles = status(profile: request.profile)
                if let name = request.profile, profiles.isEmpty {
                    replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.noSuchProfile,
                                                  parameters: ProfileErrorParameters(profile: name)))
                    return
                }
                replier.reply(StatusReply(profiles: profiles))
            case ManagerProtocol.Method.runNow:
                try runNow(try call.decode(RunNowRequest.self), replier)
            case ManagerProtocol.Method.reload:
                replier.reply(reload())
            default:
                if try !handleQuery(call, replier), try !handleScim(call, replier) { replier.fail(.methodNotFound(call.method)) }
            }
        } catch let error as VarlinkError {
            replier.fail(error)
        } catch {
            replier.fail(.invalidParameter("parameters"))
        }
    }

    private func runNow(_ request: RunNowRequest, _ replier: VarlinkReplier) throws {
        let names: [String]
        let (runners, broken) = profiles.withLock { ($0.runners, $0.broken) }
        if let name = request.profile {
            guard runners[name] != nil else {
                let reason = broken[name]
                replier.fail(try VarlinkError(name: reason == nil ? ManagerProtocol.ErrorName.noSuchProfile : ManagerProtocol.ErrorName.profileNotRunnable,
                                              parameters: ProfileErrorParameters(profile: name, reason: reason)))
                return
            }
            names = [name]
        } else if request.all == true || runners.count == 1 {
            names = runners.keys.sorted()
        } else {
            replier.fail(.invalidParameter("profile"))
            return
        }
        let wait = request.wait ?? false
        let results = RunNowResults()
        let group = DispatchGroup()
        for name in names {
            let runner = runners[name]!
            var waiter: (@Sendable (RunSummary) -> Void)?
            if wait {
                group.enter()
                waiter = { @Sendable (summary: RunSummary) -> Void in
                    let info = ProfileRunner.runInfo(summary)
                    results.value.withLock { r in
                        var entry = r[name] ?? RunNowResult(profile: name, started: true)
                        entry.run = info
                        r[name] = entry
                    }
                    group.leave()
                }
            }
            let outcome = runner.trigger(full: request.full ?? false, allowDeletions: request.allowDeletions ?? 0, waiter: waiter)
            switch outcome {
            case .success(let started):
                results.value.withLock { r in
                    let run = r[name]?.run
                    r[name] = RunNowResult(profile: name, started: started, run: run)
                }
            case .failure(let notRunnable):
                if wait { group.leave() }
                if names.count == 1 {
                    replier.fail(try VarlinkError(name: ManagerProtocol.ErrorName.profileNotRunnable,
                                                  parameters: ProfileErrorParameters(profile: name, reason: notRunnable.reason)))
                    return
                }
                results.value.withLock { $0[name] = RunNowResult(profile: name, started: false) }
            }
        }
        let finish: @Sendable () -> Void = {
            let runs = results.value.withLock { r in names.compactMap { r[$0] } }
            replier.reply(RunNowReply(runs: runs))
        }
        if wait {
            group.notify(queue: .global(), execute: finish)
        } else {
            finish()
        }
    }
}

/// Collects the per-profile answers of one RunNow call; waiters fill it from run queues.
private final class RunNowResults: Sendable {
    let value = Mutex<[String: RunNowResult]>([:])
}
