import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import BurnlinkServer

/// Rate limits behind a trusted proxy: only addresses become keys, IPv6 clients count per
/// /64, and the table stays bounded in memory and in the cost of keeping it.
@Suite("client keys and the rate-limit table")
struct ClientKeyTests {
    @Test("IPv4 and IPv6 addresses are keys; an IPv6 /64 is one client; names, ports and garbage are not keys")
    func keys() {
        #expect(ClientKey(address: "203.0.113.7") != nil)
        #expect(ClientKey(address: "203.0.113.7") != ClientKey(address: "203.0.113.8"))
        #expect(ClientKey(address: "2001:db8:1:2::1") == ClientKey(address: "2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(ClientKey(address: "[2001:db8:1:2::1]") == ClientKey(address: "2001:db8:1:2::5"))
        #expect(ClientKey(address: "2001:db8:1:2::1") != ClientKey(address: "2001:db8:1:3::1"))
        #expect(ClientKey(address: "::ffff:203.0.113.7") == ClientKey(address: "203.0.113.7"))
        for bad in [
            "", "unknown", "example.com", "203.0.113.7:443", "203.0.113", "0203.0.113.7", "1.2.3.4.5",
            String(repeating: "x", count: 50_000), "2001:db8::1%eth0",
        ] {
            #expect(ClientKey(address: bad) == nil, "\(bad.prefix(40))")
        }
    }

    @Test("a flood of new clients never grows the table past its bound; known clients keep their own buckets")
    func boundedTable() {
        let clock = ManualClock()
        let limiter = RateLimiter(perMinute: 2, clock: clock, maximumClients: 100)
        let known = ClientKey(address: "198.51.100.1")!
        #expect(limiter.take(known) == nil)
        #expect(limiter.take(known) == nil)
        #expect(limiter.take(known) != nil, "the known client has used its budget")

        var limited = 0
        for index in 0..<2_000 {
            let flooder = ClientKey(address: "10.\(index / 65_536).\(index / 256 % 256).\(index % 256)")!
            if limiter.take(flooder) != nil { limited += 1 }
        }
        #expect(limiter.clientCount <= 100)
        // Past the bound, the newcomers share one bucket: two of them get through, not 1,901.
        #expect(limited >= 2_000 - 99 - 2, "\(limited) limited")
        #expect(limiter.take(known) != nil, "the flood reset a known client's bucket")
    }

    @Test("a full table is pruned at most once a second, however many newcomers arrive")
    func pruneCost() {
        let clock = ManualClock()
        let limiter = RateLimiter(perMinute: 60, clock: clock, maximumClients: 50)
        for index in 0..<5_000 {
            _ = limiter.take(ClientKey(address: "10.0.\(index / 256).\(index % 256)")!)
        }
        #expect(limiter.pruneCount == 1, "\(limiter.pruneCount) prunes at one instant")
        // Once the buckets have refilled, a prune a second later frees the table for newcomers.
        clock.advance(by: 61)
        #expect(limiter.take(ClientKey(address: "192.0.2.1")!) == nil)
        #expect(limiter.pruneCount == 2)
        #expect(limiter.clientCount == 1)
    }

    @Test("with --trust-proxy, X-Forwarded-For values that are not addresses count against the proxy, not as new clients")
    func forwardedGarbage() async throws {
        let server = try TestServer {
            $0.rateLimit = RateLimitConfiguration(createsPerMinute: 100, failuresPerMinute: 2)
            $0.trustProxy = true
        }
        let token = "Bearer \(TestSender().claimToken.base64URL)"
        try await server.application().test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<20 {
                let headers: HTTPFields = [
                    .authorization: token,
                    .init("X-Forwarded-For")!: "203.0.113.9, guess-\(index)-" + String(repeating: "x", count: 4_000),
                ]
                try await client.execute(uri: API.claimPath(SecretID.random().encoded), method: .post, headers: headers) {
                    statuses.append($0.status)
                }
            }
            #expect(statuses.prefix(2).allSatisfy { $0 == .notFound }, "\(statuses)")
            #expect(statuses.dropFirst(2).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")

            // IPv6 addresses of one /64 share a budget; the next /64 has its own.
            var v6: [HTTPResponse.Status] = []
            for address in ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7::3", "2001:db8:7:8::1"] {
                let headers: HTTPFields = [.authorization: token, .init("X-Forwarded-For")!: address]
                try await client.execute(uri: API.claimPath(SecretID.random().encoded), method: .post, headers: headers) {
                    v6.append($0.status)
                }
            }
            #expect(v6 == [.notFound, .notFound, .tooManyRequests, .notFound], "\(v6)")
        }
    }
}
