import BurnlinkTestSupport
import Foundation
import NIOCore
import Testing

@testable import BurnlinkServer

// An upload's chunk file as the process sees it: held open by one descriptor from the first
// append until the commit, the abort or the store's close (so the kernel keeps its writeback
// errors for the sync before the commit), and whole past the chunks kept in flight.

@Suite("SQLite chunk files: uploads")
struct ChunkFileUploadTests: StoreContractHelpers {
    @Test("an upload holds one descriptor on its chunk file until its commit, its abort or the close")
    func uploadHoldsItsFile() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }

        let committed = StoreSample()
        let chunks = threeChunks()
        let committedFile = StoreContractSQLiteTests.chunkFilePath(path, committed)
        try await store.beginUpload(committed.record)
        for (index, chunk) in chunks.enumerated() {
            try await store.appendChunk(id: committed.id, index: index, bytes: ByteBuffer(bytes: chunk))
            #expect(Self.descriptors(on: committedFile) == 1, "after chunk \(index)")
        }
        try await store.commitUpload(id: committed.id, size: chunks.reduce(0) { $0 + $1.count }, chunkCount: chunks.count)
        #expect(Self.descriptors(on: committedFile) == 0)
        let grant = try #require(try await store.claim(committed).grant)
        #expect(try await store.readAll(committed, grant: grant) == Array(chunks.joined()))
        #expect(Self.descriptors(on: committedFile) == 0)

        let aborted = StoreSample()
        let abortedFile = StoreContractSQLiteTests.chunkFilePath(path, aborted)
        try await store.beginUpload(aborted.record)
        try await store.appendChunk(id: aborted.id, index: 0, bytes: ByteBuffer(bytes: chunks[0]))
        #expect(Self.descriptors(on: abortedFile) == 1)
        try await store.abortUpload(id: aborted.id)
        #expect(Self.descriptors(on: abortedFile) == 0)
        #expect(!FileManager.default.fileExists(atPath: abortedFile))

        let unfinished = StoreSample()
        let unfinishedFile = StoreContractSQLiteTests.chunkFilePath(path, unfinished)
        try await store.beginUpload(unfinished.record)
        try await store.appendChunk(id: unfinished.id, index: 0, bytes: ByteBuffer(bytes: chunks[0]))
        #expect(Self.descriptors(on: unfinishedFile) == 1)
        try store.close()
        #expect(Self.descriptors(on: unfinishedFile) == 0)
    }

    @Test("once the chunk files are let go for the close, an append opens no file")
    func noAppendAfterClose() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let files = ChunkFiles(directory: ChunkFiles.directory(for: path))
        let (open, late) = (Data(StoreSample().id.bytes), Data(StoreSample().id.bytes))
        try await files.append(secret: open, index: 0, bytes: ByteBuffer(bytes: [1, 2, 3]))
        #expect(Self.descriptors(on: files.path(of: open)) == 1)
        files.releaseAll()
        #expect(Self.descriptors(on: files.path(of: open)) == 0)
        await #expect(throws: StoreError.self) {
            try await files.append(secret: late, index: 0, bytes: ByteBuffer(bytes: [1, 2, 3]))
        }
        #expect(!FileManager.default.fileExists(atPath: files.path(of: late)))
        #expect(Self.descriptors(on: files.path(of: late)) == 0)
    }

    @Test("an upload of more chunks than are kept in flight reads back whole, each chunk in its place")
    func uploadPastTheWritebackWindow() async throws {
        let (directory, path) = StoreContractSQLiteTests.location()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        defer { try? store.close() }
        let sample = StoreSample()
        // Each chunk its own: a random head, then its index repeated (cheap to make, and a
        // chunk read from another slot cannot pass for it).
        let chunks = (0..<(ChunkFiles.slotsInFlight + 6)).map { index in
            let length = index == ChunkFiles.slotsInFlight + 5 ? mebibyte / 3 : mebibyte
            return StoreSample.randomBytes(16) + [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: length - 16)
        }
        try await store.upload(sample, chunks: chunks)
        let grant = try #require(try await store.claim(sample).grant)
        #expect(grant.chunkCount == chunks.count)
        #expect(grant.firstChunk == ByteBuffer(bytes: chunks[0]))
        // Chunk by chunk, as ByteBuffers: comparing 70 MiB as arrays takes half a minute in a
        // debug build.
        for index in 1..<chunks.count {
            let chunk = try await store.chunk(id: sample.id, index: index)
            #expect(chunk == ByteBuffer(bytes: chunks[index]), "chunk \(index)")
        }
    }

    /// How many of this process's descriptors are open on the file at `path`, or on the
    /// file that had that name before it was removed.
    static func descriptors(on path: String) -> Int {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter { entry in
            let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)
            return link == target || link == target + " (deleted)"
        }.count
    }
}
