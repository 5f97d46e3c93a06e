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

/// A requester's keys and tokens, as `burnlink request` makes them.
struct TestRequester {
    let keys = RequestKeyPair.generate()
    var fillToken: SecretBytes { RequestKeys.fillToken(publicKey: keys.publicKey) }

    var createHeaders: HTTPFields {
        [
            .init(API.RequestHeader.fillVerifier)!: Base64URL.encode(KeySchedule.verifier(of: fillToken)),
            .init(API.RequestHeader.answerVerifier)!: Base64URL.encode(KeySchedule.verifier(of: keys.answerToken)),
            .contentType: "application/json",
        ]
    }
    var fillBearer: HTTPFields { [.authorization: "Bearer \(fillToken.base64URL)"] }
    var answerBearer: HTTPFields { [.authorization: "Bearer \(keys.answerToken.base64URL)"] }

    /// A fill's headers: the sender's create headers, the fill token, a sealed link key.
    func fillHeaders(_ sender: TestSender) throws -> HTTPFields {
        var headers = sender.createHeaders()
        headers[.authorization] = "Bearer \(fillToken.base64URL)"
        headers[.init(API.RequestHeader.sealedKey)!] = Base64URL.encode(try SealedKey.seal(sender.linkKey, to: keys.publicKey))
        return headers
    }
}

extension TestClientProtocol {
    func createRequest(_ requester: TestRequester, body: String = #"{"note":"the DB password"}"#) async throws -> String {
        try await execute(
            uri: API.requestsPath, method: .post, headers: requester.createHeaders, body: ByteBuffer(string: body)
        ) { response in
            guard response.status == .created else {
                throw TestFailure("request create answered \(response.status): \(String(buffer: response.body))")
            }
            return try APIJSON.decoder().decode(CreateRequestResponse.self, from: Data(buffer: response.body)).id
        }
    }
}

