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

    static let unavailableReason: Comment = "cannot mount here (needs root and the mount tool): no tiny or read-only filesystem to test with"

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

    /// Runs a tool to its end, synchronously (set-up and clean-up only): posix_spawn and our
    /// own waitpid, output to /dev/null.
    @discardableResult
    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, tool, &actions, nil, argv, environ) == 0 else { return false }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }
}
