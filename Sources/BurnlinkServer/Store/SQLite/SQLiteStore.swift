import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB
import NIOCore
import ServiceLifecycle
import Synchronization

/// The embedded `SecretStore`: SQLite through GRDB. The main file holds every secret's
/// row and the ciphertext of secrets stored in one request (up to one chunk); secrets
/// uploaded in several chunks keep their chunks in a file each (`ChunkFiles`) beside it.
///
/// - WAL, `synchronous=FULL` (a confirmed create survives power loss, a confirmed burn
///   stays burned) and `secure_delete=ON` (freed pages are overwritten) on every connection.
///   Only steps that confirm nothing (chunks of an upload in progress, freeing a large
///   ciphertext) commit without their own fsync; see `GroupCommit.submit(durable:)`.
/// - Every state change goes through `GroupCommit`: concurrent operations share one write
///   transaction and one fsync, each in its own savepoint, each answered after the commit.
/// - Reads (metadata, chunks, receipts, stored bytes) run concurrently on the pool's readers.
/// - This process must be the only writer of the file: on open, uploads in progress and
///   reader counts left by a previous process are cleared. `SQLiteWriterLock` makes a
///   second store on the same file refuse to open before it touches anything.
///
/// Schema (migrations "v1" to "v4"); times are `EpochMilliseconds`:
///
///     secret(seq INTEGER PK, id BLOB UNIQUE, state, claim_verifier, receipt_verifier,
///            password_verifier, password_kdf, password_attempts_left, created_at,
///            expires_at, ended_at, max_views, views_left, size, chunk_count,
///            stored_bytes, active_readers, in_chunk_file)
///     secret_view(secret_id, view_no, viewed_at, delivery, session_verifier,
///                 session_deadline, confirmed_at)         PK (secret_id, view_no)
///     secret_chunk(key INTEGER PK, data)                 key = seq << 24 | chunk index
///     store_stats(id = 1, stored_bytes)                  running total of chunk bytes
///
/// Chunk rows are keyed by the secret's sequence number, not its random id: a create
/// appends at the end of both tables, and only the `id` index takes a scattered insert.
/// `seq` is an INTEGER PRIMARY KEY, so VACUUM keeps it; a secret's row is deleted only
/// after its chunks, so a reused `seq` never finds chunks of another secret.
///
/// `state` is a `StoredState`. The store's operations are split by concern, as GRDB splits
/// its own large types: `+Schema` (opening, migrations, recovery), `+Create` (creates and
/// uploads), `+Claim` (claims, metadata, chunk reads), `+Sessions` (claim sessions),
/// `+Receipts` (receipts, revoke), `+Sweep`, `+Discard` (ending a secret, freeing its
/// ciphertext) and `+Chunks` (chunk rows and the byte count).
/// Ciphertext lives in `secret_chunk`, or in the secret's own chunk file (`ChunkFiles`) when
/// `in_chunk_file` is 1 (an upload of more than one chunk). `stored_bytes` is what the secret's chunks hold right
/// now wherever they are (0 once they are deleted), so no query ever has to measure blobs.
///
/// The store is a ServiceLifecycle `Service`: `run()` runs the main file's checkpoints
/// until graceful shutdown, after the server it was added before.
public final class SQLiteStore: SecretStore {
    /// The database file.
    public let path: String
    private let writerLock: SQLiteWriterLock
    let pool: DatabasePool
    let committer: GroupCommit
    /// Work started after an answer (freeing a confirmed secret's large ciphertext);
    /// `shutDown` stops and awaits it.
    let backgroundWork = OwnedTasks()
    /// The chunks of multi-chunk uploads, a file per secret in `<path>-chunks.d/` (created
    /// by the first upload that needs it).
    let chunkFiles: ChunkFiles
    private let checkpointer: SQLiteCheckpointer
    private let closed = Mutex(false)
    let staleUploadAge: TimeInterval
    let readerLease: TimeInterval

