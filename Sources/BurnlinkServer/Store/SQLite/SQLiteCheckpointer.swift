import GRDB
import Synchronization

/// Copies a WAL-mode SQLite file's WAL back into the file from a connection of its own,
/// every `interval`, so that checkpoints run beside the commits instead of inside them.
/// In the writer, SQLite's automatic checkpoints (every 1,000 pages by default) made some
/// commits wait for a whole copy-back and a sync of the database file, stalls that took
/// about half of a 1 GiB upload's time (docs/benchmarks.md, "Large secrets in a chunk file
/// of their own", when chunks were in a SQLite file; for small commits, "Chunks keyed by sequence number, and checkpoints
/// beside the commits"). The writer keeps an
/// automatic checkpoint only as a backstop, for a WAL the checkpointer cannot keep up with.
///
/// Its loop is `run()`, which the store's own `run()` runs as a child task (the store is a
/// ServiceLifecycle `Service`), so no checkpoint outlives the store. A store used without
/// running it (tests, tools) relies on the backstop alone.
///
/// It checkpoints only after commits (`watch(_:)`): an idle server used to wake three
/// threads every `interval` for a checkpoint with nothing to copy. And it keeps each
/// checkpoint short, since the commits' syncs wait behind it (`CheckpointPacing`).
final class SQLiteCheckpointer: Sendable {
    private let queue: DatabaseQueue
    private let interval: Duration
    private let checkpoints = Mutex(0)
    /// One element while a commit has not been checkpointed yet (newer ones coalesce).
    private let commits: AsyncStream<Void>
    private let commitSignal: AsyncStream<Void>.Continuation

    /// How many checkpoints it has run (for tests).
    var checkpointsRun: Int { checkpoints.withLock { $0 } }

    init(path: String, label: String, interval: Duration = .milliseconds(50)) throws {
        var configuration = Configuration()
        configuration.label = label
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // After a checkpoint, cut the WAL back (a large upload passes through it).
            try db.execute(sql: "PRAGMA journal_size_limit = \(64 << 20)")
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.interval = interval
        // What opening the store wrote (migrations, recovery) waits for the first commit.
        (commits, commitSignal) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Makes each commit of `writer` call for a checkpoint.
    func watch(_ writer: some DatabaseWriter) {
        writer.add(transactionObserver: CommitObserver(signal: commitSignal), extent: .databaseLifetime)
    }

    /// Checkpoints only after a commit, at most every `interval`, sooner while checkpoints
    /// take long (`CheckpointPacing`), until the calling task is cancelled.
    func run() async {
        var pacing = CheckpointPacing(longest: interval)
        for await _ in commits {
            try? await Task.sleep(for: pacing.wait)
            if Task.isCancelled { return }
            // PASSIVE: copies what no reader still needs, never waits for the writer.
            let took = try? await queue.writeWithoutTransaction { db in
                let start = ContinuousClock.now
                _ = try db.checkpoint(.passive)
                return ContinuousClock.now - start
            }
            if let took { pacing.checkpointTook(took) }
            checkpoints.withLock { $0 += 1 }
        }
    }

    /// Makes `writer` leave checkpoints to a checkpointer, but for a WAL that has grown to
    /// `backstopBytes`.
    static func leaveCheckpoints(of writer: DatabaseWriter, backstopBytes: Int) throws {
        try writer.writeWithoutTransaction { db in
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(max(1000, backstopBytes / pageSize))")
        }
    }

    /// Call once `run()` has returned (or was never called).
    func close() throws {
        try queue.close()
    }
}

/// Tells the checkpointer of every commit of the connection it watches (on that
/// connection's queue: a yield, nothing more).
private final class CommitObserver: TransactionObserver, Sendable {
    private let signal: AsyncStream<Void>.Continuation

    init(signal: AsyncStream<Void>.Continuation) {
        self.signal = signal
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { signal.yield() }
    func databaseDidRollback(_ db: Database) {}
}
