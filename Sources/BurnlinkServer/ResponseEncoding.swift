import BurnlinkProtocol
import Foundation
import Hummingbird

/// The API's JSON bodies answer through Hummingbird's ResponseEncodable, encoded by the
/// request context's encoder (APIJSON's settings: ISO 8601 dates, sorted keys).
extension CreateSecretResponse: ResponseEncodable {}
extension SecretMetadataResponse: ResponseEncodable {}
extension ReceiptResponse: ResponseEncodable {}
extension ErrorResponse: ResponseEncodable {}
extension CreateRequestResponse: ResponseEncodable {}
extension RequestMetadataResponse: ResponseEncodable {}
extension RequestAnswerResponse: ResponseEncodable {}

extension ResponseEncodable {
    /// This value as the response body, with `status`.
    func response(status: HTTPResponse.Status, from request: Request, context: some RequestContext) throws -> Response {
        var response = try self.response(from: request, context: context)
        response.status = status
        return response
    }
}

enum APIEncoding {
    /// One encoder for every response: its settings never change once made.
    static let encoder = APIJSON.encoder()
}
