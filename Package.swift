// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "entra-sync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "entra-syncd", targets: ["entra-syncd"]),
        .executable(name: "entra-syncctl", targets: ["entra-syncctl"]),
        .executable(name: "entra-graph-sim", targets: ["entra-graph-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // RSA signing of client assertions (certificate credentials); no openssl shell-outs.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C system libraries: a module map and a header, nothing else.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CLDAP", pkgConfig: "ldap", providers: [.apt(["libldap-dev"])]),
        // glibc's malloc.h (malloc_trim: a full sync gives its freed heap back).
        .systemLibrary(name: "CMalloc"),
        // epoll, timerfd and signalfd for the event loop.
        .systemLibrary(name: "CEpoll"),
        // Typed wrappers for libcurl's variadic calls (Swift cannot call C variadics).
        .target(name: "CCurlShim", dependencies: ["CCurl"]),

        // The one lock (a pthread mutex that ThreadSanitizer understands; see Locked).
        .target(name: "EntraLock"),
        .target(name: "EntraConfig"),
        // Transport: libcurl HTTP, cancellation, origins, the one backoff schedule. Graph and every push target use it.
        .target(name: "EntraHTTP", dependencies: ["EntraLock", "CCurlShim", "CCurl"]),
        // The directory model: object ids, users, groups, memberships and their deltas. No I/O.
        .target(name: "EntraDirectory"),
        .target(name: "EntraGraph", dependencies: ["EntraLock",
            "EntraHTTP", "EntraDirectory", "EntraConfig",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .target(name: "EntraJournal"),
        // The LDAP client over libldap (connect with StartTLS/TLS/ldapi, bind, add/modify/modrdn/delete, paged search).
        .target(name: "EntraLDAP", dependencies: ["CLDAP"]),
        // The pure core: the mirror, its mutations and journal records, plans, scopes, SCIM plans. No I/O.
        .target(name: "EntraMirror", dependencies: ["EntraConfig", "EntraDirectory", "EntraGraph", "EntraJournal"]),
        .target(name: "EntraSystemd", dependencies: [
            "CSystemd",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Sockets, timers and signals on one epoll thread, instead of DispatchSource (see EventLoop).
        .target(name: "EntraEvents", dependencies: ["EntraLock", "CEpoll"]),
        .target(name: "EntraControl", dependencies: ["EntraLock", "EntraEvents"]),
        // Push targets: the `PushTarget` contract and its shared bookkeeping, SCIM and LDAP. Nothing of the engine.
        .target(name: "EntraPush", dependencies: [
            "EntraConfig", "EntraDirectory", "EntraHTTP", "EntraMirror", "EntraLDAP",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "EntraSync", dependencies: ["EntraLock",
            "EntraConfig", "EntraHTTP", "EntraDirectory", "EntraGraph", "EntraJournal", "EntraMirror", "EntraEvents", "EntraPush", "CMalloc",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The control service: io.entrasync.Manager over the engine (dispatch table, access, wire mapping, queries).
        .target(name: "EntraService", dependencies: ["EntraLock", "EntraSync", "EntraPush", "EntraMirror", "EntraControl", "EntraConfig", "EntraDirectory",
                                                     .product(name: "Logging", package: "swift-log")]),

        // Linux identities: systemd's io.systemd.UserDatabase over what the profiles serve (`[Linux]`).
        .target(name: "EntraUserDB", dependencies: ["EntraControl", "EntraMirror"]),

        .executableTarget(name: "entra-syncd", dependencies: [
            "EntraSync", "EntraService", "EntraConfig", "EntraControl", "EntraEvents", "EntraSystemd", "EntraUserDB",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "entra-syncctl", dependencies: [
            "EntraControl", "EntraConfig", "EntraHTTP", "EntraGraph", "EntraMirror", "EntraPush",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The simulated tenant. It shares no Graph parsing code with the client on purpose.
        .executableTarget(name: "entra-graph-sim", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),

        .testTarget(name: "EntraConfigTests", dependencies: ["EntraConfig", "TestSupport"]),
        .testTarget(name: "EntraJournalTests", dependencies: ["EntraJournal", "TestSupport"]),
        // Test doubles shared by test targets (a loopback HTTP server).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "EntraHTTPTests", dependencies: ["EntraHTTP", "TestSupport"]),
        .testTarget(name: "EntraDirectoryTests", dependencies: ["EntraDirectory"]),
        .testTarget(name: "EntraGraphTests", dependencies: ["EntraLock", "EntraGraph", "EntraHTTP", "EntraDirectory", "TestSupport"]),
        .testTarget(name: "EntraSystemdTests", dependencies: ["EntraSystemd"]),
        .testTarget(name: "EntraControlTests", dependencies: ["EntraLock", "EntraControl", "TestSupport"]),
        .testTarget(name: "EntraEventsTests", dependencies: ["EntraLock", "EntraEvents"]),
        .testTarget(name: "EntraServiceTests", dependencies: ["EntraLock", "EntraService", "EntraSync", "EntraPush", "EntraMirror", "EntraControl", "EntraConfig", "EntraDirectory"]),
        .testTarget(name: "EntraMirrorTests", dependencies: ["EntraMirror", "EntraGraph", "EntraDirectory", "EntraConfig", "EntraJournal", "TestSupport"]),
        .testTarget(name: "EntraLDAPTests", dependencies: ["EntraLDAP", "TestSupport"]),
        .testTarget(name: "EntraSyncTests", dependencies: [.product(name: "Logging", package: "swift-log"), "EntraSync", "EntraMirror", "EntraGraph", "EntraHTTP", "EntraDirectory", "EntraConfig", "EntraJournal", "TestSupport"]),
        .testTarget(name: "EntraPushTests", dependencies: [.product(name: "Logging", package: "swift-log"), "EntraPush", "EntraLDAP", "EntraMirror", "EntraHTTP", "EntraDirectory", "EntraConfig", "TestSupport"]),
        .testTarget(name: "EntraUserDBTests", dependencies: ["EntraLock", "EntraUserDB", "EntraMirror", "EntraControl", "EntraConfig", "EntraDirectory"]),
        .testTarget(name: "EndToEndTests", dependencies: ["EntraLock", "EntraControl", "EntraHTTP", "TestSupport"]),
    ]
)
