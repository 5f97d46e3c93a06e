import AsyncHTTPClient
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

/// A second store or server on a SQLite file in use would run start-up recovery against
/// the first one's uploads and reads: it must refuse to start, touching nothing.
@Suite("one writer per SQLite database", .serialized)
struct SQLiteWriterLockTests: StoreContractHelpers {
    @Test("a second store on the file throws DatabaseInUse and leaves an upload in progress intact; after close a new one opens")
    func secondStoreRefused() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try SQLiteStore(path: path)
        let upload = StoreSample()
        let chunks = threeChunks()
        try await first.beginUpload(upload.record)
        for (index, chunk) in chunks.enumerated() {
            try await first.appendChunk(id: upload.id, index: index, bytes: ByteBuffer(bytes: chunk))
        }

        #expect(throws: DatabaseInUse(database: path)) { _ = try SQLiteStore(path: path) }
        #expect(throws: DatabaseInUse(database: path)) { _ = try SQLiteStore(path: path) }

        // Recovery did not run: the upload commits and reads back whole.
        try await first.commitUpload(id: upload.id, size: chunks.reduce(0) { $0 + $1.count }, chunkCount: chunks.count)
        let grant = try #require(try await first.claim(upload).grant)
        #expect(try await first.readAll(upload, grant: grant) == chunks.flatMap { $0 })
        try await first.finishRead(id: upload.id)
        try first.close()

        let reopened = try SQLiteStore(path: path)
        try reopened.close()
        let attributes = try FileManager.default.attributesOfItem(atPath: path + ".lock")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test("a lock held a moment longer by a copy of its descriptor (a child between fork and exec) is waited for, not refused")
    func inheritedCopyWaitedFor() throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try SQLiteStore(path: path)
        // What a forked child holds until its exec: another descriptor of the same open file.
        let held = try #require(try Self.descriptor(of: path + ".lock"))
        let copy = dup(held)
        #expect(copy >= 0)
        try first.close()
        let holding = Duration.milliseconds(150)
        Thread.detachNewThread {
            usleep(useconds_t(holding / .microseconds(1)))
            close(copy)
        }
        let started = ContinuousClock.now
        let reopened = try SQLiteStore(path: path)
        #expect(ContinuousClock.now - started >= holding)
        try reopened.close()
    }

    /// The descriptor this process has open on `path`, found through /proc/self/fd.
    private static func descriptor(of path: String) throws -> Int32? {
        let wanted = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name) else { continue }
            if target == wanted || target == path { return Int32(name) }
        }
        return nil
    }

    @Test("a dropped store releases the lock too, so a test or caller that forgets close() does not block the file")
    func droppedStoreReleases() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        do { _ = try SQLiteStore(path: path) }
        let again = try SQLiteStore(path: path)
        try again.close()
    }

    @Test("a second server process on the database exits non-zero with the message; the first keeps serving")
    func secondServerRefused() async throws {
        let database = temporaryDatabasePath()
        defer { try? FileManager.default.removeItem(atPath: (database as NSString).deletingLastPathComponent) }
        let client = HTTPClient.shared
        let first = try await LaunchedServer(arguments: ["--database", database])
        let sender = TestSender()
        let secret = randomBytes(3000)
        let created = try await sendRequest(
            client, .POST, first.baseURL + API.secretsPath,
            headers: sender.createHeaderList(), body: secret)
        #expect(created.status == 201)
        let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id

        let second = try await ChildProcess.run(
            Binaries.server.path, ["--port", "0", "--database", database], timeout: .seconds(30))
        #expect(second.status != 0)
        #expect(second.err.contains("another burnlink-server is using \(database)"), "\(second.err)")
        #expect(!second.err.contains("listening on"), "\(second.err)")

        let claimed = try await sendRequest(client, .POST, first.baseURL + API.claimPath(id), headers: sender.claimHeaderList)
        #expect(claimed.status == 200)
        #expect(claimed.body == secret)
        #expect(await first.stop() == 0)

        // Once the first has stopped, the file is free.
        let third = try await LaunchedServer(arguments: ["--database", database])
        #expect(await third.stop() == 0)
    }
}
