import BurnlinkCore
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Writes content to an open descriptor (standard output) as each chunk verifies. A
/// failure later on is reported by the caller's exit status: bytes already written
/// cannot be taken back.
public final class DescriptorSink: PlaintextSink, @unchecked Sendable {
    let descriptor: Int32
    /// Standard output redirected to a file: its written pages leave the page cache as they
    /// reach the disk, as an `--output` file's do.
    private var writeback: WritebackWindow?

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public func begin(_ metadata: InnerMetadata) async throws(ClientError) {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return }
        // `>>` opens it to append: the writes land at its end, wherever its offset is.
        let appends = fcntl(descriptor, F_GETFL) & O_APPEND != 0
        let offset = appends ? Int(status.st_size) : Int(lseek(descriptor, 0, SEEK_CUR))
        if offset >= 0 { writeback = WritebackWindow(from: offset) }
    }

    public func write(_ content: UnsafeRawBufferPointer) async throws(ClientError) {
        try await BlockingWrite.write(content, to: descriptor)
        do {
            try await writeback?.wrote(content.count, to: descriptor)
        } catch {
            throw .other("writing the output failed: \(error.reason)")
        }
    }

    public func commit() async throws(ClientError) {}

    /// Standard output redirected to a file (`open > FILE`) is synced: a write into the
    /// page cache can succeed on a full disk that only the sync reports.
    public func sync() async throws(ClientError) {
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return }
        guard fsync(descriptor) == 0 || errno == EINVAL else {
            throw .other("writing the output failed: \(String(cString: strerror(errno)))")
        }
    }

    public func abandon() async {}
}

/// Writes content to a temporary file beside the target (mode 0600) and renames it into
/// place only after the whole envelope verified. On failure the temporary file goes,
/// unless it already holds the complete, verified secret.
public final class FileSink: PlaintextSink, @unchecked Sendable {
    public let path: String
    private let temporaryPath: String
    private let overwrite: Bool
    private var descriptor: Int32 = -1
    /// The verified secret sits in the temporary file and the error said so: keep it.
    private var keepTemporary = false

    /// Bytes of `.burnlink-XXXXXXXX.part`, the temporary name's end.
    public static let temporarySuffixLength = ".burnlink-XXXXXXXX.part".utf8.count

    /// Checks up front what can be checked without consuming the secret (`OutputChecks.fileTarget`).
    public init(path: String, overwrite: Bool) throws(ClientError) {
        try OutputChecks.fileTarget(path, overwrite: overwrite)
        self.path = path
        self.overwrite = overwrite
        let directory = OutputChecks.directory(of: path)
        let name = FilePath(path).lastComponent?.string ?? ""
        let suffix = ".burnlink-\(UUID().uuidString.prefix(8)).part"
        // `.NAME` + suffix when that fits the directory's NAME_MAX, the suffix alone otherwise.
        let fits = 1 + name.utf8.count + suffix.utf8.count <= FileNames.maximumLength(in: directory)
        temporaryPath = directory + "/" + (fits ? "." + name + suffix : String(suffix))
    }

    /// The temporary file is created only now, once the secret is being opened, so a
    /// failure before that (gone, wrong password) leaves nothing behind.
    public func begin(_ metadata: InnerMetadata) async throws(ClientError) {
        descriptor = Glibc.open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .other("cannot write beside \(path): \(String(cString: strerror(errno)))")
        }
        // Ctrl-C from now on must not leave plaintext behind.
        Interruption.removing(temporaryPath)
    }

    public func write(_ content: UnsafeRawBufferPointer) async throws(ClientError) {
        try await BlockingWrite.write(content, to: descriptor)
        do {
            try await writeback.wrote(content.count, to: descriptor)
        } catch {
            throw .other("writing \(path) failed: \(error.reason)")
        }
    }

    private var writeback = WritebackWindow()

    public func commit() async throws(ClientError) {
        defer { Interruption.removing(nil) }
        guard fsync(descriptor) == 0, Glibc.close(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            descriptor = -1
            await abandon()
            throw .other("writing \(path) failed: \(reason)")
        }
        descriptor = -1
        if !overwrite {
            // link() refuses an existing target, so a file created meanwhile is never replaced.
            guard Glibc.link(temporaryPath, path) == 0 else { throw keptInstead(of: "create") }
            unlink(temporaryPath)
        } else if rename(temporaryPath, path) != 0 {
            throw keptInstead(of: "replace")
        }
    }

    /// The file's name is in its directory only once the directory is synced too (the
    /// content was synced before it was put in place). A directory this user may write but
    /// not read (a drop box) cannot be opened to sync; a file system that cannot sync one
    /// says EINVAL. Neither is a failure.
    public func sync() async throws(ClientError) {
        let directory = Glibc.open(OutputChecks.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { return }
        defer { Glibc.close(directory) }
        guard fsync(directory) == 0 || errno == EINVAL else {
            throw .other(
                "syncing the directory of \(path) failed: \(String(cString: strerror(errno)))",
                hint: "\(path) is written, but may not survive a crash of this machine")
        }
    }

    public var savedElsewhere: String? { keepTemporary ? temporaryPath : nil }

    /// Put in place without `--force`, the file now refuses a second open into it.
    public var reopeningNeedsForce: Bool { !overwrite }

    /// The secret is verified and complete: keep it where it is rather than lose it. The
    /// caller's `abandon()` that follows the error must not remove it.
    private func keptInstead(of action: String) -> ClientError {
        let reason = String(cString: strerror(errno))
        keepTemporary = true
        return .other("cannot \(action) \(path): \(reason)", hint: "the secret was saved as \(temporaryPath) instead")
    }

    public func abandon() async {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            descriptor = -1
        }
        if !keepTemporary { unlink(temporaryPath) }
        Interruption.removing(nil)
    }

    deinit {
        if descriptor >= 0 {
            Glibc.close(descriptor)
            unlink(temporaryPath)
        }
    }
}
