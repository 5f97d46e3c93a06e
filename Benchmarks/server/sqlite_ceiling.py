#!/usr/bin/env python3
"""What SQLite alone allows for burnlink's create transaction, without the server.

A diagnostic for docs/benchmarks.md ("Server"), not part of run.sh. It copies the shape
of SQLiteStore's create (schema "v1" in Sources/BurnlinkServer/Store/SQLiteStore.swift,
reduced to the tables and index a create touches): per operation one savepoint holding an
INSERT into `secret`, an INSERT of the 1 KiB chunk into `secret_chunk` and an UPDATE of
`store_stats`; BATCH operations per transaction, as group commit does; WAL,
synchronous=FULL, secure_delete=ON. The database first gets PRELOAD secrets (the server's
database holds about 40,000 by the end of run.sh's create run), then COUNT operations are
timed.

    python3 Benchmarks/server/sqlite_ceiling.py [COUNT] [PRELOAD]

prints creates/s for `secret_chunk` as in the server (WITHOUT ROWID) and as an ordinary
rowid table with the same primary key, each with batches of 1, 7 (what 16 connections give
the server) and 50. Uses Python's sqlite3 module; the line "SQLite x.y.z" says which
library that is (on Debian 12 the same libsqlite3 3.40.1 the server links).

The copy of the schema can drift from the server's: check it against SQLiteStore.swift.
"""

import os
import sqlite3
import sys
import tempfile
import time

SECRET = """
CREATE TABLE secret (
    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    state TEXT NOT NULL,
    claim_verifier BLOB NOT NULL,
    receipt_verifier BLOB,
    password_verifier BLOB,
    password_kdf TEXT,
    password_attempts_left INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    max_views INTEGER NOT NULL,
    views_left INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    chunk_count INTEGER NOT NULL DEFAULT 0,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    active_readers INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX secret_active_expiry ON secret (expires_at) WHERE state = 'active';
CREATE TABLE store_stats (id INTEGER PRIMARY KEY CHECK (id = 1), stored_bytes INTEGER NOT NULL);
INSERT INTO store_stats (id, stored_bytes) VALUES (1, 0);
"""

CHUNK = {
    "WITHOUT ROWID": """CREATE TABLE secret_chunk (secret_id BLOB NOT NULL, idx INTEGER NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (secret_id, idx)) WITHOUT ROWID""",
    "rowid": """CREATE TABLE secret_chunk (secret_id BLOB NOT NULL, idx INTEGER NOT NULL,
        data BLOB NOT NULL, PRIMARY KEY (secret_id, idx))""",
}


def measure(directory: str, layout: str, batch: int, count: int, preload: int) -> tuple[float, int]:
    """Returns creates per second and the size of the database file in bytes."""
    path = os.path.join(directory, f"ceiling-{batch}-{layout.replace(' ', '_')}.sqlite")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA secure_delete = ON")
    db.executescript(SECRET)
    db.execute(CHUNK[layout])
    body = os.urandom(1024)
    verifier = os.urandom(32)

    def create() -> None:
        key = os.urandom(16)
        now = int(time.time() * 1000)
        db.execute("SAVEPOINT op")
        db.execute(
            "INSERT INTO secret (id, state, claim_verifier, password_attempts_left, created_at, expires_at,"
            " max_views, views_left, size, chunk_count, stored_bytes)"
            " VALUES (?, 'active', ?, 5, ?, ?, 1, 1, 1024, 1, 1024)",
            (key, verifier, now, now + 86_400_000))
        db.execute("INSERT INTO secret_chunk (secret_id, idx, data) VALUES (?, 0, ?)", (key, body))
        db.execute("UPDATE store_stats SET stored_bytes = stored_bytes + 1024 WHERE id = 1")
        db.execute("RELEASE op")

    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    for _ in range(preload):
        create()
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA synchronous = FULL")

    start = time.perf_counter()
    done = 0
    while done < count:
        db.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            create()
        db.execute("COMMIT")
        done += batch
    elapsed = time.perf_counter() - start
    size = db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    return done / elapsed, size


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    preload = int(sys.argv[2]) if len(sys.argv) > 2 else 40_000
    parent = os.environ.get("BENCH_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    print(f"SQLite {sqlite3.sqlite_version}; {count} timed creates after {preload} preloaded; files in {parent}")
    with tempfile.TemporaryDirectory(prefix="burnlink-ceiling.", dir=parent) as directory:
        for layout in CHUNK:
            for batch in (1, 7, 50):
                rate, size = measure(directory, layout, batch, count, preload)
                print(f"secret_chunk {layout:<13}  batch {batch:>2}: {rate:8,.0f} creates/s"
                      f"  ({size / (preload + count) / 1024:.1f} KiB of database per secret)")


if __name__ == "__main__":
    main()
