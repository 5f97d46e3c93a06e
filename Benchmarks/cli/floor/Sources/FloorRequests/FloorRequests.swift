import AsyncHTTPClient
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP client set up as burnlink's is where it matters for time: one event loop
/// thread of its own, no decompression.
public func makeClient() -> HTTPClient {
    var configuration = HTTPClient.Configuration.singletonConfiguration
    configuration.decompression = .disabled
    return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup(numberOfThreads: 1), configuration: configuration)
}

/// Claims one view of the secret at `secretURL` (`http://host/api/v1/secrets/ID`) with the
/// claim token `token`, writes the body to standard output and, with `confirm`, opens a
/// claim session and confirms it, as `burnlink open` does (docs/http-api.md 3.2, 3.3).
/// Returns the exit status: 0 when every answer was the expected one.
public func claim(with client: HTTPClient, secretURL: String, token: String, confirm: Bool) async -> Int32 {
    let session = randomSessionSecret()
    var request = HTTPClientRequest(url: secretURL + "/claim")
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    if confirm { request.headers.add(name: "Burnlink-Claim-Session", value: session) }
    do {
        let response = try await client.execute(request, timeout: .seconds(30))
        var body = try await response.body.collect(upTo: 1 << 20)
        let bytes = body.readBytes(length: body.readableBytes) ?? []
        _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        guard response.status == .ok else { return 1 }
        guard confirm else { return 0 }
        var confirmation = HTTPClientRequest(url: secretURL + "/confirm")
        confirmation.method = .POST
        confirmation.headers.add(name: "Authorization", value: "Bearer \(token)")
        confirmation.headers.add(name: "Burnlink-Claim-Session", value: session)
        return try await client.execute(confirmation, timeout: .seconds(30)).status == .noContent ? 0 : 1
    } catch {
        return 2
    }
}

/// b64u of 32 random bytes: 43 characters, the last one carrying 4 bits.
func randomSessionSecret() -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    var generator = SystemRandomNumberGenerator()
    let head = (0..<42).map { _ in alphabet[Int(generator.next() % 64)] }
    return String(decoding: head + [alphabet[Int(generator.next() % 16) * 4]], as: UTF8.self)
}
