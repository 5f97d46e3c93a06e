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

    static func read(_ path: String) -> Result<String, Failure> {
        var descriptor: Int32
        repeat {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
        } while descriptor < 0 && errno == EINTR
        guard descriptor >= 0 else {
            return .failure(errno == ENOENT || errno == ENOTDIR ? .missing : .unreadable(String(cString: strerror(errno))))
        }
        defer { close(descriptor) }
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
