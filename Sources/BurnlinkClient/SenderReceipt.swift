import BurnlinkCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the sender keeps to follow a secret: the server, the id and the receipt token R.
///
/// Written `burnlink-receipt.v1.<id>.<b64u(R)>.<b64u(server URL)>`: one word that no
/// one mistakes for a link (it is not a URL), and that the CLI's `status` and `revoke`
/// read back. It grants no access to the secret itself.
public struct SenderReceipt: Sendable {
    public static let prefix = "burnlink-receipt.v1."

    public let server: String
    public let id: SecretID
    public let token: SecretBytes

    public init(server: String, id: SecretID, token: SecretBytes) {
        self.server = server
        self.id = id
        self.token = token
    }

    public var formatted: String {
        Self.prefix + [id.encoded, token.base64URL, Base64URL.encode(Array(server.utf8))].joined(separator: ".")
    }

    public init(parsing text: String) throws(ClientError) {
        let usage = ClientError.usage(
            "this is not a burnlink receipt",
            hint: "a receipt starts with '\(Self.prefix)'; the link itself is not a receipt")
        guard text.hasPrefix(Self.prefix) else { throw usage }
        let parts = text.dropFirst(Self.prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let id = SecretID(encoded: parts[0]),
            let token = Base64URL.decodeSecret(parts[1], count: KeySchedule.tokenByteCount),
            let serverBytes = Base64URL.decode(parts[2]),
            let server = String(validating: serverBytes, as: UTF8.self),
            server.hasPrefix("https://") || server.hasPrefix("http://")
        else { throw usage }
        self.init(server: server, id: id, token: token)
    }
}
