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

@Suite("Rate limits, proxies, sweeper")
struct LimitsTests {
    @Test("creates beyond the per-client budget get 429 with Retry-After")
    func createRateLimit() async throws {
        let server = try TestServer { $0.rateLimit = RateLimitConfiguration(createsPerMinute: 3, failuresPerMinute: 100) }
        let sender = TestSender()
        try await server.application().test(.router) { client in
            for _ in 0..<3 { _ = try await client.createSecret(randomBytes(10), sender: sender) }
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: sender.createHeaders(),
                body: ByteBuffer(bytes: randomBytes(10))
            ) { response in
                #expect(response.status == .tooManyRequests)
                #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1)
                let error = try APIJSON.decoder().decode(ErrorResponse.self, from: Data(buffer: response.body))
                #expect(error.error == .rateLimited)
            }
        }
    }

    @Test("failed lookups use up a budget that then blocks the client, not others behind a trusted proxy")
    func failureRateLimit() async throws {
        let server = try TestServer {
            $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 2)
            $0.trustProxy = true
        }
        let sender = TestSender()
        let guesser: HTTPFields = [
            .authorization: "Bearer \(TestSender().claimToken.base64URL)", .init("X-Forwarded-For")!: "198.51.100.1, 203.0.113.7",
        ]
        var honestHeaders = sender.claimHeaders
        honestHeaders[.init("X-Forwarded-For")!] = "203.0.113.8"
        let honest = honestHeaders
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            for _ in 0..<2 {
                try await client.execute(uri: API.claimPath(id), method: .post, headers: guesser) {
                    #expect($0.status == .notFound)
                }
            }
            try await client.execute(uri: API.claimPath(SecretID.random().encoded), method: .post, headers: guesser) {
                #expect($0.status == .tooManyRequests)
            }
            // Another client address (the last X-Forwarded-For entry) is not affected.
            try await client.execute(uri: API.claimPath(id), method: .post, headers: honest) { #expect($0.status == .ok) }
        }
    }

    @Test("a public URL is an origin: one trailing slash is dropped, anything that makes an unopenable link is refused")
    func publicURLGrammar() {
        #expect(ServerConfiguration.validPublicURL("https://burn.example.com/") == "https://burn.example.com")
        #expect(ServerConfiguration.validPublicURL("https://burn.example.com:8443") == "https://burn.example.com:8443")
        #expect(ServerConfiguration.validPublicURL("http://[::1]:8080") == "http://[::1]:8080")
        for bad in [
            "https://burn.example.com/prefix", "https://burn.example.com//", "https://a@burn.example.com",
            "https://burn.example.com?q", "https://burn.example.com#f", "https://", "burn.example.com",
        ] {
            #expect(ServerConfiguration.validPublicURL(bad) == nil, "\(bad)")
        }
    }

    @Test("the create response carries the configured public URL")
    func publicURL() async throws {
        let server = try TestServer { $0.publicURL = "https://burn.example.com" }
        let sender = TestSender()
        try await server.application().test(.router) { client in
            try await client.execute(
                uri: API.secretsPath, method: .post, headers: sender.createHeaders(),
                body: ByteBuffer(bytes: [1, 2, 3])
            ) { response in
                let created = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(buffer: response.body))
                #expect(created.publicURL == "https://burn.example.com")
            }
        }
    }

    @Test("the sweeper service reclaims expired ciphertext on its own")
    func sweeperRuns() async throws {
        let server = try TestServer { $0.sweepInterval = .milliseconds(100) }
        let sender = TestSender()
        try await server.application().test(.live) { client in
            _ = try await client.createSecret(randomBytes(4096), sender: sender, headers: sender.createHeaders(expiresIn: 60))
            #expect(try await server.store.storedBytes() == 4096)
            server.clock.advance(by: 61)
            #expect(try await eventually { try await server.store.storedBytes() == 0 })
            // The sweeper counts the expiry just after its transaction commits: poll for it too.
            #expect(
                try await eventually {
                    try await client.execute(uri: "/metrics", method: .get) { response in
                        String(buffer: response.body).contains("burnlink_secrets_expired_total 1")
                    }
                })
            // Every sweep is timed; the sweeps are counted in the histogram.
            let exposition = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(try #require(metricValue("burnlink_sweep_duration_seconds_count", in: exposition)) >= 1)
        }
    }
}
