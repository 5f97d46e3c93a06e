// swift-tools-version:6.2
import PackageDescription

// The least a client built on burnlink's packages does for `burnlink open`'s requests,
// timed beside `burnlink open` and curl by ../floor.sh (docs/benchmarks.md): no key, no
// decryption, no files, no checks.
let package = Package(
    name: "burnlink-cli-floor",
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        .target(name: "FloorRequests", dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client")]),
        // The requests alone: `floor-claim SECRET_URL TOKEN [confirm]`.
        .executableTarget(name: "floor-claim", dependencies: ["FloorRequests"]),
        // The same behind an ArgumentParser command shaped like `burnlink open`.
        .executableTarget(
            name: "floor-parsed",
            dependencies: ["FloorRequests", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ]
)
