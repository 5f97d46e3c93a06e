#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The version 1 key schedule (docs/format.md section 2.2): every value the client derives
/// from the link key `K` and, when set, the password key `P`.
public enum KeySchedule {
    public static let tokenByteCount = 32

    static let claimInfo = Array("burnlink v1 claim".utf8)
    static let passwordInfo = Array("burnlink v1 password".utf8)
    static let payloadInfo = Array("burnlink v1 payload".utf8)

    /// `T`: proves to the server that the caller holds the link. Depends on `K` only, so
    /// metadata can be fetched before a password is known.
    public static func claimToken(linkKey: SecretBytes) -> SecretBytes {
        BurnlinkCrypto.HKDF.derive(salt: [UInt8](), ikm: [linkKey], info: claimInfo, length: tokenByteCount)
    }

    /// `Q`: proves knowledge of the password, and only together with the link.
    public static func passwordProof(linkKey: SecretBytes, passwordKey: SecretBytes) -> SecretBytes {
        BurnlinkCrypto.HKDF.derive(salt: [UInt8](), ikm: [linkKey, passwordKey], info: passwordInfo, length: tokenByteCount)
    }

    /// `E`: the envelope key, bound to the exact header through the HKDF salt.
    static func payloadKey(linkKey: SecretBytes, passwordKey: SecretBytes?, header: [UInt8]) -> SecretBytes {
        let ikm: [any ContiguousBytes] = passwordKey.map { [linkKey, $0] } ?? [linkKey]
        return BurnlinkCrypto.HKDF.derive(salt: header, ikm: ikm, info: payloadInfo, length: tokenByteCount)
    }

    /// What the server stores in place of a token: SHA-256 of it.
    public static func verifier(of token: SecretBytes) -> [UInt8] {
        BurnlinkCrypto.SHA256.hash(token)
    }

    /// A fresh link key `K`.
    public static func newLinkKey() -> SecretBytes {
        SecretBytes.random(count: Link.keyByteCount)
    }

    /// A fresh receipt token `R`, kept by the sender only.
    public static func newReceiptToken() -> SecretBytes {
        SecretBytes.random(count: tokenByteCount)
    }
}
