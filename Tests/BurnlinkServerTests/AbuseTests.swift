import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import BurnlinkServer

/// Decodes an error body and checks its code.
func expectError(
    _ response: TestResponse, _ status: HTTPResponse.Status, _ code: ErrorCode,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(response.status == status, sourceLocation: sourceLocation)
    let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
    #expect(error.error == code, sourceLocation: sourceLocation)
    #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
}

extension RawConnection {
    /// `receiveAll` on a thread of its own: a blocking read on one of the few cooperative
    /// threads would starve the in-process server this test is waiting for.
    func receiveAllOffPool() async -> String {
        let box = UncheckedBox(self)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: box.value.receiveAll()) }
        }
    }
}

extension RawConnection {
    /// `send` on a thread of its own, for bodies large enough to block until the server reads.
    func sendOffPool(_ bytes: [UInt8]) async -> Bool {
        let box = UncheckedBox(self)
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: box.value.send(bytes)) }
        }
    }
}

extension RawConnection {
    /// Sends `pieces` with `gap` between them from a thread of its own: paced from the
    /// cooperative threads, a loaded test run could stretch a gap past the timeout under test.
    func sendPacedOffPool(_ pieces: [[UInt8]], gap: Duration) async -> [Bool] {
        let box = UncheckedBox(self)
        let pause = useconds_t(gap / .microseconds(1))
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var sent: [Bool] = []
                for (index, piece) in pieces.enumerated() {
                    if index > 0 { usleep(pause) }
                    sent.append(box.value.send(piece))
                }
                continuation.resume(returning: sent)
            }
        }
    }
}

private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Serialized: the timeouts under test are short, and parallel uploads would blur them.
@Suite("Abuse limits", .serialized)
struct AbuseTests {
    // MARK: slow uploads

    @Test(
        "a chunked body that stalls between chunks is not taken for a complete one",
        arguments: [false, true])
    func stalledChunkedUpload(onBoundary: Bool) async throws {
        let server = try TestServer { $0.idleTimeout = .milliseconds(500) }
        let sender = TestSender()
        try await server.application().test(.live) { client in
            let connection = try RawConnection(port: try #require(client.port))
            defer { connection.close() }
            connection.send(RawConnection.requestHead(sender, extra: ["Transfer-Encoding: chunked"]))
            let piece = randomBytes(1000)
            // Either a whole HTTP chunk (the stream could end cleanly here) or half of one.
            let sent = onBoundary ? piece : Array(piece.prefix(500))
            connection.send(Array("3e8\r\n".utf8) + sent + (onBoundary ? Array("\r\n".utf8) : []))
            let stalled = ContinuousClock.now
            let answer = await connection.receiveAllOffPool()
            let waited = ContinuousClock.now - stalled
            #expect(answer.isEmpty, "a stalled upload got an answer: \(answer.prefix(200))")
            #expect(waited < .seconds(5), "the connection stayed open \(waited) after the body stalled")
        }
        // Give a wrongly completed create every chance to land before looking.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await server.store.storedBytes() == 0)
    }

    @Test("uploads that keep sending are not cut by the idle timeout")
    func slowButSteadyUpload() async throws {
        let server = try TestServer { $0.idleTimeout = .seconds(2) }
        let sender = TestSender()
        let body = randomBytes(5000)
        try await server.application().test(.live) { client in
            let connection = try RawConnection(port: try #require(client.port))
            defer { connection.close() }
            connection.send(RawConnection.requestHead(sender, extra: ["Content-Length: \(body.count)"]))
            // Five pieces 600 ms apart: 2.4 s in all, longer than the timeout, never idle for it.
            let pieces = (0..<5).map { Array(body[$0 * 1000..<($0 + 1) * 1000]) }
            let sent = await connection.sendPacedOffPool(pieces, gap: .milliseconds(600))
            #expect(sent == Array(repeating: true, count: 5), "the server closed the connection mid-body: \(sent)")
            let answer = await connection.receiveAllOffPool()
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer.prefix(300))")
        }
        #expect(try await server.store.storedBytes() == body.count)
    }

    // MARK: concurrent uploads

    @Test("concurrent uploads per address are capped: 429 with Retry-After; hang-ups and completions free their slot")
    func concurrentUploadCap() async throws {
        let server = try TestServer { $0.maxConcurrentUploads = 2 }
        // Waits on the server's own count rather than on time: under a loaded test run the
        // server may take seconds to get round to a connection.
        @Sendable func inProgress(_ count: Int) async -> Bool {
            await eventually(within: .seconds(60)) {
                metricValue("burnlink_uploads_in_progress", in: server.metrics.exposition()) == Double(count)
            }
        }
        try await server.application().test(.live) { client in
            let port = try #require(client.port)
            // Two uploads that announce 100 bytes and send 10: both hold a slot.
            var open: [(RawConnection, [UInt8])] = []
            for _ in 0..<2 {
                let connection = try RawConnection(port: port)
                let body = randomBytes(100)
                connection.send(RawConnection.requestHead(TestSender(), extra: ["Content-Length: 100"]))
                connection.send(Array(body.prefix(10)))
                open.append((connection, body))
            }
            defer { open.forEach { $0.0.close() } }
            #expect(await inProgress(2), "the two uploads never both reached the server")

            // A third is refused, and nothing of it is stored.
            let refused = try await client.execute(
                uri: API.secretsPath, method: .post, headers: TestSender().createHeaders(),
                body: ByteBuffer(bytes: [1, 2, 3])
            ) { $0 }
            try expectError(refused, .tooManyRequests, .rateLimited)
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await server.store.storedBytes() == 0)

            // The first finishes normally: its slot is free again.
            let (first, firstBody) = open[0]
            first.send(Array(firstBody.dropFirst(10)))
            #expect(await first.receiveAllOffPool().hasPrefix("HTTP/1.1 201"))
            _ = try await client.createSecret([4, 5, 6], sender: TestSender())

            // The second hangs up: its slot comes back too, so two run at once again.
            open[1].0.close()
            #expect(await inProgress(0), "the upload that hung up still counts as in progress")
            let third = try RawConnection(port: port)
            defer { third.close() }
            third.send(RawConnection.requestHead(TestSender(), extra: ["Content-Length: 100"]))
            third.send(randomBytes(10))
            #expect(await inProgress(1))
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: TestSender().createHeaders(),
                body: ByteBuffer(bytes: [7])
            ) { #expect($0.status == .created) }
        }
    }