    /// Opens (creating if needed) the database at `path`.
    ///
    /// - Parameters:
    ///   - staleUploadAge: an upload not committed this long after its `createdAt` is
    ///     removed by `sweep`.
    ///   - readerLease: a multi-chunk reader that has not called `finishRead` this long after
    ///     the secret stopped being readable no longer protects its ciphertext from `sweep`.
    public init(path: String, staleUploadAge: TimeInterval = 3600, readerLease: TimeInterval = 6 * 3600) throws {
        self.path = path
        self.staleUploadAge = staleUploadAge
        self.readerLease = readerLease
        chunkFiles = ChunkFiles(directory: ChunkFiles.directory(for: path))
        do { try Self.prepareDirectory(for: path) } catch { throw StoreError(mapping: error) }
        // Before any connection or recovery: `DatabaseInUse` when another store holds the file.
        writerLock = try SQLiteWriterLock(database: path)
        do {
            pool = try Self.openPool(path: path, label: "burnlink", synchronous: Self.synchronousFull)
            try Self.migrator.migrate(pool)
            try pool.write { db in try Self.recover(db) }
            let legacyChunkFile = LegacyChunkFile.path(for: path)
            if FileManager.default.fileExists(atPath: chunkFiles.directory)
                || FileManager.default.fileExists(atPath: legacyChunkFile)
            {
                // Only active secrets, and those an open claim session holds, keep their chunk
                // files (recover ended the rest).
                let keep = try pool.read { db in
                    try Data.fetchSet(
                        db,
                        sql: """
                            SELECT id FROM secret
                            WHERE in_chunk_file = 1 AND (state = \(StoredState.active.sql) OR \(Self.hasPendingSession))
                            """)
                }
                if FileManager.default.fileExists(atPath: chunkFiles.directory) { try chunkFiles.prepareDirectory() }
                try LegacyChunkFile.migrate(databasePath: path, keep: keep, into: chunkFiles)
                // A file that cannot be removed now is left to the sweep, which reports it.
                try chunkFiles.removeAll(except: keep)
            }
            try SQLiteCheckpointer.leaveCheckpoints(of: pool, backstopBytes: 64 << 20)
            checkpointer = try SQLiteCheckpointer(path: path, label: "burnlink-checkpoint")
            checkpointer.watch(pool)
        } catch {
            throw StoreError(mapping: error)
        }
        committer = GroupCommit(writer: pool)
    }

    /// Runs the checkpoints of the main file until a graceful shutdown or cancellation. Added to the server's service group before the
    /// server, it stops after the server's requests have finished.
    ///
    /// It leaves the store open: in-process users (the HTTP tests) read the store after the
    /// application stopped. The server executable shuts it down once the application has
    /// stopped (`shutDown()`): the last checkpoint runs and the writer lock is released.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            // A child task, so that the cancellation reaches it, at a lower priority than requests.
            await withDiscardingTaskGroup { group in
                group.addTask(priority: .utility) { await self.checkpointer.run() }
            }
        }
    }

    /// SecretStore: the server has stopped, so close once nothing of the store runs any
    /// more: background frees are stopped (sweep or the next open finishes them) and every
    /// submitted operation has committed and been answered.
    public func shutDown() async throws {
        await backgroundWork.cancelAndWait()
        await committer.waitUntilIdle()
        try close()
    }

    /// Closes every connection; a second call does nothing. Operations after `close()` fail
    /// with `.unavailable`. Call it once no operation is in flight and `run()` has returned.
    public func close() throws {
        guard
            closed.withLock({ closed in
                defer { closed = true }
                return !closed
            })
        else { return }
        defer { writerLock.release() }
        chunkFiles.releaseAll()
        do {
            // A last full checkpoint, so the database file alone holds everything and the
            // log is empty for whoever opens it next.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            try checkpointer.close()
            try pool.close()
        } catch {
            throw StoreError(mapping: error)
        }
    }

    // MARK: - Diagnostics

    /// How well the group commit is grouping: batches committed, operations in them, and
    /// the largest batch so far.
    public func groupCommitStatistics() async -> (batches: Int, operations: Int, largestBatch: Int) {
        let statistics = await committer.statistics
        return (statistics.batches, statistics.operations, statistics.largestBatch)
    }

    /// The connection settings every connection gets (for tests).
    func connectionSettings() async throws -> (journalMode: String, synchronous: Int, secureDelete: Int) {
        try await pool.writeWithoutTransaction { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                try Int.fetchOne(db, sql: "PRAGMA secure_delete") ?? -1
            )
        }
    }

    /// Checkpoints run so far by `run()` (for tests).
    var checkpointsRun: Int { checkpointer.checkpointsRun }

    /// Runs `body` on one of the pool's readers, with its errors mapped to `StoreError`.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw StoreError(mapping: error)
        }
    }

    /// Runs `body` on the chunk files, with its errors mapped like the main file's.
    func withChunkFiles<T: Sendable>(_ body: (ChunkFiles) async throws -> T) async throws -> T {
        do {
            return try await body(chunkFiles)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(mapping: error)
        }
    }
}
