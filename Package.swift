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
        // glibc's malloc.h (malloc_trim: a full sync gives its freed heap back).
        .systemLibrary(name: "CMalloc"),
        // epoll, timerfd and signalfd for the event loop.
        .systemLibrary(name: "CEpoll"),
        // Typed wrappers for libcurl's variadic calls (Swift cannot call C variadics).
        .target(name: "CCurlShim", dependencies: ["CCurl"]),

        .target(name: "EntraConfig"),
        .target(name: "EntraGraph", dependencies: [
            "CCurlShim", "CCurl", "EntraConfig",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .target(name: "EntraJournal"),
        .target(name: "EntraSystemd", dependencies: [
            "CSystemd",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Sockets, timers and signals on one epoll thread, instead of DispatchSource (see EventLoop).
        .target(name: "EntraEvents", dependencies: ["CEpoll"]),
        .target(name: "EntraControl", dependencies: ["EntraEvents"]),
        .target(name: "EntraSync", dependencies: [
            "EntraConfig", "EntraGraph", "EntraJournal", "EntraControl", "EntraEvents", "EntraSystemd", "CMalloc",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "entra-syncd", dependencies: [
            "EntraSync", "EntraConfig", "EntraControl", "EntraEvents", "EntraSystemd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "entra-syncctl", dependencies: [
            "EntraControl", "EntraConfig", "EntraGraph", "EntraSync",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The simulated tenant. It shares no Graph parsing code with the client on purpose.
        .executableTarget(name: "entra-graph-sim", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),

        .testTarget(name: "EntraConfigTests", dependencies: ["EntraConfig"]),
        .testTarget(name: "EntraJournalTests", dependencies: ["EntraJournal"]),
        .testTarget(name: "EntraGraphTests", dependencies: ["EntraGraph"]),
        .testTarget(name: "EntraSystemdTests", dependencies: ["EntraSystemd"]),
        .testTarget(name: "EntraControlTests", dependencies: ["EntraControl"]),
        .testTarget(name: "EntraEventsTests", dependencies: ["EntraEvents"]),
        .testTarget(name: "EntraSyncTests", dependencies: ["EntraSync", "EntraGraph"]),
        .testTarget(name: "EndToEndTests", dependencies: ["EntraControl", "EntraGraph"]),
    ]
)