    // MARK: storage quota

    @Test("a create past the storage quota gets 507: declared up front, or while streaming; nothing partial remains")
    func storageQuota() async throws {
        let server = try TestServer { $0.storageQuota = 3000 }
        let holder = TestSender()
        try await server.application().test(.live) { client in
            let id = try await client.createSecret(randomBytes(2000), sender: holder)

            // Declared: refused before the body is read.
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: TestSender().createHeaders(),
                body: ByteBuffer(bytes: randomBytes(1001))
            ) { response in
                try expectError(response, .init(code: 507), .storageFull)
            }
            // Streamed without a length: refused once it passes.
            let connection = try RawConnection(port: try #require(client.port))
            defer { connection.close() }
            connection.send(RawConnection.requestHead(TestSender(), extra: ["Transfer-Encoding: chunked"]))
            for _ in 0..<3 { connection.send(Array("1f4\r\n".utf8) + randomBytes(500) + Array("\r\n".utf8)) }
            connection.send("0\r\n\r\n")
            let answer = await connection.receiveAllOffPool()
            #expect(answer.hasPrefix("HTTP/1.1 507"), "\(answer.prefix(200))")
            #expect(answer.contains(#""error":"storage_full""#))
            #expect(try await server.store.storedBytes() == 2000)

            // Exactly up to the quota fits.
            _ = try await client.createSecret(randomBytes(1000), sender: TestSender())
            // Reading a secret (and confirming it arrived) frees its share.
            let session = try await client.execute(uri: API.claimPath(id), method: .post, headers: holder.claimHeaders) {
                #expect($0.status == .ok)
                return $0.headers[.burnlinkClaimSession]
            }
            var confirm = holder.claimHeaders
            confirm[.burnlinkClaimSession] = try #require(session)
            try await client.execute(uri: API.confirmPath(id), method: .post, headers: confirm) {
                #expect($0.status == .noContent)
            }
            #expect(try await eventually { try await server.store.storedBytes() == 1000 })
            _ = try await client.createSecret(randomBytes(2000), sender: TestSender())
        }
    }

