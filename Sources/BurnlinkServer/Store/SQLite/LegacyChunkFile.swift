import Foundation
import GRDB

/// The one SQLite chunk file of earlier releases (`<database>-chunks`, table
/// `chunk(secret_id, idx, data)`), moved into `ChunkFiles` when a store opens.
///
/// Crash-safe at every step, and so repeated until it completes: the chunks of the secrets
/// that still need them are written into their files and synced; only then are the old
/// rows deleted, with `secure_delete` zeroing their pages, and the zeros checkpointed into
/// the file; only then is it removed. A crash before the removal leaves the old file in
/// place, and the next open moves the same chunks again (over the same bytes) or finds no
/// rows left and removes it.
enum LegacyChunkFile {
    static func path(for databasePath: String) -> String { databasePath + "-chunks" }

    /// Moves the chunks of the secrets in `keep` into `files` and removes the old file;
    /// does nothing when there is none. Returns how many secrets were moved.
    @discardableResult
    static func migrate(databasePath: String, keep: Set<Data>, into files: ChunkFiles) throws -> Int {
        let path = path(for: databasePath)
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        var configuration = Configuration()
        configuration.label = "burnlink-legacy-chunks"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        var moved = 0
        try queue.writeWithoutTransaction { db in
            guard try db.tableExists("chunk") else { return }
            for secret in keep {
                try files.write(secret: secret) { store in
                    let rows = try Row.fetchCursor(
                        db, sql: "SELECT idx, data FROM chunk WHERE secret_id = ? ORDER BY idx", arguments: [secret])
                    while let row = try rows.next() {
                        let index: Int = row[0]
                        try row.withUnsafeData(atIndex: 1) { data in
                            try (data ?? Data()).withUnsafeBytes { try store(index, $0) }
                        }
                    }
                }
                moved += 1
            }
            try db.execute(sql: "DELETE FROM chunk")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try queue.close()
        for file in [path, path + "-wal", path + "-shm"] {
            guard unlink(file) == 0 || errno == ENOENT else { throw ChunkFiles.failure("removing \(file)") }
        }
        return moved
    }
}
