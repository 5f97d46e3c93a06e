import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one place libsodium is initialised. Every Core entry point that calls libsodium
/// goes through `Sodium.ready` first, so callers never have to remember `sodium_init()`.
enum Sodium {
    /// Swift initialises globals exactly once, thread-safely, on first use.
    private static let initialised: Bool = sodium_init() >= 0

    @inline(__always)
    static func ensureReady() {
        precondition(initialised, "libsodium failed to initialise")
    }

    static func randomBytes(count: Int) -> [UInt8] {
        ensureReady()
        var bytes = [UInt8](repeating: 0, count: count)
        if count > 0 { bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) } }
        return bytes
    }

    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }
}

/// Constant-time comparison of secrets and their digests.
public enum ConstantTime {
    /// True when both buffers have the same length and contents. The time taken depends
    /// only on the length, never on where the first difference is.
    public static func equal(_ lhs: some ContiguousBytes, _ rhs: some ContiguousBytes) -> Bool {
        Sodium.ensureReady()
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in
                guard a.count == b.count else { return false }
                guard a.count > 0 else { return true }
                return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
            }
        }
    }
}

/// This project's primitives under one name, so that they never clash with swift-crypto's
/// `SHA256` or `HKDF` in a module that imports both.
public enum BurnlinkCrypto {}

extension BurnlinkCrypto {
    /// SHA-256, used for the verifiers the server stores instead of tokens.
    public enum SHA256 {
        public static let digestSize = Int(crypto_hash_sha256_BYTES)

        public static func hash(_ message: some ContiguousBytes) -> [UInt8] {
            Sodium.ensureReady()
            var digest = [UInt8](repeating: 0, count: digestSize)
            message.withUnsafeBytes { m in
                digest.withUnsafeMutableBytes { d in
                    _ = crypto_hash_sha256(
                        d.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count))
                }
            }
            return digest
        }
    }
}

/// Wiping memory that held a secret, for buffers owned outside Core.
public enum SecureMemory {
    public static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        Sodium.wipe(buffer)
    }

    public static func wipeArray(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }
}

/// Keeps secrets held in this process out of core dumps and away from ptrace by other
/// processes of the same user.
public enum ProcessHardening {
    @discardableResult
    public static func disableCoreDumps() -> Bool {
        burnlink_disable_core_dumps() == 0
    }
}
