import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The version 1 HTTP API (docs/http-api.md) over AsyncHTTPClient. Tokens go only in
/// headers; bodies stream both ways.
public struct APIClient: Sendable {
    public let endpoint: ServerEndpoint
    let http: HTTPClient
    let timeout: TimeAmount

    /// How long connecting may take, and how long the server may stay silent mid-request.
    public static let connectTimeout: TimeAmount = .seconds(10)
    public static let readTimeout: TimeAmount = .seconds(90)
    /// The longest single receipt long poll: well inside `readTimeout` (callers poll again).
    public static let longPollSeconds = 60

    /// Start-up work done on another thread while the command parses its arguments, each
    /// the first time of something that otherwise ran on a command's critical path, in the
    /// order the commands need them:
    /// - the shared HTTP client (its event loop thread);
    /// - a sample claim-session record encoded: an open's first JSON encode, before its
    ///   claim can be sent;
    /// - an event loop described, as AsyncHTTPClient does for each new connection's log
    ///   metadata (casts and printing: 3.1 million of an open's 42 million instructions,
    ///   between its connect and its claim), and NIO's HTTP/1 handlers run
    ///   (`ConnectionWarmUp`; docs/benchmarks.md, "Issue 18: the subcommand parsed as the
    ///   root");
    /// - a sample answer decoded: the first JSON decode and date parse (type metadata, the
    ///   time zone file), which ran after a send's answer arrived (0.6 to 2.1 ms of a 1 KiB
    ///   send in four runs, docs/benchmarks.md 2026-12-06).
    /// All in one task of low priority: as two, they could take both threads of a 2-core
    /// machine's pool, and the command's own first step waited for one of them (1 KiB open
    /// 1.46 to 1.54× curl as two tasks, 1.30 to 1.40× as one, in six alternating runs).
    public static func prepareInBackground() {
        Task.detached(priority: .utility) {
            let loop = HTTPClient.burnlink.eventLoopGroup.next()
            _ = try? SavedClaimSession.encodeSample()
            _ = loop.description
            ConnectionWarmUp.run()
            _ = try? decodeSampleAnswer()
        }
    }

