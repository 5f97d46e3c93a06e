import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// One request to a server process; the whole response body (up to 64 MiB).
func sendRequest(
    _ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [],
    body: [UInt8]? = nil, timeout: TimeAmount = .seconds(30)
) async throws -> (status: Int, body: [UInt8]) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await client.execute(request, timeout: timeout)
    let bytes = try await response.body.collect(upTo: 64 << 20)
    return (Int(response.status.code), Array(buffer: bytes))
}

extension TestSender {
    func createHeaderList(expiresIn: Int? = nil, maxViews: Int? = nil) -> [(String, String)] {
        createHeaders(expiresIn: expiresIn, maxViews: maxViews).map { ($0.name.rawName, $0.value) }
    }

    var claimHeaderList: [(String, String)] { [("Authorization", "Bearer \(claimToken.base64URL)")] }
    var receiptHeaderList: [(String, String)] { [("Authorization", "Bearer \(receiptToken.base64URL)")] }
}
