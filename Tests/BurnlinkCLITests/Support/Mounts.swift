import BurnlinkTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Small filesystems for the tests that need a full disk or a read-only directory:
/// `mount`, which needs root (or CAP_SYS_ADMIN). The tests run as root here and in CI.
enum Mounts {
    static let mount = Binaries.onPath("mount")
    static let umount = Binaries.onPath("umount")

    /// Whether mounting works here at all: one real tmpfs, mounted and unmounted at once.
    static let available: Bool = {
        guard mount != nil, umount != nil, let directory = try? TemporaryDirectory() else { return false }
        defer { directory.remove() }
        let mounted = run(mount!, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory.path])
        if mounted { _ = run(umount!, [directory.path]) }
        return mounted
    }()

    static let unavailableReason: Comment =
        "cannot mount here (needs root and the mount tool): no tiny or read-only filesystem to test with"

    /// A tmpfs of `size` (such as "1m") on `directory`.
    static func tmpfs(_ directory: String, size: String) throws {
        guard run(mount!, ["-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", directory]) else {
            throw CLITestFailure("mount -t tmpfs on \(directory) failed")
        }
    }

    /// `directory` mounted over itself, read-only: even root cannot create files in it.
    static func readOnly(_ directory: String) throws {
        guard run(mount!, ["--bind", directory, directory]) else { throw CLITestFailure("mount --bind \(directory) failed") }
        guard run(mount!, ["-o", "remount,bind,ro", directory]) else {
            unmount(directory)
            throw CLITestFailure("remount read-only of \(directory) failed")
        }
    }

    static func unmount(_ directory: String) {
        _ = run(umount!, [directory])
    }

    /// Runs a tool to its end, synchronously (set-up and clean-up only).
    @discardableResult
    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        guard let child = try? ChildProcess(tool, arguments) else { return false }
        return child.finishBlocking().status == 0
    }
}
