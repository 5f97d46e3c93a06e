import Testing

@_spi(Fuzzing) @testable import BurnlinkCore

/// Round-trip properties over seeded random cases: every case is reproducible from its
/// seed, which each failure message names.
@Suite("Envelope properties")
struct PropertyTests {
    static let chunk = Envelope.chunkSize
    /// Characters names and passwords are drawn from: ASCII, accents, other scripts, emoji.
    static let alphabet = Array("abcXYZ0129 -_.,+()[]éüßçÅ€日本語кириллица🔥🙂")

    static func randomText(_ range: ClosedRange<Int>, using generator: inout SeededGenerator) -> String {
        String((0..<Int.random(in: range, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// A size near a chunk boundary (the 4-byte text metadata shifts it) or anywhere up to three chunks.
    static func randomSize(using generator: inout SeededGenerator) -> Int {
        if Bool.random(using: &generator) {
            return max(0, Int.random(in: 1...3, using: &generator) * chunk + Int.random(in: -8...8, using: &generator))
        }
        return Int.random(in: 0...(3 * chunk), using: &generator)
    }

    @Test(
        "for random contents, sizes, names and passwords: open(seal(x)) == x; a wrong password, a wrong key or any one changed byte fails",
        arguments: 0..<40)
    func roundTripAndTamper(seed: UInt64) throws {
        var generator = SeededGenerator(seed: 0xB0_12_7A_00 &+ seed)
        let size = Self.randomSize(using: &generator)
        let content = generator.bytes(size)
        let metadata: InnerMetadata
        if Bool.random(using: &generator) {
            metadata = .text()
        } else {
            // A letter first, so the name is never "." or "..".
            let name = "n" + Self.randomText(0...40, using: &generator)
            metadata = try InnerMetadata.file(name: name, size: Bool.random(using: &generator) ? UInt64(size) : nil)
        }
        let salt = generator.bytes(16)
        let kdf = try KDFParameters(ops: 1, memory: 8192, salt: salt)
        let password = Self.randomText(1...64, using: &generator)
        let withPassword = Bool.random(using: &generator)
        let passwordKey = withPassword ? try kdf.deriveKey(password: KDFParameters.passwordBytes(password)) : nil
        // With a password: a password one character off. Without: any password at all.
        let wrongPasswordKey = try kdf.deriveKey(password: KDFParameters.passwordBytes(withPassword ? password + "!" : password))
        let key = KeySchedule.newLinkKey()
        let context = "seed \(seed): size \(size), \(metadata), password \(passwordKey != nil)"

        let envelope = sealStreaming(content, metadata: metadata, linkKey: key, passwordKey: passwordKey, generator: &generator)
        #expect(envelope.count == Envelope.sealedCount(contentCount: size, metadata: metadata), "\(context)")
        let (opened, plain) = try openStreaming(envelope, linkKey: key, passwordKey: passwordKey, generator: &generator)
        #expect(opened == metadata, "\(context)")
        #expect(plain == content, "\(context)")

        // With a wrong password, a password it was not sealed with, or another link key: nothing opens.
        #expect(throws: BurnlinkError.self, "\(context)") {
            _ = try openStreaming(envelope, linkKey: key, passwordKey: wrongPasswordKey, generator: &generator)
        }
        #expect(throws: BurnlinkError.self, "\(context)") {
            _ = try openStreaming(envelope, linkKey: KeySchedule.newLinkKey(), passwordKey: passwordKey, generator: &generator)
        }
        // Any one byte changed, anywhere: header, a chunk's start, end or middle.
        for _ in 0..<8 {
            var changed = envelope
            let offset = Int.random(in: 0..<changed.count, using: &generator)
            changed[offset] ^= UInt8.random(in: 1...255, using: &generator)
            #expect(throws: BurnlinkError.self, "\(context): byte \(offset) changed") {
                _ = try openStreaming(changed, linkKey: key, passwordKey: passwordKey, generator: &generator)
            }
        }
    }
}