    /// A create's answer as a server sends it (docs/http-api.md 3.1).
    static func decodeSampleAnswer() throws -> CreateSecretResponse {
        let sample = #"{"expires_at":"2026-12-07T04:26:17Z","id":"pFeHrmPCRIl7oMl7gzV-Cw","max_views":1}"#
        return try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(sample.utf8))
    }

    public init(endpoint: ServerEndpoint, http: HTTPClient = .burnlink, timeout: TimeAmount = .minutes(30)) {
        self.endpoint = endpoint
        self.http = http
        self.timeout = timeout
    }

    /// Uploads an envelope streamed from `body`.
    public func create(headers: [(String, String)], body: HTTPClientRequest.Body) async throws(ClientError)
        -> CreateSecretResponse
    {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.secretsPath)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        let response = try await send(request)
        guard response.status == .created else { throw await failure(response) }
        return try await decode(CreateSecretResponse.self, response)
    }

    public func metadata(id: SecretID, claimToken: SecretBytes) async throws(ClientError) -> SecretMetadataResponse {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.secretPath(id.encoded))
        request.headers.add(name: "Authorization", value: "Bearer \(claimToken.base64URL)")
        let response = try await send(request)
        guard response.status == .ok else { throw await failure(response) }
        return try await decode(SecretMetadataResponse.self, response)
    }

    /// Claims one view. On success the caller must read `body` to the end. `session` is the
    /// claim session the server opened (nil from a server with claim window 0).
    public func claim(id: SecretID, claimToken: SecretBytes, passwordProof: SecretBytes?, session chosen: SecretBytes? = nil)
        async throws(ClientError) -> (size: Int?, session: (secret: SecretBytes, window: Int)?, body: HTTPClientResponse.Body)
    {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.claimPath(id.encoded))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(claimToken.base64URL)")
        if let passwordProof { request.headers.add(name: API.Header.passwordProof, value: passwordProof.base64URL) }
        if let chosen { request.headers.add(name: API.Header.claimSession, value: chosen.base64URL) }
        let response = try await send(request)
        guard response.status == .ok else { throw await failure(response) }
        var session: (SecretBytes, Int)?
        if let value = response.headers.first(name: API.Header.claimSession),
            let secret = API.HeaderValue.digest(value)
        {
            // A window the server leaves out or garbles still gets a session: it decides the
            // deadline anyway; the client only uses it to tell the user how long it has.
            let window =
                response.headers.first(name: API.Header.claimWindow)
                .flatMap { API.HeaderValue.decimal($0, in: 1...API.maximumClaimWindow) } ?? 60
            session = (SecretBytes(copying: secret), window)
        }
        return (response.headers.first(name: "Content-Length").flatMap(Int.init), session, response.body)
    }

    /// Fetches an open claim session's envelope again from byte `offset` (docs/http-api.md
    /// section 3.3.2). The server must answer exactly that range: anything else is refused,
    /// so a hostile server cannot splice bytes into a resumed stream unnoticed (and the
    /// envelope's authentication would catch it anyway).
    public func envelope(
        id: SecretID, claimToken: SecretBytes, session: SecretBytes, passwordProof: SecretBytes?,
        from offset: Int
    ) async throws(ClientError) -> HTTPClientResponse.Body {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.envelopePath(id.encoded))
        request.headers.add(name: "Authorization", value: "Bearer \(claimToken.base64URL)")
        request.headers.add(name: API.Header.claimSession, value: session.base64URL)
        if let passwordProof { request.headers.add(name: API.Header.passwordProof, value: passwordProof.base64URL) }
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response = try await send(request)
        switch response.status.code {
        case 200 where offset == 0:
            return response.body
        case 206 where offset > 0:
            guard let range = response.headers.first(name: "Content-Range"), range.hasPrefix("bytes \(offset)-") else {
                throw .network(
                    "the server answered another range than the one asked for",
                    hint: "the server may be misconfigured or hostile")
            }
            return response.body
        case 200, 206:
            throw .network("the server ignored the range asked for", hint: "the server may be misconfigured or hostile")
        default:
            throw await failure(response)
        }
    }

    /// Ends a claim session: everything arrived and verified (docs/http-api.md section 3.3.3).
    public func confirm(id: SecretID, claimToken: SecretBytes, session: SecretBytes) async throws(ClientError) {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.confirmPath(id.encoded))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(claimToken.base64URL)")
        request.headers.add(name: API.Header.claimSession, value: session.base64URL)
        let response = try await send(request)
        guard response.status == .noContent else { throw await failure(response) }
    }

    public func receipt(_ receipt: SenderReceipt, wait: Int = 0) async throws(ClientError) -> ReceiptResponse {
        let query = wait > 0 ? "?wait=\(min(wait, API.maximumReceiptWait, Self.longPollSeconds))" : ""
        var request = HTTPClientRequest(url: endpoint.baseURL + API.receiptPath(receipt.id.encoded) + query)
        request.headers.add(name: "Authorization", value: "Bearer \(receipt.token.base64URL)")
        let response = try await send(request)
        guard response.status == .ok else { throw await failure(response) }
        return try await decode(ReceiptResponse.self, response)
    }

    public func revoke(_ receipt: SenderReceipt) async throws(ClientError) {
        var request = HTTPClientRequest(url: endpoint.baseURL + API.secretPath(receipt.id.encoded))
        request.method = .DELETE
        request.headers.add(name: "Authorization", value: "Bearer \(receipt.token.base64URL)")
        let response = try await send(request)
        guard response.status == .noContent else { throw await failure(response) }
    }

    // MARK: plumbing

    func send(_ request: HTTPClientRequest) async throws(ClientError) -> HTTPClientResponse {
        var request = request
        if let tls = endpoint.tlsConfiguration { request.tlsConfiguration = tls }
        do {
            return try await http.execute(request, timeout: timeout)
        } catch {
            throw Self.networkError(error, endpoint: endpoint)
        }
    }

    static func networkError(_ error: any Error, endpoint: ServerEndpoint) -> ClientError {
        if let error = error as? ClientError { return error }
        let server = endpoint.baseURL
        let text = String(describing: error)
        // `.unreachable` when the request never left (see `neverConnected`).
        let failure = neverConnected(error) ? ClientError.unreachable : ClientError.network
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            let hint =
                endpoint.trust.file.map { "it is not signed by a certificate authority in \($0), or it has expired" }
                ?? "for a server with a private certificate authority, pass --cacert FILE (or set SSL_CERT_FILE)"
            return .unreachable("the certificate of \(server) is not trusted", hint: hint)
        }
        if error as? NIOSSLExtraError == .failedToValidateHostname {
            return .unreachable(
                "the certificate of \(server) is not for that host name",
                hint: "connect by the name the certificate was issued for")
        }
        if text.contains("SSL") || text.contains("TLS") || text.contains("certificate") || text.contains("handshake") {
            return failure(
                "TLS with \(server) failed: \(text)",
                "is the server speaking https:// on that port? check its certificate and the trust store")
        }
        if let httpError = error as? HTTPClientError, httpError == .deadlineExceeded || httpError == .readTimeout {
            return .network("\(server) did not answer in time", hint: "check the server and your network, then retry")
        }
        return failure(
            "cannot reach \(server) (\(text))",
            "is the server running and the URL right? (--server, BURNLINK_SERVER, or the config file)")
    }

    /// Whether `error` says that no connection could be made, so the request almost surely
    /// never left: failures of name resolution, connect and TLS handshake. Not a proof: on
    /// Linux an open connection that dies after retransmissions can report the same errno
    /// as a refused connect, which is why a claim that fails this way keeps its session
    /// record. Anything else (a reset, a timeout on an open connection) may come after the
    /// server acted on the request.
    static func neverConnected(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError:
            return true  // name resolution or every address's connect failed
        case let error as IOError:
            // What connect(2) reports for a dead server or a missing route.
            return [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH].contains(error.errnoCode)
        case let error as HTTPClientError:
            // AsyncHTTPClient writes a request only on a connection that is up, TLS included.
            return [.connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout].contains(error)
        case let error as NIOSSLError:
            // AsyncHTTPClient writes a request only after the handshake has completed.
            if case .handshakeFailed = error { return true }
            return false
        case let error as NIOSSLExtraError:
            return error == .failedToValidateHostname
        default:
            return false
        }
    }

    /// The API error as a `ClientError`: 404 is "gone" whatever the cause, by design. With
    /// `strictNotFound`, only a 404 that carries burnlink's own `not_found` body is: one
    /// from something else on the way (a proxy, a misrouted host) is a server error.
    func failure(_ response: HTTPClientResponse, strictNotFound: Bool = false) async -> ClientError {
        let bytes = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
        let error = try? APIJSON.decoder().decode(ErrorResponse.self, from: Data(bytes.readableBytesView))
        switch (response.status.code, error?.error) {
        case (404, .notFound?): return .gone
        case (404, _) where !strictNotFound: return .gone
        case (_, .wrongPassword?): return .wrongPassword(attemptsLeft: error?.attemptsLeft ?? 0)
        case (_, .passwordAttemptsExhausted?): return .passwordAttemptsExhausted
        case (416, _): return .integrity(.truncated)
        case (429, _):
            let wait = response.headers.first(name: "Retry-After").map { TerminalEscaper.escaped($0) } ?? "a while"
            return .network("the server is rate-limiting this address", hint: "retry in \(wait) seconds")
        case (let status, let code):
            return .server(
                status: Int(status), code: code?.rawValue ?? "unknown",
                message: error.map { TerminalEscaper.escaped($0.message) } ?? "HTTP \(status) without an error body")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ response: HTTPClientResponse) async throws(ClientError) -> T {
        do {
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return try APIJSON.decoder().decode(type, from: Data(bytes.readableBytesView))
        } catch {
            throw .network("the server's answer could not be read: \(error)", hint: "is --server a burnlink server?")
        }
    }
}