    @Test("a multi-chunk upload cut off by the quota while streaming leaves no staged chunk")
    func storageQuotaWhileStaging() async throws {
        let server = try TestServer { $0.storageQuota = 2 * StoreLimits.chunkSize + StoreLimits.chunkSize / 2 }
        try await server.application().test(.live) { client in
            let connection = try RawConnection(port: try #require(client.port))
            defer { connection.close() }
            connection.send(RawConnection.requestHead(TestSender(), extra: ["Transfer-Encoding: chunked"]))
            let piece = randomBytes(256 * 1024)
            for _ in 0..<16 {
                guard
                    connection.send(Array(String(piece.count, radix: 16).utf8) + Array("\r\n".utf8) + piece + Array("\r\n".utf8))
                else { break }
            }
            let answer = await connection.receiveAllOffPool()
            #expect(answer.hasPrefix("HTTP/1.1 507"), "\(answer.prefix(200))")
        }
        #expect(try await eventually { try await server.store.storedBytes() == 0 })
        #expect(try await server.store.sweep(now: server.clock.now(), receiptRetention: 0) == SweepReport())
    }

    // MARK: guessing

    @Test("guessing ids through metadata runs into the failure budget")
    func idGuessingIsLimited() async throws {
        let server = try TestServer { $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 3) }
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret([1, 2, 3], sender: sender)
            for _ in 0..<3 {
                try await client.execute(
                    uri: API.secretPath(SecretID.random().encoded), method: .get, headers: sender.claimHeaders
                ) {
                    #expect($0.status == .notFound)
                }
            }
            // Out of budget: even the right id and token wait, and nothing is revealed.
            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) { response in
                try expectError(response, .tooManyRequests, .rateLimited)
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .tooManyRequests)
            }
        }
    }

    @Test("guessing passwords runs into the failure budget before the attempt limit, and burns nothing")
    func passwordGuessingIsLimited() async throws {
        let server = try TestServer {
            $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 3)
            $0.passwordAttempts = 100
        }
        let sender = TestSender()
        let right = try testPassword("right")
        try await server.application().test(.router) { client in
            let id = try await client.createSecret([9, 9, 9], sender: sender, headers: sender.createHeaders(password: right))
            var answers: [HTTPResponse.Status] = []
            for guess in 0..<5 {
                let key = try testPassword("guess \(guess)").key
                try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: key)) {
                    answers.append($0.status)
                }
            }
            #expect(answers == [.forbidden, .forbidden, .forbidden, .tooManyRequests, .tooManyRequests])
            // Nothing was burned or used.
            let metadata = try await server.store.metadata(
                id: try #require(SecretID(encoded: id)),
                claimVerifier: KeySchedule.verifier(of: sender.claimToken),
                now: server.clock.now())
            #expect(metadata?.viewsLeft == 1)
            let receipt = try await server.store.receipt(
                id: try #require(SecretID(encoded: id)),
                receiptVerifier: KeySchedule.verifier(of: sender.receiptToken),
                now: server.clock.now())
            #expect(receipt?.state == .waiting)
        }
    }

    // MARK: creator tokens

    @Test("with creator tokens, a create needs one (401 with a challenge otherwise); opening never does")
    func creatorTokens() async throws {
        let token = "op-issued-token-" + Base64URL.encode(randomBytes(24))
        let other = "op-issued-token-" + Base64URL.encode(randomBytes(24))
        let file = """
            # issued 2026-11-26
            \(CreatorTokens.digestLine(token: other))  alice

            \(CreatorTokens.digestLine(token: token))  -
            """
        let tokens = try CreatorTokens(parsing: file)
        #expect(tokens.digests.count == 2)
        let server = try TestServer { $0.creatorTokens = tokens }
        let sender = TestSender()
        try await server.application().test(.router) { client in
            // None.
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: sender.createHeaders(),
                body: ByteBuffer(bytes: [1])
            ) { response in
                try expectError(response, .unauthorized, .creatorTokenRequired)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="burnlink""#)
            }
            // Wrong, malformed, or the right one under another scheme.
            // (The altered token's last character always differs: a random token may end in "x".)
            let altered = token.dropLast() + (token.hasSuffix("x") ? "y" : "x")
            for value in ["Bearer " + altered, "Bearer short", "Basic " + token, "Bearer " + token + "#"] {
                var headers = sender.createHeaders()
                headers[.authorization] = value
                try await client.execute(uri: API.secretsPath, method: .post, headers: headers, body: ByteBuffer(bytes: [1])) {
                    response in
                    try expectError(response, .unauthorized, .creatorTokenRequired)
                    #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true, "\(value)")
                }
            }
            #expect(try await server.store.storedBytes() == 0)
            // Either issued token works.
            var ids: [String] = []
            for good in [token, other] {
                var headers = sender.createHeaders()
                headers[.authorization] = "bearer \(good)"
                ids.append(try await client.createSecret([2, 3], sender: sender, headers: headers))
            }
            // Opening, metadata and receipts need none.
            try await client.execute(uri: API.secretPath(ids[0]), method: .get, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: API.receiptPath(ids[0]), method: .get, headers: sender.receiptHeaders) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: API.claimPath(ids[0]), method: .post, headers: sender.claimHeaders) { response in
                #expect(response.status == .ok)
                #expect(Array(buffer: response.body) == [2, 3])
            }
        }
    }

    @Test("a creator-token file with a bad line, or no digest at all, is refused")
    func creatorTokenFileErrors() throws {
        #expect(throws: CreatorTokens.ParseError.badLine(2)) {
            try CreatorTokens(parsing: "# comment\nnot-a-digest\n")
        }
        #expect(throws: CreatorTokens.ParseError.badLine(1)) {
            try CreatorTokens(parsing: String(repeating: "a", count: 63))
        }
        #expect(throws: CreatorTokens.ParseError.empty) { try CreatorTokens(parsing: "# nothing yet\n\n") }
        // Upper-case hex is the same digest.
        let line = CreatorTokens.digestLine(token: "0123456789abcdef")
        #expect(try CreatorTokens(parsing: line.uppercased()) == CreatorTokens(parsing: line))
    }

    @Test("the digest line is SHA-256 of the token in hex, as sha256sum prints it")
    func digestLineMatchesKnownAnswer() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        #expect(CreatorTokens.digestLine(token: "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
