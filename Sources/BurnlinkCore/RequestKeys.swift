import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The requester's X25519 key pair (docs/format.md section 6.2): `pk` goes into the
/// request link, `sk` never leaves the requester's machine.
public struct RequestKeyPair: Sendable {
    public static let publicKeyByteCount = Int(crypto_box_PUBLICKEYBYTES)
    public static let secretKeyByteCount = Int(crypto_box_SECRETKEYBYTES)

    public let secretKey: SecretBytes
    public let publicKey: [UInt8]

    /// A fresh key pair: `sk` from the CSPRNG, `pk = X25519(sk, 9)`.
    public static func generate() -> RequestKeyPair {
        // crypto_box_keypair is exactly this: random sk, pk = crypto_scalarmult_base(sk).
        try! RequestKeyPair(secretKey: SecretBytes.random(count: secretKeyByteCount))
    }

    /// The pair of a kept secret key.
    public init(secretKey: SecretBytes) throws(BurnlinkError) {
        guard secretKey.count == Self.secretKeyByteCount else {
            throw .invalidArgument("a request's private key must be \(Self.secretKeyByteCount) bytes")
        }
        Sodium.ensureReady()
        var publicKey = [UInt8](repeating: 0, count: Self.publicKeyByteCount)
        let status = secretKey.withUnsafeBytes { sk in
            publicKey.withUnsafeMutableBytes { pk in
                crypto_scalarmult_base(
                    pk.baseAddress!.assumingMemoryBound(to: UInt8.self), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard status == 0 else { throw .invalidArgument("unusable request private key") }
        self.secretKey = secretKey
        self.publicKey = publicKey
    }

    /// `A`, the token that reads the answer; only the holder of `sk` can make it.
    public var answerToken: SecretBytes { RequestKeys.answerToken(secretKey: secretKey) }
}

/// The request tokens (docs/format.md section 6.2).
public enum RequestKeys {
    static let fillInfo = Array("burnlink v1 request fill".utf8)
    static let answerInfo = Array("burnlink v1 request answer".utf8)

    /// `F = HKDF(ikm = pk, info = "burnlink v1 request fill")`.
    public static func fillToken(publicKey: [UInt8]) -> SecretBytes {
        BurnlinkCrypto.HKDF.derive(salt: [UInt8](), ikm: [publicKey], info: fillInfo, length: KeySchedule.tokenByteCount)
    }

    /// `A = HKDF(ikm = sk, info = "burnlink v1 request answer")`.
    public static func answerToken(secretKey: SecretBytes) -> SecretBytes {
        BurnlinkCrypto.HKDF.derive(salt: [UInt8](), ikm: [secretKey], info: answerInfo, length: KeySchedule.tokenByteCount)
    }
}

/// The link key `K` of an answer, sealed to the request's public key with libsodium's
/// sealed box (docs/format.md sections 6.3 and 6.4).
public enum SealedKey {
    /// `epk` (32) || tag (16) || encrypted `K` (32).
    public static let byteCount = Int(crypto_box_PUBLICKEYBYTES) + Int(crypto_box_MACBYTES) + Link.keyByteCount

    /// Seals `K` to `publicKey` (a fresh ephemeral key pair each time).
    public static func seal(_ linkKey: SecretBytes, to publicKey: [UInt8]) throws(BurnlinkError) -> [UInt8] {
        guard linkKey.count == Link.keyByteCount, publicKey.count == RequestKeyPair.publicKeyByteCount else {
            throw .invalidArgument("a sealed key needs a 32-byte link key and a 32-byte public key")
        }
        Sodium.ensureReady()
        var sealed = [UInt8](repeating: 0, count: byteCount)
        let status = linkKey.withUnsafeBytes { k in
            sealed.withUnsafeMutableBytes { out in
                crypto_box_seal(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), k.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    UInt64(k.count), publicKey)
            }
        }
        guard status == 0 else { throw .invalidArgument("the public key cannot be sealed to") }
        return sealed
    }

    /// Opens a sealed `K` with the requester's key pair; `.badSealedKey` for anything that is
    /// not exactly a sealed box of 32 bytes to this key.
    public static func open(_ sealed: [UInt8], with keys: RequestKeyPair) throws(BurnlinkError) -> SecretBytes {
        guard sealed.count == byteCount else { throw .badSealedKey }
        Sodium.ensureReady()
        let key = SecretBytes(count: Link.keyByteCount)
        let status = key.withUnsafeBytes { k in
            keys.secretKey.withUnsafeBytes { sk in
                crypto_box_seal_open(
                    UnsafeMutablePointer(mutating: k.baseAddress!.assumingMemoryBound(to: UInt8.self)), sealed,
                    UInt64(sealed.count), keys.publicKey, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard status == 0 else { throw .badSealedKey }
        return key
    }

    /// The sealed box with a chosen ephemeral secret key instead of a random one: the same
    /// bytes `crypto_box_seal` makes, spelled out from section 6.3 (for the known-answer vectors).
    package static func seal(
        _ linkKey: SecretBytes, to publicKey: [UInt8], ephemeralSecretKey: SecretBytes
    ) throws(BurnlinkError) -> [UInt8] {
        let ephemeral = try RequestKeyPair(secretKey: ephemeralSecretKey)
        var nonce = [UInt8](repeating: 0, count: Int(crypto_box_NONCEBYTES))
        let input = ephemeral.publicKey + publicKey
        _ = crypto_generichash(&nonce, nonce.count, input, UInt64(input.count), nil, 0)
        var box = [UInt8](repeating: 0, count: Int(crypto_box_MACBYTES) + linkKey.count)
        let status = linkKey.withUnsafeBytes { k in
            ephemeralSecretKey.withUnsafeBytes { esk in
                crypto_box_easy(
                    &box, k.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(k.count), nonce, publicKey,
                    esk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard status == 0 else { throw .invalidArgument("the public key cannot be sealed to") }
        return ephemeral.publicKey + box
    }
}