@Suite("HTTP API: requests")
struct RequestRouteTests {
    @Test("create, read, fill, answer: the requester opens the sealed key and claims the answer")
    func wholeExchange() async throws {
        let server = try TestServer { $0.maxSize = 1 << 20 }
        let requester = TestRequester()
        let sender = TestSender()
        let secret = randomBytes(3000)
        try await server.application().test(.router) { client in
            let id = try await client.createRequest(requester)
            try await client.execute(uri: API.requestPath(id), method: .get, headers: requester.fillBearer) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(#""note":"the DB password""#) && body.contains(#""answered":false"#), "\(body)")
                #expect(body.contains(#""max_size":1048576"#), "\(body)")
            }
            try await client.execute(uri: API.answerPath(id), method: .get, headers: requester.answerBearer) { response in
                #expect(String(buffer: response.body).contains(#""secret_id":null"#))
            }
            let secretID = try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(sender), body: ByteBuffer(bytes: secret)
            ) { response in
                #expect(response.status == .created)
                return try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(buffer: response.body)).id
            }
            let answer = try await client.execute(uri: API.answerPath(id), method: .get, headers: requester.answerBearer) {
                try APIJSON.decoder().decode(RequestAnswerResponse.self, from: Data(buffer: $0.body))
            }
            #expect(answer.state == .answered && answer.secretID == secretID)
            let sealed = try #require(answer.sealedKey.flatMap { Base64URL.decode($0, count: 80) })
            let linkKey = try SealedKey.open(sealed, with: requester.keys)
            #expect(linkKey == sender.linkKey)
            let claimToken = KeySchedule.claimToken(linkKey: linkKey)
            try await client.execute(
                uri: API.claimPath(secretID), method: .post, headers: [.authorization: "Bearer \(claimToken.base64URL)"]
            ) { response in
                #expect(response.status == .ok)
                #expect(Array(buffer: response.body) == secret)
            }
            // Answered: the filler's view says so, and a second fill is refused before its body.
            try await client.execute(uri: API.requestPath(id), method: .get, headers: requester.fillBearer) {
                #expect(String(buffer: $0.body).contains(#""answered":true"#))
            }
            try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(10))
            ) { response in
                #expect(response.status == .conflict)
                #expect(String(buffer: response.body).contains(#""error":"already_answered""#))
            }
        }
    }

    @Test("one 404 for a wrong token, the other token, an unknown or malformed id; each counts as a failure")
    func sameNotFound() async throws {
        let server = try TestServer { $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 6) }
        let requester = TestRequester()
        try await server.application().test(.router) { client in
            let id = try await client.createRequest(requester)
            let probes: [(String, HTTPRequest.Method, HTTPFields)] = [
                (API.requestPath(id), .get, requester.answerBearer),
                (API.answerPath(id), .get, requester.fillBearer),
                (API.requestPath(SecretID.random().encoded), .get, requester.fillBearer),
                (API.answerPath("not-an-id"), .get, requester.answerBearer),
                (API.requestPath(id), .get, [:]),
                (API.fillPath(id), .post, try requester.fillHeaders(TestSender()).setting(.authorization, "Bearer x")),
            ]
            var bodies: Set<String> = []
            for (path, method, headers) in probes {
                try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: "x")) {
                    #expect($0.status == .notFound, "\(method) \(path)")
                    bodies.insert(String(buffer: $0.body))
                }
            }
            #expect(bodies.count == 1, "\(bodies)")
            // Six failures used the budget: even the right token is now refused.
            try await client.execute(uri: API.requestPath(id), method: .get, headers: requester.fillBearer) {
                #expect($0.status == .tooManyRequests)
            }
        }
    }

    @Test("a request's note and headers are checked: control characters, length, other members, bad verifiers")
    func createChecks() async throws {
        let server = try TestServer()
        try await server.application().test(.router) { client in
            let long = String(repeating: "é", count: 257)
            let refused = [
                #"{"note":"line\nbreak"}"#, #"{"note":"bell\u0007"}"#, #"{"note":"\#(long)"}"#, #"{"note":""}"#,
                #"{"note":"x","secret":"y"}"#, #"["note"]"#, "not json", #"{"note":42}"#,
            ]
            for body in refused {
                try await client.execute(
                    uri: API.requestsPath, method: .post, headers: TestRequester().createHeaders, body: ByteBuffer(string: body)
                ) {
                    #expect($0.status == .badRequest, "\(body)")
                }
            }
            for body in ["", #"{}"#, #"{"note":null}"#, #"{"note":"ünïcode ✓ and \u200E marks are text"}"#] {
                let id = try await client.createRequest(TestRequester(), body: body)
                #expect(SecretID(encoded: id) != nil)
            }
            var missing = TestRequester().createHeaders
            missing[.init(API.RequestHeader.answerVerifier)!] = nil
            try await client.execute(uri: API.requestsPath, method: .post, headers: missing) {
                #expect($0.status == .badRequest)
                #expect(String(buffer: $0.body).contains(API.RequestHeader.answerVerifier))
            }
            try await client.execute(
                uri: API.requestsPath, method: .post, headers: TestRequester().createHeaders,
                body: ByteBuffer(string: String(repeating: " ", count: 5000))
            ) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("creator tokens guard making a request, not answering it; a fill needs its sealed key")
    func creatorTokensAndSealedKey() async throws {
        let token = "creator-token-0123456789"
        let digest = Array(BurnlinkCrypto.SHA256.hash(Array(token.utf8)))
        let server = try TestServer {
            $0.creatorTokens = try! CreatorTokens(parsing: digest.map { String(format: "%02x", $0) }.joined() + "\n")
        }
        let requester = TestRequester()
        try await server.application().test(.router) { client in
            try await client.execute(uri: API.requestsPath, method: .post, headers: requester.createHeaders) {
                #expect($0.status == .unauthorized)
            }
            var withToken = requester.createHeaders
            withToken[.authorization] = "Bearer \(token)"
            let id = try await client.execute(uri: API.requestsPath, method: .post, headers: withToken) {
                #expect($0.status == .created)
                return try APIJSON.decoder().decode(CreateRequestResponse.self, from: Data(buffer: $0.body)).id
            }
            var unsealed = try requester.fillHeaders(TestSender())
            unsealed[.init(API.RequestHeader.sealedKey)!] = Base64URL.encode(randomBytes(79))
            try await client.execute(uri: API.fillPath(id), method: .post, headers: unsealed, body: ByteBuffer(string: "x")) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(100))
            ) {
                #expect($0.status == .created, "the request link is the permission: no creator token")
            }
        }
    }

    @Test("making a request and filling one use the create budget, like creating a secret")
    func createBudget() async throws {
        let server = try TestServer { $0.rateLimit = RateLimitConfiguration(createsPerMinute: 3, failuresPerMinute: 100) }
        let requester = TestRequester()
        try await server.application().test(.router) { client in
            let id = try await client.createRequest(requester)
            _ = try await client.createSecret(randomBytes(10), sender: TestSender())
            try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(10))
            ) {
                #expect($0.status == .created)
            }
            // Three creates of any kind used the budget of three.
            try await client.execute(
                uri: API.requestsPath, method: .post, headers: TestRequester().createHeaders
            ) {
                #expect($0.status == .tooManyRequests)
                #expect($0.headers[.retryAfter] != nil)
            }
            try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(10))
            ) {
                #expect($0.status == .tooManyRequests, "a fill is limited before anything else is looked at")
            }
        }
    }

    @Test("an answer long-poll returns at the fill; an open request past its expiry is gone")
    func answerPollAndExpiry() async throws {
        let server = try TestServer()
        let requester = TestRequester()
        try await server.application().test(.router) { client in
            let id = try await client.createRequest(requester)
            async let polled = client.execute(uri: API.answerPath(id) + "?wait=20", method: .get, headers: requester.answerBearer)
            {
                try APIJSON.decoder().decode(RequestAnswerResponse.self, from: Data(buffer: $0.body))
            }
            try await Task.sleep(for: .milliseconds(300))
            try await client.execute(
                uri: API.fillPath(id), method: .post, headers: try requester.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(100))
            ) {
                #expect($0.status == .created)
            }
            let filled = ContinuousClock.now
            #expect(try await polled.state == .answered)
            #expect(filled.duration(to: .now) < .seconds(5), "released by the fill, not by the 20 s limit")

            let later = TestRequester()
            let expiring = try await client.execute(
                uri: API.requestsPath, method: .post,
                headers: later.createHeaders.setting(.init(API.Header.expiresIn)!, "60")
            ) {
                try APIJSON.decoder().decode(CreateRequestResponse.self, from: Data(buffer: $0.body)).id
            }
            server.clock.advance(by: 61)
            try await client.execute(uri: API.answerPath(expiring), method: .get, headers: later.answerBearer) {
                #expect($0.status == .notFound)
            }
            try await client.execute(
                uri: API.fillPath(expiring), method: .post, headers: try later.fillHeaders(TestSender()),
                body: ByteBuffer(bytes: randomBytes(100))
            ) {
                #expect($0.status == .notFound)
            }
        }
    }
}

extension HTTPFields {
    func setting(_ name: HTTPField.Name, _ value: String) -> HTTPFields {
        var copy = self
        copy[name] = value
        return copy
    }
}
