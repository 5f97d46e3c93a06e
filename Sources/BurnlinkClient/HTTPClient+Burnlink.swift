import AsyncHTTPClient
import NIOCore
import NIOPosix

extension HTTPClient {
    /// The client every command uses: `HTTPClient.shared`'s settings, except that
    ///
    /// - a connection that fails (refused, unreachable) fails the request at once instead of
    ///   being retried until the 90-second connect timeout: a dead server is reported now;
    /// - connecting may take at most `APIClient.connectTimeout`;
    /// - the read timeout is stated here, and `APIClient.receipt(_:wait:)` keeps each long
    ///   poll shorter than it, so `status --wait` never times itself out while waiting;
    /// - TLS 1.2 is the oldest version it speaks;
    /// - it follows no redirect: a server (or a proxy) could otherwise send the upload to
    ///   plain http:// elsewhere, past the check `ServerEndpoint` makes;
    /// - it asks for no compressed answers and decompresses none: ciphertext does not
    ///   compress, the JSON answers are small, and a server's bytes then reach no
    ///   decompressor (each connection also set one up, on the path of a command's first
    ///   request);
    /// - it runs on one event loop thread of its own: a command talks to one server over a
    ///   connection or a few, and every thread started costs a short command start-up time.
    public static let burnlink: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = APIClient.connectTimeout
        configuration.timeout.read = APIClient.readTimeout
        configuration.tlsConfiguration = ServerTrust.clientConfiguration
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup(numberOfThreads: 1), configuration: configuration)
    }()
}
