import ArgumentParser
import Dispatch
import EntraControl
import EntraEvents
import EntraService
import EntraSync
import EntraSystemd
import EntraUserDB
import Foundation
import Logging

/// entra-syncd: keeps a local mirror of Microsoft Entra ID users, groups and memberships.
struct Daemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entra-syncd",
        abstract: "Mirror Microsoft Entra ID users, groups and memberships into a local journal.",
        discussion: """
            Reads one profile per tenant from CONFIG-DIR/*.conf, runs Microsoft Graph delta syncs on \
            each profile's Interval, keeps the result in a crash-safe journal under STATE-DIR/PROFILE/ \
            and writes STATE-DIR/PROFILE/export/{users,groups}.json after each committed run. \
            Control it with entra-syncctl over the socket. SIGHUP reloads the profiles; SIGTERM stops.
            """,
        version: ManagerProtocol.version)

    @Option(name: .customLong("config-dir"), help: "Directory of profile files (*.conf).")
    var configDirectory = "/etc/entra-sync"

    @Option(name: .customLong("state-dir"), help: "Where journals and exports live. Default: $STATE_DIRECTORY or /var/lib/entra-sync.")
    var stateDirectory: String?

    @Option(name: .customLong("socket"), help: "Control socket path. Default: $RUNTIME_DIRECTORY/control.sock or /run/entra-sync/control.sock.")
    var socket: String?

    @Option(name: .customLong("userdb-socket"),
            help: "The io.systemd.UserDatabase socket for profiles with [Linux]. Default: a socket passed by systemd named 'userdb', or /run/systemd/userdb/io.entrasync; 'none' serves none.")
    var userdbSocket: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("admin-group"), help: "Group whose members may run-now and reload over the socket (besides root).")
    var adminGroup = "entra-sync-admin"

    @Option(name: .customLong("max-concurrent-runs"),
            help: "Runs at once across every profile; more wait their turn (status shows them queued). Default: twice the cores, at least 4.")
    var maxConcurrentRuns: Int?

    @Option(name: .customLong("compact-min-bytes"), help: .hidden)
    var compactMinBytes: Int?

    /// Tests: 0 compacts after every committed run.
    @Option(name: .customLong("compact-factor"), help: .hidden)
    var compactFactor: Int?

    func run() throws {
        // First, before other threads start: the signals are blocked here and in every thread
        // started later, and wait in the event loop's signalfd for the handlers below.
        let signals = DispatchQueue(label: "entra-syncd.signals")
        let signalSources = Dictionary(uniqueKeysWithValues: [SIGTERM, SIGINT, SIGHUP].map {
            ($0, EventLoop.shared.signalSource($0, queue: signals))
        })
        let environment = ProcessInfo.processInfo.environment
        Heap.configure(environment: environment)
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
        LogSetup.bootstrap(level: level, identifier: "entra-syncd")
        let logger = Logger(label: "entra-syncd")

        let stateDir = stateDirectory
            ?? environment["STATE_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? "/var/lib/entra-sync"
        let socketPath = socket
            ?? environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map { "\($0)/control.sock" } }
            ?? "/run/entra-sync/control.sock"

        do {
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw ValidationError("cannot create the state directory \(stateDir): \(error.localizedDescription)")
        }

        // Before anything holds descriptors (the event loop and the signal sources exist already).
        let limit = DescriptorLimit.raiseToHard()
        if let error = limit.error {
            logger.warning("cannot raise the open-file limit above \(DescriptorLimit.format(limit.before)): \(String(cString: strerror(error)))")
        } else {
            logger.debug("open-file limit: \(DescriptorLimit.format(limit.before)) raised to \(DescriptorLimit.format(limit.after))")
        }

        signal(SIGPIPE, SIG_IGN)
        var compaction = ProfileRunner.CompactionPolicy()
        if let compactMinBytes { compaction.minBytes = compactMinBytes }
        if let compactFactor { compaction.factor = max(0, compactFactor) }
        if let maxConcurrentRuns, maxConcurrentRuns < 1 {
            throw ValidationError("--max-concurrent-runs must be at least 1, not \(maxConcurrentRuns)")
        }
        let statusUpdates = StatusUpdates()
        let manager = SyncManager(options: .init(configDirectory: configDirectory, stateDirectory: stateDir, compaction: compaction,
                                                 maxConcurrentRuns: maxConcurrentRuns ?? SyncManager.defaultMaxConcurrentRuns),
                                  logger: logger) { manager in statusUpdates.runFinished(manager) }
        let service = ManagerService(engine: manager, access: AccessPolicy(adminGroup: adminGroup), logger: logger)
        // Listening before the profiles load (their first runs may use every descriptor); clients
        // wait in the backlog until the profiles are loaded and the server starts.
        let passed = SystemdNotifier.namedListenFDs()
        let listenFD = passed.first { $0.name != "userdb" }?.fd
        let userdbFD = passed.first { $0.name == "userdb" }?.fd
        if listenFD == nil {
            let parent = (socketPath as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        let info = VarlinkServiceInfo(vendor: "entra-sync", product: "entra-syncd", version: ManagerProtocol.version,
                                      url: "file:///usr/share/doc/entra-sync/README.md.gz",
                                      interfaces: [ManagerProtocol.interface: ManagerProtocol.description])
        let server: VarlinkServer
        do {
            server = try VarlinkServer(path: socketPath, mode: 0o660, listenFD: listenFD, info: info,
                                       log: { logger.warning("\($0)") }) { call, replier in
                service.handle(call, replier)
            }
        } catch {
            logger.critical("cannot listen on \(socketPath): \(error)")
            throw ExitCode(1)
        }
        manager.start()
        server.start()
        let userdb = startUserDB(manager: manager, passedFD: userdbFD, logger: logger)
        userdb?.start()
        logger.info("listening on \(socketPath); \(manager.statusLine())")
        SystemdNotifier.ready(status: manager.statusLine())

        // The watchdog is fed from the scheduler queue itself, so a wedged scheduler gets the daemon restarted.
        var watchdog: EventTimer?
        if let interval = SystemdNotifier.watchdogInterval(), interval > 0 {
            let timer = EventLoop.shared.timer(queue: manager.schedulerQueue)
            timer.schedule(deadline: .now(), repeating: interval / 2, leeway: .milliseconds(100))
            timer.setEventHandler { SystemdNotifier.watchdog() }
            timer.activate()
            watchdog = timer
        }

        let stopOnce = DispatchSemaphore(value: 1)
        let stop: @Sendable (Int32) -> Void = { sig in
            guard stopOnce.wait(timeout: .now()) == .success else { return }
            logger.info("received signal \(sig), stopping")
            SystemdNotifier.stopping()
            manager.stop(deadline: .now() + 20)
            server.stop()
            userdb?.stop()
            logger.info("stopped")
            // _exit, not exit: the state is closed, and exit's static destructors would run while
            // other threads (the event loop, curl, pools) still exist.
            fflush(nil)
            _exit(0)
        }
        let term = signalSources[SIGTERM]!
        term.setEventHandler { stop(SIGTERM) }
        term.activate()
        let int = signalSources[SIGINT]!
        int.setEventHandler { stop(SIGINT) }
        int.activate()
        let hup = signalSources[SIGHUP]!
        hup.setEventHandler {
            SystemdNotifier.reloading()
            let reply = manager.reload()
            logger.info("reloaded: added \(reply.added), removed \(reply.removed), changed \(reply.changed), errors \(reply.errors.count)")
            SystemdNotifier.ready(status: manager.statusLine())
        }
        hup.activate()
        // Not dispatchMain(): it parks this thread in sigsuspend with every signal unblocked, and
        // nothing here uses the main queue. The signals stay blocked and wait for their sources.
        withExtendedLifetime((term, int, hup, server, watchdog, userdb)) {
            while true { pause() }
        }
    }
}

extension Daemon {
    /// The userdb socket (world-readable, like NSS: it serves only what `[Linux]` allows), or nil
    /// when there is none to serve. A socket passed by systemd is served even before a profile has `[Linux]`.
    func startUserDB(manager: SyncManager, passedFD: Int32?, logger: Logger) -> VarlinkServer? {
        if userdbSocket == "none" { return nil }
        let path = userdbSocket ?? "/run/systemd/userdb/\(UserDatabase.defaultService)"
        let wanted = passedFD != nil || userdbSocket != nil
            || manager.profileNames.contains { manager.runner(named: $0)?.profile.linux != nil }
        guard wanted else { return nil }
        let service = UserDatabase(service: (path as NSString).lastPathComponent) {
            manager.profileNames.compactMap { manager.runner(named: $0)?.linuxDirectory }
        }
        if passedFD == nil {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        }
        let info = VarlinkServiceInfo(vendor: "entra-sync", product: "entra-syncd", version: ManagerProtocol.version,
                                      url: "file:///usr/share/doc/entra-sync/README.md.gz",
                                      interfaces: [UserDatabase.interface: UserDatabase.description])
        do {
            let server = try VarlinkServer(path: path, mode: 0o666, listenFD: passedFD, info: info,
                                           log: { logger.warning("userdb: \($0)") }) { call, replier in
                service.handle(call, replier)
            }
            logger.info("serving Linux users and groups on \(passedFD == nil ? path : "the socket systemd passed")")
            return server
        } catch {
            logger.error("cannot serve Linux users and groups on \(path): \(error); enable entra-sync-userdb.socket or set --userdb-socket")
            return nil
        }
    }
}

Daemon.main()
