import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BurnlinkCrypto {
    /// HKDF-SHA-256 (RFC 5869) on libsodium's HMAC-SHA-256, which libsodium itself lacks.
    public enum HKDF {
        public static let hashLength = Int(crypto_auth_hmacsha256_BYTES)
        public static let maximumLength = 255 * hashLength

        /// Extract then expand. The input keying material is the concatenation of `ikm`,
        /// fed to HMAC part by part so that keys are never copied into a joined buffer.
        public static func derive(
            salt: some ContiguousBytes, ikm: [any ContiguousBytes], info: some ContiguousBytes, length: Int
        ) -> SecretBytes {
            let prk = extract(salt: salt, ikm: ikm)
            return expand(prk: prk, info: info, length: length)
        }

        /// PRK = HMAC(salt, IKM); an empty salt stands for `hashLength` zero bytes (RFC 5869 2.2).
        public static func extract(salt: some ContiguousBytes, ikm: [any ContiguousBytes]) -> SecretBytes {
            salt.withUnsafeBytes { saltBytes in
                if saltBytes.isEmpty {
                    return [UInt8](repeating: 0, count: hashLength).withUnsafeBytes { hmac(key: $0, parts: ikm) }
                }
                return hmac(key: saltBytes, parts: ikm)
            }
        }

        /// OKM = T(1) || T(2) || ... truncated to `length`, T(i) = HMAC(PRK, T(i-1) || info || i).
        public static func expand(prk: SecretBytes, info: some ContiguousBytes, length: Int) -> SecretBytes {
            precondition((1...maximumLength).contains(length), "HKDF output length out of range")
            return SecretBytes(count: length) { okm in
                var previous = SecretBytes(count: 0)
                var written = 0
                var counter: UInt8 = 1
                while written < length {
                    let block = prk.withUnsafeBytes { key in
                        hmac(key: key, parts: [previous, ByteArray(info), [counter]])
                    }
                    let take = min(hashLength, length - written)
                    block.withUnsafeBytes {
                        okm.baseAddress!.advanced(by: written).copyMemory(from: $0.baseAddress!, byteCount: take)
                    }
                    written += take
                    previous = block
                    counter &+= 1
                }
            }
        }

        private static func hmac(key: UnsafeRawBufferPointer, parts: [any ContiguousBytes]) -> SecretBytes {
            Sodium.ensureReady()
            precondition(!key.isEmpty, "HMAC key must not be empty")
            var state = crypto_auth_hmacsha256_state()
            defer { withUnsafeMutableBytes(of: &state) { Sodium.wipe($0) } }
            _ = crypto_auth_hmacsha256_init(&state, key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
            for part in parts {
                part.withUnsafeBytes { bytes in
                    _ = crypto_auth_hmacsha256_update(
                        &state, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
                }
            }
            return SecretBytes(count: hashLength) { out in
                _ = crypto_auth_hmacsha256_final(&state, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
    }

    /// Type-erasing box so `some ContiguousBytes` can join an `[any ContiguousBytes]` list.
    private struct ByteArray: ContiguousBytes {
        let base: any ContiguousBytes
        init(_ base: some ContiguousBytes) { self.base = base }
        func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
            try base.withUnsafeBytes(body)
        }
    }
}
