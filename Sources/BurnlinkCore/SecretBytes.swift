import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Key material (link keys, password keys, tokens) held in memory that Core owns and
/// wipes with `sodium_memzero` when the last reference goes away.
///
/// Immutable once built, hence safe to share between tasks.
public final class SecretBytes: @unchecked Sendable, ContiguousBytes {
    private let storage: UnsafeMutableRawBufferPointer

    public var count: Int { storage.count }

    /// Zero-filled storage; `fill` writes the secret in place so it is never copied.
    init(count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void = { _ in }) {
        Sodium.ensureReady()
        storage = .allocate(byteCount: count, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        fill(storage)
    }

    public convenience init(copying bytes: some ContiguousBytes) {
        self.init(count: bytes.withUnsafeBytes { $0.count }) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }

    /// `count` bytes from libsodium's CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        SecretBytes(count: count) { if count > 0 { randombytes_buf($0.baseAddress!, $0.count) } }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// A copy the caller now owns and is responsible for wiping.
    public var bytes: [UInt8] { [UInt8](storage) }

    /// base64url without padding, for tokens that travel in headers and keys in links.
    public var base64URL: String { withUnsafeBytes { Base64URL.encode($0) } }

    deinit {
        Sodium.wipe(storage)
        storage.deallocate()
    }
}

extension SecretBytes: Equatable {
    /// Constant time: secrets are never compared with `==` on their bytes.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        ConstantTime.equal(lhs, rhs)
    }
}
