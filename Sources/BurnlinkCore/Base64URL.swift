import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Strict base64url without padding (RFC 4648 section 5), from libsodium's codec.
/// Decoding rejects padding, other alphabets, white space and non-canonical last
/// characters, so every byte string has exactly one accepted encoding.
public enum Base64URL {
    private static let variant = Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING)

    public static func encodedLength(byteCount: Int) -> Int {
        (byteCount * 4 + 2) / 3
    }

    public static func encode(_ bytes: some ContiguousBytes) -> String {
        Sodium.ensureReady()
        return bytes.withUnsafeBytes { raw in
            let capacity = sodium_base64_encoded_len(raw.count, variant)  // includes the NUL
            var text = [CChar](repeating: 0, count: capacity)
            _ = sodium_bin2base64(&text, capacity, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count, variant)
            return String(decoding: text.prefix(capacity - 1).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The decoded bytes, or nil when `text` is not canonical base64url without padding.
    /// With `count`, also nil unless exactly that many bytes come out.
    public static func decode(_ text: some StringProtocol, count: Int? = nil) -> [UInt8]? {
        Sodium.ensureReady()
        let utf8 = Array(text.utf8)
        // libsodium 1.0.18 reads the input as (signed) `char`, so where `char` is signed any byte
        // >= 0x80 decodes as if it were '_' ("é" passes for "__"). Base64url is ASCII: refuse the rest here.
        guard utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        guard !utf8.isEmpty else { return count == nil || count == 0 ? [] : nil }
        let maximum = utf8.count * 3 / 4 + 1
        var output = [UInt8](repeating: 0, count: maximum)
        var written = 0
        let status = utf8.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                input.withMemoryRebound(to: CChar.self) { chars in
                    // A nil end pointer makes libsodium fail unless the whole input is consumed.
                    sodium_base642bin(
                        out.baseAddress!, out.count, chars.baseAddress!, chars.count,
                        nil, &written, nil, variant)
                }
            }
        }
        guard status == 0 else { return nil }
        output.removeSubrange(written...)
        if let count, output.count != count { return nil }
        return output
    }

    /// Like `decode`, into wiped-on-release storage, for keys.
    public static func decodeSecret(_ text: some StringProtocol, count: Int) -> SecretBytes? {
        guard var bytes = decode(text, count: count) else { return nil }
        defer { Sodium.wipe(&bytes) }
        return SecretBytes(copying: bytes)
    }
}
