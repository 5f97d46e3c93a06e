import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import BurnlinkClient

/// `open` resumes a claim whose answer was lost, but does not wait for one that never left:
/// only failures that come before a connection exists count as `.unreachable`.
@Suite("network failures: never sent, or maybe received")
struct NetworkErrorTests {
    let endpoint = try! ServerEndpoint("http://127.0.0.1:8080")

    @Test("a refused, unroutable or timed-out connect, or a failed handshake, means nothing was sent")
    func neverConnected() {
        expect(
            [
                IOError(errnoCode: ECONNREFUSED, reason: "connect"),
                IOError(errnoCode: ENETUNREACH, reason: "connect"),
                IOError(errnoCode: EHOSTUNREACH, reason: "connect"),
                HTTPClientError.connectTimeout,
                HTTPClientError.tlsHandshakeTimeout,
                HTTPClientError.getConnectionFromPoolTimeout,
                NIOSSLError.handshakeFailed(.sslError([])),
                NIOSSLExtraError.failedToValidateHostname,
            ], neverConnected: true)
    }

    @Test("a reset, a close or a timeout on an open connection may follow a request the server acted on")
    func maybeReceived() {
        expect(
            [
                IOError(errnoCode: ECONNRESET, reason: "read"),
                IOError(errnoCode: EPIPE, reason: "write"),
                IOError(errnoCode: ETIMEDOUT, reason: "read"),
                HTTPClientError.remoteConnectionClosed,
                HTTPClientError.readTimeout,
                HTTPClientError.deadlineExceeded,
                NIOSSLError.uncleanShutdown,
                ChannelError.eof,
            ], neverConnected: false)
    }

    /// Each of `errors` is classified so, and becomes `.unreachable` exactly when it is.
    private func expect(_ errors: [any Error], neverConnected: Bool) {
        for error in errors {
            #expect(APIClient.neverConnected(error) == neverConnected, "\(error)")
            switch APIClient.networkError(error, endpoint: endpoint) {
            case .unreachable: #expect(neverConnected, "\(error) is .unreachable")
            case .network: #expect(!neverConnected, "\(error) is .network")
            default: Issue.record("\(error) is neither .network nor .unreachable")
            }
        }
    }
}
