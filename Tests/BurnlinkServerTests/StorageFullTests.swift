import Foundation
import GRDB
import Logging
import Testing

@testable import BurnlinkServer

/// A full disk, whichever layer meets it, is told apart from other storage failures; a
/// create answers it 507 `storage_full` (the process test in ServerDiskTests), anything
/// else 503.
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

    @Test("outside a create, a full disk is the storage failing: 503")
    func answers() {
        let full = ErrorResponseMiddleware<BurnlinkRequestContext>.apiError(for: StoreError.storageFull("disk"), logger: logger)
        #expect(full.status.code == 503 && full.body.error == .unavailable)
        #expect(APIError.diskFull.status.code == 507 && APIError.diskFull.body.error == .storageFull)
    }
}
