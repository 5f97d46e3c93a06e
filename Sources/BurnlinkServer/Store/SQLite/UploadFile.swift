import Synchronization

/// The chunk file of an upload in progress, held open across its appends (see `ChunkFiles`).
/// One operation at a time: a deletion that lets it go waits for an append under way, and
/// no operation uses the descriptor after it is closed (a number the process may already
/// have given to another file).
final class UploadFile: Sendable {
    private let file: Mutex<ChunkFileDescriptor?>

    init(_ file: ChunkFileDescriptor) {
        self.file = Mutex(file)
    }

    /// Runs `body` on the open file; nil when it has been closed.
    func use<T: Sendable>(_ body: (ChunkFileDescriptor) throws -> T) throws -> T? {
        try file.withLock { file in
            guard let file else { return nil }
            return try body(file)
        }
    }

    /// Closes the file; a second call does nothing.
    func close() {
        file.withLock { file in
            file?.close()
            file = nil
        }
    }
}
