import Foundation
import Testing

@testable import BurnlinkCore

private func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}

/// Bytes 0...15: the salt of the known answers below.
private let knownSalt: [UInt8] = Array(0..<16)
private let knownSaltText = "AAECAwQFBgcICQoLDA0ODw"

/// Cheap parameters for tests that really run Argon2id: 8 KiB, one pass.
private func cheap(salt: [UInt8] = knownSalt, ops: UInt64 = 1) throws -> KDFParameters {
    try KDFParameters(ops: ops, memory: 8192, salt: salt)
}

/// Runs `body` and returns the detail of the `.badKDFParameters` it throws, recording an
/// issue if it throws anything else or nothing.
@discardableResult
private func expectBadKDFParameters(
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> KDFParameters
) -> String? {
    do {
        let parameters = try body()
        Issue.record("accepted: \(parameters.encoded) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    } catch {
        guard let error = error as? BurnlinkError, case .badKDFParameters(let detail) = error else {
            Issue.record("wrong error \(error)", sourceLocation: sourceLocation)
            return nil
        }
        return detail
    }
    return nil
}

@Suite("KDFParameters")
struct KDFParametersTests {
    // MARK: Encoding

    @Test("fields are read by position: one out of place is named as such")
    func reorderedFields() {
        let salt = "AAAAAAAAAAAAAAAAAAAAAA"
        for (text, message) in [
            ("argon2id13; mem=8192; ops=3; salt=\(salt)", "the second field must be ops=N"),
            ("argon2id13; ops=3; salt=\(salt); mem=8192", "the third field must be mem=N"),
            ("argon2id13; ops=3; mem=8192; sal=\(salt)", "the fourth field must be salt=S"),
        ] {
            #expect(throws: BurnlinkError.badKDFParameters(message)) { try KDFParameters(encoded: text) }
        }
    }

    @Test("the encoded form of a known salt, exactly as in the spec")
    func knownEncoding() throws {
        let parameters = try KDFParameters(ops: 3, memory: 67_108_864, salt: knownSalt)
        #expect(parameters.encoded == "argon2id13; ops=3; mem=67108864; salt=\(knownSaltText)")
        #expect(try KDFParameters(encoded: parameters.encoded) == parameters)
        let parsed = try KDFParameters(encoded: "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODw")
        #expect(parsed.ops == 3)
        #expect(parsed.memory == 64 << 20)
        #expect(parsed.salt == knownSalt)
    }

    @Test("the defaults are ops=3, mem=64 MiB, and a fresh 16-byte salt each time")
    func generate() throws {
        let first = try KDFParameters.generate()
        let second = try KDFParameters.generate()
        #expect(first.ops == 3)
        #expect(first.memory == 67_108_864)
        #expect(first.salt.count == 16)
        #expect(first.salt != second.salt)
        #expect(try KDFParameters(encoded: first.encoded) == first)
        let custom = try KDFParameters.generate(ops: 1, memory: 8192)
        #expect(custom.ops == 1 && custom.memory == 8192)
        expectBadKDFParameters { try KDFParameters.generate(ops: 11) }
        expectBadKDFParameters { try KDFParameters.generate(memory: 4096) }
    }

    @Test("random valid parameters round trip through their encoded form")
    func randomRoundTrip() throws {
        var random = SeededGenerator(seed: 0x4B4446)
        for _ in 0..<300 {
            let ops = UInt64.random(in: 1...10, using: &random)
            let memory = UInt64.random(in: 8...(1 << 20), using: &random) * 1024
            let salt = random.bytes(16)
            let parameters = try KDFParameters(ops: ops, memory: memory, salt: salt)
            let text = "argon2id13; ops=\(ops); mem=\(memory); salt=\(Base64URL.encode(salt))"
            #expect(parameters.encoded == text)
            let parsed = try KDFParameters(encoded: text)
            #expect(parsed == parameters)
            #expect(parsed.encoded == text)
        }
    }

    static let acceptedCaps: [(UInt64, UInt64)] = [
        (1, 8192), (10, 8192), (1, 1 << 30), (10, 1 << 30), (3, 9216), (3, (1 << 30) - 1024),
    ]

    @Test("the boundaries are accepted", arguments: acceptedCaps)
    func boundaries(ops: UInt64, memory: UInt64) throws {
        let parameters = try KDFParameters(ops: ops, memory: memory, salt: knownSalt)
        #expect(parameters.ops == ops && parameters.memory == memory)
        #expect(try KDFParameters(encoded: "argon2id13; ops=\(ops); mem=\(memory); salt=\(knownSaltText)") == parameters)
        // Never derive with these: 1 GiB is for parsing only.
    }

    static let refusedCaps: [(UInt64, UInt64)] = [
        (0, 8192), (11, 8192), (.max, 8192),
        (1, 0), (1, 8191), (1, 7168), (1, (1 << 30) + 1024), (1, 1 << 31), (1, .max),
        (1, 8192 + 512), (1, 10000), (1, (1 << 30) - 1),
    ]

    @Test("init refuses values outside the caps", arguments: refusedCaps)
    func initRefuses(ops: UInt64, memory: UInt64) {
        expectBadKDFParameters("ops=\(ops) mem=\(memory)") {
            try KDFParameters(ops: ops, memory: memory, salt: knownSalt)
        }
    }

    @Test("init refuses a salt that is not 16 bytes", arguments: [0, 1, 8, 15, 17, 32])
    func initRefusesSalt(count: Int) {
        expectBadKDFParameters {
            try KDFParameters(ops: 3, memory: 8192, salt: [UInt8](repeating: 7, count: count))
        }
    }

    static let refusedEncodings: [String] = {
        let salt = "salt=\(knownSaltText)"
        return [
            // Caps.
            "argon2id13; ops=0; mem=67108864; \(salt)",
            "argon2id13; ops=11; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=8191; \(salt)",
            "argon2id13; ops=3; mem=0; \(salt)",
            "argon2id13; ops=3; mem=1073742848; \(salt)",  // 1 GiB + 1024
            "argon2id13; ops=3; mem=2147483648; \(salt)",  // 2 GiB
            "argon2id13; ops=3; mem=67108865; \(salt)",  // not a multiple of 1024
            "argon2id13; ops=3; mem=67109376; \(salt)",  // 64 MiB + 512
            // Salt.
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0O",  // 15 bytes
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODxA",  // 17 bytes
            "argon2id13; ops=3; mem=67108864; salt=",
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODw==",  // padding
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODx",  // non-canonical
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLD+0ODw",  // '+'
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLD/0ODw",  // '/'
            "argon2id13; ops=3; mem=67108864; salt=é\(String(repeating: "_", count: 19))w",  // libsodium: "__..."
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODw ",  // trailing space
            "argon2id13; ops=3; mem=67108864; salt=AAECAwQFBgcICQoLDA0ODw\n",  // trailing newline
            // Algorithm.
            "argon2id; ops=3; mem=67108864; \(salt)",
            "argon2i13; ops=3; mem=67108864; \(salt)",
            "argon2id19; ops=3; mem=67108864; \(salt)",
            "scrypt; ops=3; mem=67108864; \(salt)",
            "ARGON2ID13; ops=3; mem=67108864; \(salt)",
            "; ops=3; mem=67108864; \(salt)",
            // Order and presence of fields.
            "argon2id13; mem=67108864; ops=3; \(salt)",
            "argon2id13; \(salt); ops=3; mem=67108864",
            "ops=3; argon2id13; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=67108864",
            "argon2id13; ops=3; \(salt)",
            "argon2id13; mem=67108864; \(salt)",
            "ops=3; mem=67108864; \(salt)",
            "argon2id13; ops=3; ops=3; \(salt)",
            "argon2id13; ops=3; mem=67108864; \(salt); extra=1",
            "argon2id13; ops=3; mem=67108864; \(salt); ",
            "argon2id13; ops=3; mem=67108864; \(salt);",
            "argon2id13; ops=3; mem=67108864; \(salt); \(salt)",
            "argon2id13; ops=3; mem=67108864; p=1; \(salt)",
            // White space and separators.
            "argon2id13;  ops=3; mem=67108864; \(salt)",
            "argon2id13 ; ops=3; mem=67108864; \(salt)",
            " argon2id13; ops=3; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=67108864; \(salt) ",
            "argon2id13; ops = 3; mem=67108864; \(salt)",
            "argon2id13; ops= 3; mem=67108864; \(salt)",
            "argon2id13; ops=3 ; mem=67108864; \(salt)",
            "argon2id13;ops=3;mem=67108864;\(salt)",
            "argon2id13; ops=3;mem=67108864; \(salt)",
            "argon2id13, ops=3, mem=67108864, \(salt)",
            "argon2id13;\tops=3; mem=67108864; \(salt)",
            "argon2id13;\u{A0}ops=3; mem=67108864; \(salt)",  // no-break space
            "argon2id13\u{37E} ops=3; mem=67108864; \(salt)",  // Greek question mark, canonically ';'
            "argon2id13; ops=3\u{37E} mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=67108864\u{37E} \(salt)",
            "argon2id13;\r\nops=3; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=67108864; \(salt)\r\n",
            // Numbers.
            "argon2id13; ops=03; mem=67108864; \(salt)",
            "argon2id13; ops=00; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=067108864; \(salt)",
            "argon2id13; ops=-3; mem=67108864; \(salt)",
            "argon2id13; ops=+3; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=-67108864; \(salt)",
            "argon2id13; ops=; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=; \(salt)",
            "argon2id13; ops=three; mem=67108864; \(salt)",
            "argon2id13; ops=0x3; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=0x4000000; \(salt)",
            "argon2id13; ops=3.0; mem=67108864; \(salt)",
            "argon2id13; ops=3; mem=64M; \(salt)",
            "argon2id13; ops=3; mem=6.7e7; \(salt)",
            "argon2id13; ops=3; mem=67_108_864; \(salt)",
            "argon2id13; ops=\u{FF13}; mem=67108864; \(salt)",  // full-width 3
            "argon2id13; ops=\u{0663}; mem=67108864; \(salt)",  // Arabic-Indic 3
            "argon2id13; ops=3\u{301}; mem=67108864; \(salt)",  // combining mark on a digit
            "argon2id13; ops=18446744073709551616; mem=67108864; \(salt)",  // UInt64.max + 1
            "argon2id13; ops=3; mem=99999999999999999999999; \(salt)",
            "argon2id13; ops=18446744073709551615; mem=67108864; \(salt)",  // UInt64.max: over the cap
            "argon2id13; ops=3; mem=18446744073709551615; \(salt)",
            // Field names.
            "argon2id13; OPS=3; mem=67108864; \(salt)",
            "argon2id13; ops:3; mem=67108864; \(salt)",
            "argon2id13; t=3; mem=67108864; \(salt)",
            "argon2id13; ops=3; memory=67108864; \(salt)",
            "argon2id13; ops=3; mem=67108864; SALT=\(knownSaltText)",
            "argon2id13; ops=3; mem=67108864; salt:\(knownSaltText)",
            // Nothing.
            "",
            " ",
            "; ; ; ",
            "argon2id13",
        ]
    }()

    @Test("malformed or out-of-cap encodings are refused with .badKDFParameters", arguments: refusedEncodings)
    func encodedRefused(text: String) {
        expectBadKDFParameters { try KDFParameters(encoded: text) }
    }

    @Test("the refusal names the bad value")
    func refusalDetail() {
        let ops = expectBadKDFParameters {
            try KDFParameters(encoded: "argon2id13; ops=11; mem=8192; salt=\(knownSaltText)")
        }
        #expect(ops?.contains("11") == true)
        let memory = expectBadKDFParameters {
            try KDFParameters(encoded: "argon2id13; ops=1; mem=2147483648; salt=\(knownSaltText)")
        }
        #expect(memory?.contains("2147483648") == true)
        #expect(BurnlinkError.badKDFParameters("x").code == "bad-kdf-parameters")
    }

    // MARK: Argon2id

    @Test("deriveKey matches an independent Argon2id (PyNaCl, libsodium) for a known input")
    func deriveKnownAnswer() throws {
        let key = try cheap().deriveKey(password: KDFParameters.passwordBytes("correct horse"))
        #expect(key.count == 32)
        #expect(hex(key.bytes) == "3bfa796a86260b73457e1290b51695931a17e266f601d0fb45563e282fb6865b")
    }

    @Test("deriveKey is deterministic and depends on password, salt and ops")
    func deriveDependsOnEveryInput() throws {
        let password = KDFParameters.passwordBytes("correct horse battery staple")
        let base = try cheap().deriveKey(password: password)
        #expect(base.count == 32)
        #expect(try cheap().deriveKey(password: password) == base)
        #expect(try cheap().deriveKey(password: KDFParameters.passwordBytes("correct horse battery stapler")) != base)
        #expect(try cheap().deriveKey(password: KDFParameters.passwordBytes("Correct horse battery staple")) != base)
        var otherSalt = knownSalt
        otherSalt[15] ^= 1
        #expect(try cheap(salt: otherSalt).deriveKey(password: password) != base)
        #expect(try cheap(ops: 2).deriveKey(password: password) != base)
        #expect(try cheap(ops: 10).deriveKey(password: password) != base)
        let moreMemory = try KDFParameters(ops: 1, memory: 9216, salt: knownSalt)
        #expect(try moreMemory.deriveKey(password: password) != base)
    }

    @Test("deriveKey accepts 1 to 1024 password bytes", arguments: [1, 2, 1023, 1024])
    func passwordLengthAccepted(count: Int) throws {
        let key = try cheap().deriveKey(password: SecretBytes(copying: [UInt8](repeating: 0x61, count: count)))
        #expect(key.count == 32)
    }

    @Test("deriveKey refuses an empty or over-long password with .invalidArgument", arguments: [0, 1025, 4096])
    func passwordLengthRefused(count: Int) throws {
        do {
            _ = try cheap().deriveKey(password: SecretBytes(copying: [UInt8](repeating: 0x61, count: count)))
            Issue.record("a \(count)-byte password was accepted")
        } catch {
            guard let error = error as? BurnlinkError, case .invalidArgument = error else {
                Issue.record("wrong error \(error)")
                return
            }
        }
        // The limit is on bytes, not characters: 512 two-byte characters are 1024 bytes, 513 are too many.
        #expect(KDFParameters.passwordBytes(String(repeating: "é", count: 512)).count == 1024)
        #expect(throws: BurnlinkError.self) {
            try cheap().deriveKey(password: KDFParameters.passwordBytes(String(repeating: "é", count: 513)))
        }
        #expect(throws: BurnlinkError.self) {
            try cheap().deriveKey(password: KDFParameters.passwordBytes(""))
        }
    }

    @Test("passwordBytes is UTF-8 in NFC")
    func passwordBytesNFC() throws {
        let decomposed = KDFParameters.passwordBytes("e\u{301}")
        let precomposed = KDFParameters.passwordBytes("\u{e9}")
        #expect(decomposed.bytes == [0xC3, 0xA9])
        #expect(precomposed.bytes == [0xC3, 0xA9])
        #expect(KDFParameters.passwordBytes("hunter2").bytes == Array("hunter2".utf8))
        #expect(KDFParameters.passwordBytes("").count == 0)
        // Ångström: U+212B (Angstrom sign) and A + U+030A both become U+00C5.
        #expect(KDFParameters.passwordBytes("\u{212B}").bytes == [0xC3, 0x85])
        #expect(KDFParameters.passwordBytes("A\u{30A}").bytes == [0xC3, 0x85])
        // NFC, not NFKC: compatibility characters are kept.
        #expect(KDFParameters.passwordBytes("\u{FB01}").bytes == [0xEF, 0xAC, 0x81])
        #expect(KDFParameters.passwordBytes("\u{FF21}").bytes == [0xEF, 0xBC, 0xA1])
        // Canonical reordering of combining marks.
        #expect(KDFParameters.passwordBytes("a\u{323}\u{302}").bytes == KDFParameters.passwordBytes("a\u{302}\u{323}").bytes)

        // Both spellings derive the same key, and it matches PyNaCl on NFC UTF-8 "été".
        let fromDecomposed = try cheap().deriveKey(password: KDFParameters.passwordBytes("e\u{301}te\u{301}"))
        let fromPrecomposed = try cheap().deriveKey(password: KDFParameters.passwordBytes("\u{e9}t\u{e9}"))
        #expect(fromDecomposed == fromPrecomposed)
        #expect(hex(fromPrecomposed.bytes) == "9e1ff571b648e67cb981d73da340bdd2fa1ad089857e167b4a58bcf0cb044a98")
    }

    @Test("passwordBytes agrees with Foundation's NFC (ICU) on composed, decomposed and reordered text")
    func passwordBytesMatchFoundation() {
        let samples = [
            "e\u{301}", "\u{212B}", "A\u{30A}", "a\u{323}\u{302}", "a\u{302}\u{323}", "\u{1E0B}\u{323}",
            "\u{1100}\u{1161}\u{11A8}", "\u{D4DB}", "\u{FB01}\u{FF21}", "\u{0F73}", "\u{2126}\u{212A}",
            "Pa\u{308}sswo\u{308}rd", "日本語のパスワード", "\u{30AB}\u{3099}", "\u{1F469}\u{200D}\u{1F4BB}", "hunter2",
        ]
        for sample in samples {
            let expected = Array(sample.precomposedStringWithCanonicalMapping.utf8)
            #expect(
                KDFParameters.passwordBytes(sample).bytes == expected,
                "\(sample.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }
}

@Suite("KeySchedule")
struct KeyScheduleTests {
    /// K = bytes 0...31, P = bytes 32...63.
    let linkKey = SecretBytes(copying: Array(0..<32) as [UInt8])
    let passwordKey = SecretBytes(copying: Array(32..<64) as [UInt8])

    @Test("claim token and password proof are 32 bytes, deterministic and distinct")
    func tokens() {
        let claim = KeySchedule.claimToken(linkKey: linkKey)
        let proof = KeySchedule.passwordProof(linkKey: linkKey, passwordKey: passwordKey)
        #expect(claim.count == 32)
        #expect(proof.count == 32)
        #expect(KeySchedule.claimToken(linkKey: SecretBytes(copying: linkKey.bytes)) == claim)
        #expect(KeySchedule.passwordProof(linkKey: linkKey, passwordKey: SecretBytes(copying: passwordKey.bytes)) == proof)
        #expect(claim != proof)
        #expect(claim != linkKey)
        #expect(proof != passwordKey)
    }

    @Test("tokens differ between link keys and between password keys")
    func tokensDependOnKeys() {
        var random = SeededGenerator(seed: 0x4B53)
        var claims: Set<[UInt8]> = []
        var proofs: Set<[UInt8]> = []
        for _ in 0..<50 {
            let key = SecretBytes(copying: random.bytes(32))
            claims.insert(KeySchedule.claimToken(linkKey: key).bytes)
            proofs.insert(KeySchedule.passwordProof(linkKey: key, passwordKey: passwordKey).bytes)
            proofs.insert(KeySchedule.passwordProof(linkKey: linkKey, passwordKey: key).bytes)
        }
        #expect(claims.count == 50)
        #expect(proofs.count == 100)

        // Q binds K and P separately from their concatenation being shifted.
        var flipped = linkKey.bytes
        flipped[31] ^= 0x80
        #expect(KeySchedule.claimToken(linkKey: SecretBytes(copying: flipped)) != KeySchedule.claimToken(linkKey: linkKey))
        #expect(
            KeySchedule.passwordProof(linkKey: passwordKey, passwordKey: linkKey)
                != KeySchedule.passwordProof(linkKey: linkKey, passwordKey: passwordKey))
    }

    @Test("claim token and password proof match an independent HKDF-SHA-256 (Python hmac)")
    func knownAnswers() {
        #expect(
            hex(KeySchedule.claimToken(linkKey: linkKey).bytes)
                == "85202ed76b34f235c025d87facb8d1b8d69b2dc2b4dd8f51ccdaf74562fb1b91")
        #expect(
            hex(KeySchedule.passwordProof(linkKey: linkKey, passwordKey: passwordKey).bytes)
                == "ef0fe97be4dc8be70eaaf8b974da035ab0d8c82c129e449f77da25a5e1822a47")
    }

    @Test("verifier(of:) is SHA-256 of the token")
    func verifier() {
        // Values from Python's hashlib.
        #expect(
            hex(KeySchedule.verifier(of: SecretBytes(copying: Array("abc".utf8))))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            hex(KeySchedule.verifier(of: linkKey))
                == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")
        let claim = KeySchedule.claimToken(linkKey: linkKey)
        #expect(
            hex(KeySchedule.verifier(of: claim))
                == "58284ccf571f23eb8536e6606529c6c24a5e49104ed1f8ac2f9dfec3d2e23b89")
        #expect(KeySchedule.verifier(of: claim) == BurnlinkCrypto.SHA256.hash(claim.bytes))
        #expect(KeySchedule.verifier(of: claim).count == 32)
    }

    @Test("fresh link keys and receipt tokens are 32 random bytes")
    func freshKeys() {
        let first = KeySchedule.newLinkKey()
        #expect(first.count == 32)
        #expect(first != KeySchedule.newLinkKey())
        let receipt = KeySchedule.newReceiptToken()
        #expect(receipt.count == 32)
        #expect(receipt != KeySchedule.newReceiptToken())
    }
}
