import Foundation
import GRDB

/// The one SQLite chunk file of earlier releases (`<database>-chunks`, table
/// `chunk(secret_id, idx, data)`), moved into `ChunkFiles` when a store opens.
///
/// One secret at a time, each step crash-safe, so an interrupted move is repeated until it
/// completes: the secret's chunks are written into its file and synced; only then are its
/// rows deleted (`secure_delete` zeroing their pages, the commit durable) and the zeros
/// checkpointed into the file, so the move needs room for about one secret more than the
/// old file holds. A secret whose rows are gone was moved already and is left as it is.
/// Then the rows of secrets no longer readable go the same way, and the old file (its
/// WAL and shared memory first) is removed.
enum LegacyChunkFile {
    static func path(for databasePath: String) -> String { databasePath + "-chunks" }

    /// Moves the chunks of the secrets in `keep` into `files` and removes the old file;
    /// does nothing when there is none. Returns how many secrets were moved.
    @discardableResult
    static func migrate(databasePath: String, keep: Set<Data>, into files: ChunkFiles) throws -> Int {
        let path = path(for: databasePath)
        let companions = [path + "-wal", path + "-shm"]
        guard FileManager.default.fileExists(atPath: path) else {
            // A move cut between its last removals: only the emptied companions are left.
            try remove(companions, in: databasePath)
            return 0
        }
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
            let stored = try Data.fetchSet(db, sql: "SELECT DISTINCT secret_id FROM chunk")
            for secret in stored where keep.contains(secret) {
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
                try db.execute(sql: "DELETE FROM chunk WHERE secret_id = ?", arguments: [secret])
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                moved += 1
            }
            try db.execute(sql: "DELETE FROM chunk")
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        try queue.close()
        try remove(companions + [path], in: databasePath)
        return moved
    }

    private static func remove(_ paths: [String], in databasePath: String) throws {
        var removed = false
        for file in paths {
            if unlink(file) == 0 {
                removed = true
            } else if errno != ENOENT {
                throw ChunkFiles.failure("removing \(file)")
            }
        }
        if removed { try ChunkFiles.syncDirectory((databasePath as NSString).deletingLastPathComponent) }
    }
}
