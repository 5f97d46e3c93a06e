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
final class SQLiteWriterLock: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    /// Takes the lock at once, or throws `DatabaseInUse` if another store holds it
    /// (`StoreError.unavailable` if the lock file cannot be opened or locked at all).
    init(database: String) throws {
        path = database + ".lock"
        let opened = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard opened >= 0 else {
            throw StoreError.unavailable("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
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
