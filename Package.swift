// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "burnlink",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "BurnlinkCore", targets: ["BurnlinkCore"]),
    ],
    targets: [
        // libsodium from the system (Debian: libsodium-dev). Only BurnlinkCore imports it.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"]), .brew(["libsodium"])]
        ),
        .target(name: "BurnlinkCore", dependencies: ["CSodium"]),
        // Throughput of the envelope beside raw secretbox; imports CSodium for the raw baseline only.
        .executableTarget(
            name: "burnlink-bench-core",
            dependencies: ["BurnlinkCore", "CSodium"],
            path: "Benchmarks/CoreThroughput"
        ),
        .testTarget(
            name: "BurnlinkCoreTests",
            dependencies: ["BurnlinkCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
