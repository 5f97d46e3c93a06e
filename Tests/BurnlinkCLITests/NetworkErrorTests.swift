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
        for error: any Error in [
            IOError(errnoCode: ECONNREFUSED, reason: "connect"),
            IOError(errnoCode: ENETUNREACH, reason: "connect"),
            IOError(errnoCode: EHOSTUNREACH, reason: "connect"),
            HTTPClientError.connectTimeout,
            HTTPClientError.tlsHandshakeTimeout,
            HTTPClientError.getConnectionFromPoolTimeout,
            NIOSSLError.handshakeFailed(.sslError([])),
            NIOSSLExtraError.failedToValidateHostname,
        ] {
            #expect(APIClient.neverConnected(error), "\(error)")
            guard case .unreachable = APIClient.networkError(error, endpoint: endpoint) else {
                Issue.record("\(error) is not .unreachable")
                continue
            }
        }
    }

    @Test("a reset, a close or a timeout on an open connection may follow a request the server acted on")
    func maybeReceived() {
        for error: any Error in [
            IOError(errnoCode: ECONNRESET, reason: "read"),
            IOError(errnoCode: EPIPE, reason: "write"),
            IOError(errnoCode: ETIMEDOUT, reason: "read"),
            HTTPClientError.remoteConnectionClosed,
            HTTPClientError.readTimeout,
            HTTPClientError.deadlineExceeded,
            NIOSSLError.uncleanShutdown,
            ChannelError.eof,
        ] {
            #expect(!APIClient.neverConnected(error), "\(error)")
            guard case .network = APIClient.networkError(error, endpoint: endpoint) else {
                Issue.record("\(error) is not .network")
                continue
            }
        }
    }
}
