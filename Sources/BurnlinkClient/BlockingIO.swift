import BurnlinkCore
import NIOPosix

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Reads a file descriptor (a file, or a pipe on stdin) into one reusable buffer: what is
/// ready at once directly, what would block on the blocking-I/O thread, so that blocking
/// reads never stall Swift's cooperative threads. The buffer holds plaintext: it is wiped
/// when the reader is closed.
public final class PlaintextReader: @unchecked Sendable {
    public let descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private let ownsDescriptor: Bool

    public init(descriptor: Int32, ownsDescriptor: Bool, pieceSize: Int = 1 << 20) {
        self.descriptor = descriptor
        self.ownsDescriptor = ownsDescriptor
        buffer = .allocate(byteCount: pieceSize, alignment: 16)
    }

    /// Opens a file for reading; returns the reader and the file's size.
    public static func open(path: String) throws(ClientError) -> (PlaintextReader, size: Int) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .usage("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(descriptor)
            throw .usage("\(path) is not a regular file", hint: "to send a stream, pipe it: ... | burnlink send")
        }
        return (PlaintextReader(descriptor: descriptor, ownsDescriptor: true), Int(info.st_size))
    }

    /// Fills the buffer as far as the input allows; an empty result means end of input.
    /// The returned view is valid until the next call.
    public func next() async throws(ClientError) -> UnsafeRawBufferPointer {
        // Input that is ready now (a piped secret, a file) is read here; only what would
        // block waits on the blocking-I/O thread, which a small secret then never starts.
        var progress = Self.fill(buffer, from: 0, descriptor: descriptor, wait: false)
        if case .partial(let filled) = progress {
            touched = max(touched, filled)
            // The buffer outlives the call and nothing else touches it meanwhile: pass its address.
            let address = UInt(bitPattern: buffer.baseAddress!)
            let capacity = buffer.count
            let descriptor = self.descriptor
            do {
                progress = try await BlockingIO.pool.runIfActive {
                    let buffer = UnsafeMutableRawBufferPointer(
                        start: UnsafeMutableRawPointer(bitPattern: address), count: capacity)
                    return Self.fill(buffer, from: filled, descriptor: descriptor, wait: true)
                }
            } catch {
                throw .other("reading the secret failed: \(error)")
            }
        }
        switch progress {
        case .complete(let count), .partial(let count):
            lastCount = count
        case .failed(let count, let reason):
            touched = max(touched, count)
            throw .other("reading the secret failed: \(reason)")
        }
        touched = max(touched, lastCount)
        reachedEnd = lastCount < buffer.count
        return lastPiece
    }

    private enum Fill: Sendable {
        /// Full, or the input ended.
        case complete(Int)
        /// More may come, but not without waiting.
        case partial(Int)
        case failed(Int, String)
    }

    /// Reads into `buffer` from `filled` on until it is full or the input ends, or (unless
    /// `wait`) until the next read would block.
    private static func fill(_ buffer: UnsafeMutableRawBufferPointer, from filled: Int, descriptor: Int32, wait: Bool) -> Fill {
        var filled = filled
        while filled < buffer.count {
            if !wait {
                var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 0) == 1 else { return .partial(filled) }
            }
            let count = Glibc.read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN && !wait { return .partial(filled) }
                return .failed(filled, String(cString: strerror(errno)))
            }
            filled += count
        }
        return .complete(filled)
    }

    private var lastCount = 0
    /// How much of the buffer has ever held input: all that needs wiping.
    private var touched = 0

    /// True once a `next()` has met the end of the input: nothing follows `lastPiece`.
    public private(set) var reachedEnd = false

    /// What the last `next()` returned.
    public var lastPiece: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer.prefix(lastCount)) }

    deinit {
        // Pages never written were never mapped: wiping them would only fault them in.
        SecureMemory.wipe(UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(touched)))
        buffer.deallocate()
        if ownsDescriptor { Glibc.close(descriptor) }
    }
}

/// The thread that blocking reads and writes run on: one is enough, since a command
/// reads or writes one stream at a time, and each thread started costs start-up time.
enum BlockingIO {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()
}

/// Writes to a file descriptor: a small write that cannot block here, anything else on
/// the blocking-I/O thread.
enum BlockingWrite {
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) async throws(ClientError) {
        guard !bytes.isEmpty else { return }
        // A 1 KiB secret's output would otherwise start the blocking-I/O thread just for
        // itself. Up to PIPE_BUF bytes to a descriptor that polls writable go whole without
        // blocking (a pipe with a free page, a file, /dev/null); a full pipe does not poll
        // writable, and waits on the thread like a large write.
        if bytes.count <= Int(PIPE_BUF) {
            var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            if poll(&ready, 1, 0) == 1, ready.revents & Int16(POLLOUT) != 0 {
                var n: Int
                repeat {
                    n = Glibc.write(descriptor, bytes.baseAddress!, bytes.count)
                } while n < 0 && errno == EINTR
                if n == bytes.count { return }
                // Short, or refused (EAGAIN from a descriptor another process made
                // non-blocking, or an error the thread's write meets again and reports):
                // the rest below, on the thread.
                if n > 0 { return try await write(UnsafeRawBufferPointer(rebasing: bytes[n...]), to: descriptor) }
            }
        }
        // The bytes stay valid: the caller awaits this call before touching them again.
        let address = UInt(bitPattern: bytes.baseAddress!)
        let count = bytes.count
        let result: Result<Void, ClientError>
        do {
            result = try await BlockingIO.pool.runIfActive {
                var written = 0
                var pollReportedError = false
                while written < count {
                    let n = Glibc.write(descriptor, UnsafeRawPointer(bitPattern: address)! + written, count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        // Standard output shared with a process that set it non-blocking:
                        // wait until it takes more, as a blocking write would.
                        // A descriptor that polls in error and still refuses is given up on.
                        if (errno == EAGAIN || errno == EWOULDBLOCK) && !pollReportedError {
                            var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                            _ = poll(&ready, 1, -1)
                            pollReportedError = ready.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0
                            continue
                        }
                        return .failure(ClientError.other("writing the secret failed: \(String(cString: strerror(errno)))"))
                    }
                    if n == 0 { return .failure(ClientError.other("writing the secret failed: nothing was written")) }
                    written += n
                }
                return .success(())
            }
        } catch {
            throw .other("writing the secret failed: \(error)")
        }
        try result.get()
    }
}
