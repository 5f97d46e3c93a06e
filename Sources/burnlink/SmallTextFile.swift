#if canImport(Glibc)
import Glibc
#endif

/// A small text file (the config file, a receipt file) read with plain system calls.
/// Foundation's `String(contentsOfFile:)` first builds a dictionary of the file's
/// attributes: 0.35 million instructions of first-time type work on every command's path,
/// config file or not (docs/benchmarks.md, "Issue 18: a large output's pages dropped once
/// on the disk", its part on CLI start-up).
enum SmallTextFile {
    enum Failure: Error, Equatable {
        /// No such file (or a path component is not a directory).
        case missing
        /// It exists but could not be read whole as UTF-8 text; says why.
        case unreadable(String)
    }

    /// The largest file read: far above any config file or receipt.
    static let limit = 1 << 20

    /// - Parameter regularOnly: refuse anything but a regular file, without waiting on it
    ///   (a FIFO put in the config file's place must not hang every command). Off for a
    ///   file the user names, which may be a pipe (`--receipt-file <(...)`).
    static func read(_ path: String, regularOnly: Bool = false) -> Result<String, Failure> {
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY | O_CLOEXEC | (regularOnly ? O_NONBLOCK : 0))
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            let code = errno
            // A directory on the way that this user may not search hides whether the file
            // exists at all: as good as missing (a HOME another user keeps, ProtectHome).
            var status = stat()
            let hidden = code == EACCES && stat(path, &status) != 0
            return .failure(code == ENOENT || code == ENOTDIR || hidden ? .missing : .unreadable(String(cString: strerror(code))))
        }
        defer { close(descriptor) }
        if regularOnly {
            var status = stat()
            guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                return .failure(.unreadable("not a regular file"))
            }
        }
        var bytes: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = piece.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.unreadable(String(cString: strerror(errno))))
            }
            if count == 0 { break }
            bytes.append(contentsOf: piece[..<count])
            if bytes.count > limit { return .failure(.unreadable("larger than \(limit / 1024) KiB")) }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(.unreadable("not UTF-8 text"))
        }
        return .success(text)
    }
}
