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

@Suite("HTTP API")
struct APITests {
    @Test("opaque bytes round-trip, and a second claim finds nothing")
    func roundTrip() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let body = randomBytes(1500)
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(body, sender: sender)
            #expect(SecretID(encoded: id) != nil)
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) { response in
                #expect(response.status == .ok)
                #expect(Array(buffer: response.body) == body)
                #expect(response.headers[.init(API.Header.viewsLeft)!] == "0")
                #expect(response.headers[.contentType] == "application/octet-stream")
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) { response in
                #expect(response.status == .notFound)
                let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                #expect(error.error == .notFound)
            }
        }
    }

    @Test("a method a route does not take gets 405 with Allow, by the path's shape alone; an unknown path stays 404")
    func methodNotAllowed() async throws {
        let server = try TestServer { $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 1) }
        try await server.application().test(.router) { client in
            let id = SecretID.random().encoded
            let cases: [(String, HTTPRequest.Method, String)] = [
                ("/healthz", .post, "GET, HEAD"), ("/metrics", .delete, "GET"), (API.secretsPath, .put, "POST"),
                (API.secretsPath, .trace, "POST"), (API.secretPath(id), .post, "GET, DELETE"), (API.claimPath(id), .get, "POST"),
                (API.claimPath("not-an-id"), .delete, "POST"), ("/s/\(id)", .options, "GET"),
            ]
            for (path, method, allow) in cases {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == allow, "\(method) \(path)")
                    #expect(response.headers[.cacheControl] == "no-store")
                    #expect(String(buffer: response.body).contains(#""error":"method_not_allowed""#))
                }
            }
            try await client.execute(uri: "/api/v1/nothing", method: .get) { #expect($0.status == .notFound) }
            // None of those used up the failure budget (one failure a minute): a lookup still answers 404, not 429.
            try await client.execute(
                uri: API.secretPath(id), method: .get,
                headers: [.authorization: "Bearer \(TestSender().claimToken.base64URL)"]
            ) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test("metadata never consumes a view")
    func metadataDoesNotConsume() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(
                randomBytes(100), sender: sender, headers: sender.createHeaders(expiresIn: 3600, maxViews: 2))
            for _ in 0..<3 {
                try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) { response in
                    #expect(response.status == .ok)
                    let metadata = try APIJSON.decoder().decode(SecretMetadataResponse.self, from: Data(buffer: response.body))
                    #expect(metadata.size == 100)
                    #expect(metadata.viewsLeft == 2)
                    #expect(metadata.passwordKDF == nil)
                    #expect(String(buffer: response.body).contains(#""password_kdf":null"#))
                }
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test("a wrong or missing token gets the same 404 and consumes nothing")
    func wrongTokenDoesNotConsume() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let stranger = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(64), sender: sender)
            var bodies: Set<String> = []
            for headers in [stranger.claimHeaders, [:], [.authorization: "Bearer not-a-token"], sender.receiptHeaders]
                as [HTTPFields]
            {
                for (uri, method) in [(API.claimPath(id), HTTPRequest.Method.post), (API.secretPath(id), .get)] {
                    try await client.execute(uri: uri, method: method, headers: headers) { response in
                        #expect(response.status == .notFound)
                        bodies.insert(String(buffer: response.body))
                    }
                }
            }
            // A malformed and an unknown id answer exactly like a wrong token.
            for uri in [API.claimPath("nope"), API.claimPath(SecretID.random().encoded)] {
                try await client.execute(uri: uri, method: .post, headers: sender.claimHeaders) { response in
                    #expect(response.status == .notFound)
                    bodies.insert(String(buffer: response.body))
                }
            }
            #expect(bodies.count == 1)
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test("expiry is enforced at read time, before any sweep")
    func expiry() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender, headers: sender.createHeaders(expiresIn: 600))
            server.clock.advance(by: 599)
            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
            server.clock.advance(by: 1)
            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) { response in
                let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
                #expect(receipt.state == .expired)
            }
        }
    }

    @Test("max views N allows exactly N claims")
    func maxViews() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let body = randomBytes(300)
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(body, sender: sender, headers: sender.createHeaders(maxViews: 3))
            for left in [2, 1, 0] {
                try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) { response in
                    #expect(response.status == .ok)
                    #expect(Array(buffer: response.body) == body)
                    #expect(response.headers[.init(API.Header.viewsLeft)!] == String(left))
                }
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) { response in
                let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
                #expect(receipt.state == .viewed)
                #expect(receipt.viewedAt.count == 3)
                #expect(receipt.viewsLeft == 0)
            }
        }
    }

    @Test("revoke destroys the secret; the receipt says so")
    func revoke() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            try await client.execute(uri: API.secretPath(id), method: .delete, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.secretPath(id), method: .delete, headers: sender.receiptHeaders) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.secretPath(id), method: .delete, headers: sender.receiptHeaders) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) { response in
                let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
                #expect(receipt.state == .revoked)
                #expect(receipt.endedAt != nil)
            }
        }
    }

    @Test("receipt: waiting, then viewed; a long-poll returns when the claim happens")
    func receiptLongPoll() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) { response in
                let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
                #expect(receipt.state == .waiting)
                #expect(receipt.viewedAt.isEmpty)
            }
            let started = ContinuousClock.now
            async let polled: ReceiptResponse = client.execute(
                uri: API.receiptPath(id) + "?wait=30", method: .get,
                headers: sender.receiptHeaders
            ) { response in
                try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
            }
            try await Task.sleep(for: .milliseconds(300))
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
            let receipt = try await polled
            #expect(receipt.state == .viewed)
            #expect(receipt.viewedAt.count == 1)
            // Woken by the claim, not by the 30 s limit.
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("wrong passwords count down and the last one destroys the secret")
    func passwordAttempts() async throws {
        let server = try TestServer { $0.passwordAttempts = 3 }
        let sender = TestSender()
        let right = try testPassword("right horse")
        let wrong = try KDFParameters(ops: 1, memory: 8192, salt: right.kdf.salt).deriveKey(
            password: KDFParameters.passwordBytes("wrong"))
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(
                randomBytes(50), sender: sender, headers: sender.createHeaders(password: right))
            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) { response in
                let metadata = try APIJSON.decoder().decode(SecretMetadataResponse.self, from: Data(buffer: response.body))
                #expect(metadata.passwordKDF == right.kdf.encoded)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) { response in
                #expect(response.status == .unauthorized)
                let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                #expect(error.error == .passwordRequired)
            }
            for left in [2, 1] {
                try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: wrong))
                { response in
                    #expect(response.status == .forbidden)
                    let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                    #expect(error.error == .wrongPassword)
                    #expect(error.attemptsLeft == left)
                }
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: wrong)) {
                response in
                #expect(response.status == .forbidden)
                let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                #expect(error.error == .passwordAttemptsExhausted)
                #expect(error.attemptsLeft == 0)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: right.key))
            {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) { response in
                let receipt = try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
                #expect(receipt.state == .burned)
            }
        }
    }

    @Test("the right password after a wrong one reveals the secret")
    func rightPasswordAfterWrong() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let right = try testPassword("right horse")
        let wrong = SecretBytes.random(count: 32)
        let body = randomBytes(77)
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(body, sender: sender, headers: sender.createHeaders(password: right))
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: wrong)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders(passwordKey: right.key))
            { response in
                #expect(response.status == .ok)
                #expect(Array(buffer: response.body) == body)
            }
        }
    }

    @Test(
        "bad create headers are refused with a 400 naming the header",
        arguments: [
            (API.Header.claimVerifier, nil as String?),
            (API.Header.claimVerifier, "short"),
            (API.Header.receiptVerifier, "!!!!"),
            (API.Header.expiresIn, "10"),
            (API.Header.expiresIn, "99999999"),
            (API.Header.expiresIn, "-5"),
            (API.Header.maxViews, "0"),
            (API.Header.maxViews, "101"),
            (API.Header.passwordKDF, "argon2id13; ops=99; mem=8192; salt=AAAAAAAAAAAAAAAAAAAAAA"),
        ])
    func badHeaders(header: String, value: String?) async throws {
        let server = try TestServer()
        let sender = TestSender()
        var changed = sender.createHeaders(password: header == API.Header.passwordKDF ? try testPassword("x") : nil)
        changed[.init(header)!] = value
        let headers = changed
        try await server.application().test(.router) { client in
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: headers, body: ByteBuffer(bytes: randomBytes(10))
            ) { response in
                #expect(response.status == .badRequest)
                let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                #expect(error.error == .badRequest)
                #expect(error.message.contains(header))
            }
        }
        #expect(try await server.store.storedBytes() == 0)
    }

    @Test("an empty body is refused")
    func emptyBody() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            try await client.execute(uri: API.secretsPath, method: .post, headers: sender.createHeaders(), body: ByteBuffer()) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("security headers are on every response, errors included")
    func securityHeaders() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            let requests: [(String, HTTPRequest.Method, HTTPFields)] = [
                ("/healthz", .get, [:]), ("/metrics", .get, [:]), ("/nowhere", .get, [:]),
                (API.secretPath(id), .get, sender.claimHeaders), (API.secretPath(id), .get, [:]),
                (API.receiptPath(id), .get, sender.receiptHeaders), (API.secretsPath, .post, [:]),
                (API.claimPath(id), .post, sender.claimHeaders), (API.claimPath(id), .post, sender.claimHeaders),
            ]
            for (uri, method, headers) in requests {
                try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: [1])) { response in
                    #expect(response.headers[.cacheControl] == "no-store", "\(method) \(uri)")
                    #expect(response.headers[.init("Referrer-Policy")!] == "no-referrer", "\(method) \(uri)")
                    #expect(response.headers[.init("X-Content-Type-Options")!] == "nosniff", "\(method) \(uri)")
                    #expect(response.headers[.init("X-Robots-Tag")!]?.contains("noindex") == true, "\(method) \(uri)")
                }
            }
        }
    }

    @Test("a full cycle logs no id, token or body, even at trace level")
    func logsCarryNoSecrets() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let log = CapturedLog()
        let body = Array("a very recognisable plaintext-looking body".utf8)
        let id = try await server.application(logger: log.logger()).test(.router) { client in
            let id = try await client.createSecret(body, sender: sender)
            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: API.receiptPath(id), method: .get, headers: sender.receiptHeaders) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .notFound)
            }
            return id
        }
        let text = log.text
        #expect(text.contains("route"))  // the log was captured at all
        for secret in [
            id, sender.claimToken.base64URL, sender.receiptToken.base64URL, sender.linkKey.base64URL,
            Base64URL.encode(KeySchedule.verifier(of: sender.claimToken)), String(decoding: body, as: UTF8.self),
        ] {
            #expect(!text.contains(secret))
        }
        let metrics = server.metrics.exposition()
        #expect(metrics.contains("burnlink_secrets_created_total 1"))
        #expect(metrics.contains("burnlink_secrets_claimed_total 1"))
        #expect(!metrics.contains(id))
    }

    @Test("a wrong password does not end a receipt long-poll: only a real change does")
    func longPollIgnoresNonChanges() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let right = try testPassword("right")
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(
                randomBytes(10), sender: sender, headers: sender.createHeaders(password: right))
            let started = ContinuousClock.now
            async let polled: ReceiptResponse = client.execute(
                uri: API.receiptPath(id) + "?wait=2", method: .get,
                headers: sender.receiptHeaders
            ) { response in
                try APIJSON.decoder().decode(ReceiptResponse.self, from: Data(buffer: response.body))
            }
            try await Task.sleep(for: .milliseconds(200))
            try await client.execute(
                uri: API.claimPath(id), method: .post,
                headers: sender.claimHeaders(passwordKey: SecretBytes.random(count: 32))
            ) {
                #expect($0.status == .forbidden)
            }
            let receipt = try await polled
            #expect(receipt.state == .waiting)
            #expect(ContinuousClock.now - started >= .milliseconds(1900), "the poll ended before its limit")
        }
    }

    @Test("the bearer scheme is case-insensitive; 401 names the proof; HEAD /healthz answers")
    func protocolDetails() async throws {
        let server = try TestServer()
        let sender = TestSender()
        let right = try testPassword("right")
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            try await client.execute(
                uri: API.secretPath(id), method: .get,
                headers: [.authorization: "bearer \(sender.claimToken.base64URL)"]
            ) { #expect($0.status == .ok) }
            let protected = try await client.createSecret(
                randomBytes(10), sender: sender, headers: sender.createHeaders(password: right))
            try await client.execute(uri: API.claimPath(protected), method: .post, headers: sender.claimHeaders) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Burnlink-Password-Proof") == true)
            }
            try await client.execute(uri: "/healthz", method: .head) { #expect($0.status == .ok) }
            try await client.execute(uri: API.receiptPath(id) + "?wait=+5", method: .get, headers: sender.receiptHeaders) {
                #expect($0.status == .badRequest)
            }
        }
    }
}

@Suite("request log")
struct RequestLogTests {
    @Test(
        "durations are logged in milliseconds with two decimals, rounded",
        arguments: [
            (Duration.zero, "0.00"),
            (.microseconds(4), "0.00"),
            (.microseconds(5), "0.01"),
            (.microseconds(12_340), "12.34"),
            (.milliseconds(1), "1.00"),
            (.microseconds(99_995), "100.00"),
            (.seconds(2) + .microseconds(1_070), "2001.07"),
        ])
    func durationFormat(duration: Duration, expected: String) {
        #expect(duration.millisecondsText == expected)
    }
}
