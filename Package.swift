// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "burnlink",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "BurnlinkCore", targets: ["BurnlinkCore"]),
        .executable(name: "burnlink-server", targets: ["burnlink-server"]),
        .executable(name: "burnlink", targets: ["burnlink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // libsodium from the system (Debian: libsodium-dev). Only BurnlinkCore imports it.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .target(name: "BurnlinkCore", dependencies: ["CSodium"]),
        // Linux file calls that Swift's view of glibc leaves out (sync_file_range).
        .target(name: "CLinuxFiles"),
        // The HTTP contract shared by client and server: routes, headers, JSON bodies.
        .target(name: "BurnlinkProtocol", dependencies: ["BurnlinkCore"]),
        .target(
            name: "BurnlinkServer",
            dependencies: [
                "BurnlinkCore",
                "BurnlinkProtocol",
                "CLinuxFiles",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // NIOThreadPool: the chunk files' blocking system calls.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                // The TLS chain's order, signatures and dates, checked before it is served.
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .target(
            name: "BurnlinkClient",
            dependencies: [
                "BurnlinkCore",
                "BurnlinkProtocol",
                "CLinuxFiles",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The CLI and the modules it links (BurnlinkCore, BurnlinkProtocol, BurnlinkClient)
        // import FoundationEssentials, never Foundation: Foundation would bring ICU and many
        // more protocol conformances for the runtime to scan at every start
        // (docs/benchmarks.md, "CLI start-up, and the copy-back that met the first open").
        .executableTarget(
            name: "burnlink",
            dependencies: [
                "BurnlinkClient",
                "BurnlinkProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "burnlink-server",
            dependencies: [
                "BurnlinkServer",
                "BurnlinkProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // Only for `burnlink-server healthcheck`, the probe a container image runs.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Throughput of the envelope beside raw secretbox; imports CSodium for the raw baseline only.
        .executableTarget(
            name: "burnlink-bench-core",
            dependencies: ["BurnlinkCore", "CSodium"],
            path: "Benchmarks/CoreThroughput"
        ),
        // libFuzzer targets (Fuzz/, `make fuzz`). A plain build makes each one a replayer of the
        // files named on its command line; `make fuzz` rebuilds them with -sanitize=fuzzer,address.
        .target(name: "CFuzzDriver", path: "Fuzz/Driver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/Support"),
        .executableTarget(name: "fuzz-link", dependencies: ["BurnlinkCore", "FuzzSupport"], path: "Fuzz/Link"),
        .executableTarget(name: "fuzz-envelope", dependencies: ["BurnlinkCore", "FuzzSupport"], path: "Fuzz/Envelope"),
        .executableTarget(name: "fuzz-kdf", dependencies: ["BurnlinkCore", "FuzzSupport"], path: "Fuzz/KDF"),
        .executableTarget(
            name: "fuzz-headers", dependencies: ["BurnlinkCore", "BurnlinkProtocol", "FuzzSupport"], path: "Fuzz/Headers"
        ),
        .testTarget(name: "BurnlinkCoreTests", dependencies: ["BurnlinkCore"]),
        // The CLI's own code, in-process (the other CLI tests run the binary).
        .testTarget(
            name: "BurnlinkCommandTests",
            dependencies: ["burnlink", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What both process-level test targets share: one process runner, one server launcher.
        .target(name: "BurnlinkTestSupport", path: "Tests/BurnlinkTestSupport"),
        .testTarget(
            name: "BurnlinkCLITests",
            dependencies: ["BurnlinkClient", "BurnlinkCore", "BurnlinkProtocol", "BurnlinkTestSupport"]
        ),
        .testTarget(
            name: "BurnlinkServerTests",
            dependencies: [
                "BurnlinkServer",
                "BurnlinkProtocol",
                "BurnlinkTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
