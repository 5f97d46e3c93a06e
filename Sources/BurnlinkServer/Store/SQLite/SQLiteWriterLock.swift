import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `<database>.lock`, held for the life of a `SQLiteStore`.
///
/// The store's start-up recovery assumes it is the only writer: it clears uploads in
/// progress and reader counts. A second server on the same file would delete the chunks
/// of a secret the first one is still streaming, so the second one must not start at all.
/// The lock is taken before any connection opens; the kernel drops it when the process
/// dies, so a crash never leaves a stale lock behind.
///
/// A refusal is only final after `grace`: between `fork` and `exec`, a child process of the
/// same program holds a copy of the (close-on-exec) descriptor, and with it the lock, so a
/// store closed and reopened in a process that also starts children can find its own
/// released lock briefly still held.
final class SQLiteWriterLock: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    /// How long a held lock is retried before `DatabaseInUse`: far longer than a fork's
    /// window before exec, short enough that a second server is refused at once to a person.
    static let grace: Duration = .milliseconds(500)
    private static let retryPause: Duration = .milliseconds(5)

    /// Takes the lock, or throws `DatabaseInUse` if another store still holds it after
    /// `grace` (`StoreError.unavailable` if the lock file cannot be opened or locked at all).
    init(database: String) throws {
        path = database + ".lock"
        let opened = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            throw StoreError.unavailable("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.grace)
        while flock(opened, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            if failure == EWOULDBLOCK, clock.now < deadline {
                // Blocking is fine: a store opens once, at start-up or in a test.
                usleep(useconds_t(Self.retryPause / .microseconds(1)))
                continue
            }
            Glibc.close(opened)
            if failure == EWOULDBLOCK { throw DatabaseInUse(database: database) }
            throw StoreError.unavailable("cannot lock \(path): \(String(cString: strerror(failure)))")
        }
        descriptor = Mutex(opened)
    }

    /// Releases the lock (closing the descriptor drops it). Safe to call more than once.
    func release() {
        descriptor.withLock { descriptor in
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    deinit { release() }
}

/// Another store, usually another `burnlink-server` process, holds the database's lock.
public struct DatabaseInUse: Error, Equatable, CustomStringConvertible {
    public let database: String
    public var description: String { "another burnlink-server is using \(database)" }
}
