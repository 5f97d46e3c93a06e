import Foundation
import GRDB
import Logging
import Testing

@testable import BurnlinkServer

/// A full disk, whichever layer meets it, reaches the client as 507 `storage_full`; other
/// storage failures stay 503.
@Suite("storage full")
struct StorageFullTests {
    let logger = Logger(label: "burnlink-test")

    @Test("ENOSPC and EDQUOT in a chunk file, SQLITE_FULL in the database: storage full; other errors: unavailable")
    func mapping() {
        for code in [ENOSPC, EDQUOT] {
            guard case .storageFull = ChunkFiles.failure("writing chunk 3", code: code) else {
                Issue.record("errno \(code) is not storage full")
                continue
            }
        }
        guard case .unavailable = ChunkFiles.failure("writing chunk 3", code: EIO) else {
            Issue.record("EIO should be unavailable")
            return
        }
        guard case .storageFull = StoreError(mapping: DatabaseError(resultCode: .SQLITE_FULL)) else {
            Issue.record("SQLITE_FULL is not storage full")
            return
        }
        guard case .unavailable = StoreError(mapping: DatabaseError(resultCode: .SQLITE_IOERR)) else {
            Issue.record("SQLITE_IOERR should be unavailable")
            return
        }
    }

    @Test("storage full answers 507 storage_full; unavailable answers 503")
    func answers() {
        let full = ErrorResponseMiddleware<BurnlinkRequestContext>.apiError(for: StoreError.storageFull("disk"), logger: logger)
        #expect(full.status.code == 507 && full.body.error == .storageFull)
        let down = ErrorResponseMiddleware<BurnlinkRequestContext>.apiError(for: StoreError.unavailable("down"), logger: logger)
        #expect(down.status.code == 503)
    }
}
