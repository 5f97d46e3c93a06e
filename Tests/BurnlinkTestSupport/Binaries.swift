import Foundation

/// Where the built binaries live: `.build/debug/` at the package root.
public enum Binaries {
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // BurnlinkTestSupport
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    public static let cli = packageRoot.appendingPathComponent(".build/debug/burnlink")
    public static let server = packageRoot.appendingPathComponent(".build/debug/burnlink-server")

    /// The first executable called `name` on PATH, if any.
    public static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
