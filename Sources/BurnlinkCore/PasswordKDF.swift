import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Public Argon2id parameters of a password-protected secret (docs/format.md section 2.1).
///
/// The server stores and returns them; the client refuses values above the caps so that a
/// hostile server cannot make it hang or swap.
public struct KDFParameters: Equatable, Sendable {
    public static let algorithm = "argon2id13"
    public static let saltByteCount = Int(crypto_pwhash_argon2id_SALTBYTES)
    public static let opsRange: ClosedRange<UInt64> = 1...10
    /// Bytes; libsodium's minimum up to 1 GiB.
    public static let memoryRange: ClosedRange<UInt64> = 8192...(1 << 30)
    public static let defaultOps: UInt64 = 3
    public static let defaultMemory: UInt64 = 64 << 20
    public static let passwordByteRange = 1...1024

    public let ops: UInt64
    public let memory: UInt64
    public let salt: [UInt8]

    public init(ops: UInt64, memory: UInt64, salt: [UInt8]) throws(BurnlinkError) {
        guard Self.opsRange.contains(ops) else {
            throw .badKDFParameters("ops must be \(Self.opsRange.lowerBound) to \(Self.opsRange.upperBound), got \(ops)")
        }
        guard Self.memoryRange.contains(memory) else {
            throw .badKDFParameters(
                "mem must be \(Self.memoryRange.lowerBound) to \(Self.memoryRange.upperBound) bytes, got \(memory)")
        }
        guard memory % 1024 == 0 else {
            throw .badKDFParameters("mem must be a multiple of 1024 bytes, got \(memory)")
        }
        guard salt.count == Self.saltByteCount else {
            throw .badKDFParameters("salt must be \(Self.saltByteCount) bytes, got \(salt.count)")
        }
        self.ops = ops
        self.memory = memory
        self.salt = salt
    }

    /// Fresh parameters with a random salt, as a sender chooses them.
    public static func generate(ops: UInt64 = defaultOps, memory: UInt64 = defaultMemory) throws(BurnlinkError) -> KDFParameters {
        try KDFParameters(ops: ops, memory: memory, salt: Sodium.randomBytes(count: saltByteCount))
    }

    /// `argon2id13; ops=3; mem=67108864; salt=<22 base64url characters>`, as sent in
    /// the `Burnlink-Password-KDF` header.
    public var encoded: String {
        "\(Self.algorithm); ops=\(ops); mem=\(memory); salt=\(Base64URL.encode(salt))"
    }

    /// Parses the encoded form strictly: fields in order, each once, no extra white space.
    public init(encoded text: some StringProtocol) throws(BurnlinkError) {
        // The form is ASCII. Checking that first keeps the Character comparisons below exact:
        // they use canonical equivalence, under which U+037E GREEK QUESTION MARK equals ';'.
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw .badKDFParameters("expected ASCII '\(Self.algorithm); ops=N; mem=N; salt=S'")
        }
        let fields = String(text).split(separator: "; ", omittingEmptySubsequences: false)
        guard fields.count == 4 else {
            throw .badKDFParameters("expected '\(Self.algorithm); ops=N; mem=N; salt=S'")
        }
        guard fields[0] == Self.algorithm else {
            throw .badKDFParameters("unsupported algorithm")
        }
        let ops = try Self.decimal(fields[1], named: "ops", position: "second")
        let memory = try Self.decimal(fields[2], named: "mem", position: "third")
        guard fields[3].hasPrefix("salt=") else { throw .badKDFParameters("the fourth field must be salt=S") }
        guard
            let salt = Base64URL.decode(fields[3].dropFirst("salt=".count), count: Self.saltByteCount)
        else {
            throw .badKDFParameters("salt must be \(Self.saltByteCount) bytes in base64url")
        }
        try self.init(ops: ops, memory: memory, salt: salt)
    }

    private static func decimal(_ field: Substring, named name: String, position: String) throws(BurnlinkError) -> UInt64 {
        let prefix = name + "="
        // Fields are read by position: a field in the wrong place is named as such.
        guard field.hasPrefix(prefix) else { throw .badKDFParameters("the \(position) field must be \(name)=N") }
        let digits = field.dropFirst(prefix.count)
        guard (1...20).contains(digits.count),
            digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            digits == "0" || !digits.hasPrefix("0"),
            let value = UInt64(digits)
        else {
            throw .badKDFParameters("\(name) must be a decimal number")
        }
        return value
    }

    /// `P = Argon2id(password, salt, ops, mem)`, 32 bytes. Slow by design.
    public func deriveKey(password: SecretBytes) throws(BurnlinkError) -> SecretBytes {
        guard Self.passwordByteRange.contains(password.count) else {
            throw .invalidArgument("a password must be 1 to \(Self.passwordByteRange.upperBound) bytes")
        }
        Sodium.ensureReady()
        var status: Int32 = 0
        let key = SecretBytes(count: Link.keyByteCount) { out in
            status = password.withUnsafeBytes { pw in
                salt.withUnsafeBytes { saltBytes in
                    crypto_pwhash(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(out.count),
                        pw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pw.count),
                        saltBytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        ops, Int(memory), crypto_pwhash_ALG_ARGON2ID13)
                }
            }
        }
        guard status == 0 else {
            throw .badKDFParameters("Argon2id failed (not enough memory for \(memory) bytes?)")
        }
        return key
    }

    /// The bytes a password stands for: UTF-8 in Unicode normalisation form C, so the same
    /// password typed on different systems derives the same key.
    public static func passwordBytes(_ password: String) -> SecretBytes {
        // The standard library's own NFC (the one its String comparison uses): Foundation's
        // would link ICU into the CLI, a cost at every start.
        var bytes = password._nfcCodeUnits
        defer { Sodium.wipe(&bytes) }
        return SecretBytes(copying: bytes)
    }
}
