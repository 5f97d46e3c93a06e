import Foundation

@_spi(Fuzzing) @testable import BurnlinkCore

/// Builds every envelope known-answer vector from fixed keys and nonce prefixes, so the
/// files in Tests/Vectors can be checked (and, on request, rewritten) byte for byte.
enum VectorCatalog {
    static let linkKey = SecretBytes(copying: [UInt8](0..<32))
    static let otherLinkKey = SecretBytes(copying: [UInt8](100..<132))
    static let noncePrefix = [UInt8](0xA0..<0xB0)
    static let password = "correct horse battery staple"
    /// The smallest parameters libsodium allows, so the vectors verify quickly.
    static let kdf = try! KDFParameters(ops: 1, memory: 8192, salt: [UInt8](0x50..<0x60))
    static let passwordKey = try! kdf.deriveKey(password: KDFParameters.passwordBytes(password))

    /// Deterministic content: varied enough that a misplaced chunk cannot decrypt to the same bytes.
    static func content(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8 &+ Int(seed)) }
    }

    static func seal(_ content: [UInt8], _ metadata: InnerMetadata, passwordKey: SecretBytes? = nil) -> [UInt8] {
        seal(content, streamPrefix: metadata.encoded(), passwordKey: passwordKey)
    }

    static func seal(_ content: [UInt8], streamPrefix: [UInt8], passwordKey: SecretBytes? = nil) -> [UInt8] {
        let sealer = EnvelopeSealer(
            linkKey: linkKey, passwordKey: passwordKey,
            streamPrefix: streamPrefix, noncePrefix: noncePrefix)
        return sealer.update(content) + sealer.finish()
    }

    /// Seals chunks one by one with chosen final flags, to build streams a correct
    /// sealer never produces.
    static func sealChunks(_ chunks: [[UInt8]], finalFlags: [Bool]) -> [UInt8] {
        let header = Envelope.makeHeader(passwordProtected: false, noncePrefix: noncePrefix)
        let key = KeySchedule.payloadKey(linkKey: linkKey, passwordKey: nil, header: header)
        var envelope = header
        for (counter, (chunk, final)) in zip(chunks, finalFlags).enumerated() {
            let nonce = Envelope.nonce(prefix: noncePrefix, counter: UInt64(counter), final: final)
            var box = [UInt8](repeating: 0, count: chunk.count + Envelope.tagCount)
            box.withUnsafeMutableBytes { out in
                chunk.withUnsafeBytes { _ = SecretBox.seal($0, nonce: nonce, key: key, into: out.baseAddress!) }
            }
            envelope += box
        }
        return envelope
    }

    /// Sealed chunk `index` of an envelope (full chunks before it).
    static func chunkRange(_ index: Int, in envelope: [UInt8]) -> Range<Int> {
        let start = Envelope.headerCount + index * Envelope.sealedChunkSize
        return start..<min(start + Envelope.sealedChunkSize, envelope.count)
    }

    static func flipping(_ envelope: [UInt8], at offset: Int, mask: UInt8 = 0x01) -> [UInt8] {
        var copy = envelope
        copy[offset] ^= mask
        return copy
    }

    struct Entry {
        var name: String
        var description: String
        var expect: String
        var envelope: [UInt8]
        var key: SecretBytes = linkKey
        var withPassword = false
        var kdfText: String?
        var metadata: InnerMetadata?
        var content: [UInt8] = []

        var file: VectorFile {
            var fields: [(String, String)] = [
                ("expect", expect),
                ("description", description),
                ("key", key.base64URL),
            ]
            if withPassword {
                fields.append(("password", VectorCatalog.password))
                fields.append(("kdf", kdfText ?? VectorCatalog.kdf.encoded))
            }
            fields.append(("claim-token", KeySchedule.claimToken(linkKey: key).base64URL))
            if withPassword, kdfText == nil {
                let proof = KeySchedule.passwordProof(linkKey: key, passwordKey: VectorCatalog.passwordKey)
                fields.append(("password-proof", proof.base64URL))
            }
            if let metadata, expect == "success" {
                fields.append(("kind", metadata.kind == .text ? "text" : "file"))
                if let name = metadata.fileName { fields.append(("name", name)) }
                fields.append(("size", metadata.contentSize.map(String.init) ?? "none"))
                fields.append(("content-length", String(content.count)))
                fields.append(("content-sha256", hexString(BurnlinkCrypto.SHA256.hash(content))))
            }
            return VectorFile(fields: fields, body: envelope)
        }
    }

    static func success(
        _ name: String, _ description: String, content: [UInt8], metadata: InnerMetadata,
        withPassword: Bool = false
    ) -> Entry {
        Entry(
            name: name, description: description, expect: "success",
            envelope: seal(content, metadata, passwordKey: withPassword ? passwordKey : nil),
            withPassword: withPassword, metadata: metadata, content: content)
    }

    static func failure(
        _ name: String, _ code: String, _ description: String, envelope: [UInt8],
        key: SecretBytes = linkKey, withPassword: Bool = false, kdfText: String? = nil
    ) -> Entry {
        Entry(
            name: name, description: description, expect: "error \(code)", envelope: envelope, key: key,
            withPassword: withPassword, kdfText: kdfText)
    }

    static var entries: [Entry] {
        let text = InnerMetadata.text()
        let metadataCount = text.encoded().count  // 4
        let chunk = Envelope.chunkSize

        let small = seal(Array("hunter2".utf8), text)
        let twoChunks = seal(content(chunk + 100), text)  // chunk 0 full, chunk 1 short
        let threeChunks = seal(content(2 * chunk + 100), text)
        let fullFinal = seal(content(2 * chunk - metadataCount), text)  // stream is exactly two chunks
        let protected = seal(Array("the vault code is 4711".utf8), text, passwordKey: passwordKey)

        var list: [Entry] = [
            success(
                "envelope-empty-text", "empty text secret: the final chunk holds only the metadata",
                content: [], metadata: text),
            success("envelope-one-byte", "one byte of text", content: [0x78], metadata: text),
            success(
                "envelope-text-hunter2", "short text, the smallest realistic secret",
                content: Array("hunter2".utf8), metadata: text),
            success(
                "envelope-exactly-one-chunk", "the stream (metadata + content) fills exactly one chunk",
                content: content(chunk - metadataCount), metadata: text),
            success(
                "envelope-one-chunk-plus-one-byte", "the stream is one byte longer than a chunk",
                content: content(chunk - metadataCount + 1), metadata: text),
            success(
                "envelope-exactly-two-chunks", "the final chunk is full: no empty chunk follows",
                content: content(2 * chunk - metadataCount), metadata: text),
            success(
                "envelope-several-chunks", "four chunks with a declared size",
                content: content(3 * chunk + 1000, seed: 3), metadata: .text(size: UInt64(3 * chunk + 1000))),
            success(
                "envelope-file-with-name", "a file with its name and size in the inner metadata",
                content: content(5000, seed: 11), metadata: try! .file(name: "db-backup 2026.tar.gz", size: 5000)),
            success(
                "envelope-file-unicode-name", "a file whose name is not ASCII, without a declared size",
                content: Array("résumé\n".utf8), metadata: try! .file(name: "résumé €.txt", size: nil)),
            success(
                "envelope-password", "text protected by a password (Argon2id ops=1 mem=8192)",
                content: Array("the vault code is 4711".utf8), metadata: text, withPassword: true),
        ]

        let h = Envelope.headerCount
        list += [
            failure(
                "envelope-truncated-inside-header", "truncated", "the input ends inside the header",
                envelope: Array(small.prefix(20))),
            failure(
                "envelope-truncated-header-only", "truncated", "a header and no chunk",
                envelope: Array(small.prefix(h))),
            failure(
                "envelope-truncated-tiny-remainder", "truncated",
                "fewer than 17 bytes follow the header: not even a tag",
                envelope: Array(small.prefix(h + 10))),
            failure(
                "envelope-truncated-mid-chunk", "integrity",
                "cut in the middle of a non-final chunk: what remains cannot open as the final chunk",
                envelope: Array(twoChunks.prefix(h + 30_000))),
            failure(
                "envelope-truncated-mid-final-chunk", "integrity", "the final chunk loses its last byte",
                envelope: Array(twoChunks.dropLast())),
            failure(
                "envelope-final-chunk-missing", "truncated",
                "cut at a chunk boundary: the last chunk present opens only as a non-final chunk",
                envelope: Array(twoChunks[..<chunkRange(0, in: twoChunks).upperBound])),
            failure(
                "envelope-final-chunk-missing-after-two", "truncated",
                "two full chunks present, the final one missing",
                envelope: Array(threeChunks[..<chunkRange(1, in: threeChunks).upperBound])),
            failure(
                "envelope-extra-final-chunk", "integrity",
                "a chunk sealed as final is followed by another final chunk",
                envelope: sealChunks(
                    [metadataPrefixed(content(chunk - metadataCount)), content(50)],
                    finalFlags: [true, true])),
            failure(
                "envelope-reordered-chunks", "integrity", "chunks 0 and 1 swapped",
                envelope: Array(threeChunks[..<h]) + Array(threeChunks[chunkRange(1, in: threeChunks)])
                    + Array(threeChunks[chunkRange(0, in: threeChunks)])
                    + Array(threeChunks[chunkRange(2, in: threeChunks)])),
            failure(
                "envelope-duplicated-chunk", "integrity", "chunk 0 appears twice",
                envelope: Array(twoChunks[..<chunkRange(0, in: twoChunks).upperBound])
                    + Array(twoChunks[chunkRange(0, in: twoChunks)])
                    + Array(twoChunks[chunkRange(1, in: twoChunks)])),
            failure(
                "envelope-trailing-byte", "integrity", "one byte after a short final chunk",
                envelope: small + [0]),
            failure(
                "envelope-trailing-bytes-after-full-final", "integrity",
                "bytes after a full final chunk turn it into a non-final chunk",
                envelope: fullFinal + Array(repeating: 0, count: 40)),
            failure(
                "envelope-flipped-magic", "not-an-envelope", "first byte of the magic changed",
                envelope: flipping(small, at: 0)),
            failure(
                "envelope-version-2", "unsupported-version", "the version byte says 2",
                envelope: flipping(small, at: 8, mask: 0x03)),
            failure(
                "envelope-chunk-size-changed", "unsupported-parameters", "the chunk size byte says 2^17",
                envelope: flipping(small, at: 9)),
            failure(
                "envelope-unknown-flag", "unsupported-parameters", "header flag bit 1 set",
                envelope: flipping(small, at: 10, mask: 0x02)),
            failure(
                "envelope-password-flag-forged", "password-required",
                "the password flag set on an envelope sealed without one (no password given)",
                envelope: flipping(small, at: 10)),
            failure(
                "envelope-flipped-nonce-prefix", "integrity", "one bit of the nonce prefix changed",
                envelope: flipping(small, at: 11 + 5)),
            failure(
                "envelope-flipped-tag", "integrity", "one bit of the first chunk's tag changed",
                envelope: flipping(small, at: h + 3)),
            failure(
                "envelope-flipped-chunk-0", "integrity", "one bit in the body of chunk 0 of 3",
                envelope: flipping(threeChunks, at: chunkRange(0, in: threeChunks).lowerBound + 40_000)),
            failure(
                "envelope-flipped-chunk-1", "integrity", "one bit in the body of chunk 1 of 3",
                envelope: flipping(threeChunks, at: chunkRange(1, in: threeChunks).lowerBound + 100)),
            failure(
                "envelope-flipped-chunk-2", "integrity", "one bit in the last byte of the final chunk",
                envelope: flipping(threeChunks, at: threeChunks.count - 1, mask: 0x80)),
            failure(
                "envelope-wrong-key", "integrity", "a valid envelope opened with another link key",
                envelope: small, key: otherLinkKey),
            failure(
                "envelope-wrong-password", "integrity",
                "a password envelope opened with the wrong password's key",
                envelope: seal(
                    Array("the vault code is 4711".utf8), text,
                    passwordKey: try! kdf.deriveKey(password: KDFParameters.passwordBytes("Tr0ub4dor&3"))),
                withPassword: true),
            failure(
                "envelope-password-missing", "password-required",
                "a password envelope opened without a password", envelope: protected),
            failure(
                "envelope-password-unexpected", "no-password-expected",
                "an envelope without a password opened with one", envelope: small, withPassword: true),
            failure(
                "envelope-kdf-ops-too-high", "bad-kdf-parameters",
                "ops=11 is above the cap of 10: refused before any work", envelope: protected,
                withPassword: true, kdfText: "argon2id13; ops=11; mem=8192; salt=\(Base64URL.encode(kdf.salt))"),
            failure(
                "envelope-kdf-memory-too-high", "bad-kdf-parameters",
                "mem=2 GiB is above the cap of 1 GiB: refused before any work", envelope: protected,
                withPassword: true, kdfText: "argon2id13; ops=3; mem=2147483648; salt=\(Base64URL.encode(kdf.salt))"),
            failure(
                "envelope-kdf-other-algorithm", "bad-kdf-parameters", "an algorithm other than argon2id13",
                envelope: protected, withPassword: true,
                kdfText: "argon2i13; ops=3; mem=8192; salt=\(Base64URL.encode(kdf.salt))"),
            failure(
                "envelope-metadata-unknown-kind", "invalid-metadata", "inner metadata kind 3",
                envelope: seal(content(10), streamPrefix: [3, 0, 0, 0])),
            failure(
                "envelope-metadata-slash-in-name", "invalid-metadata", "a file name with a path separator",
                envelope: seal(content(10), streamPrefix: [2, 0, 0, 6] + Array("../etc".utf8))),
            failure(
                "envelope-metadata-bidi-in-name", "invalid-metadata",
                "a file name with U+202E RIGHT-TO-LEFT OVERRIDE ('invoice<RLO>fdp.exe' shows as 'invoiceexe.pdf')",
                envelope: seal(content(10), streamPrefix: [2, 0, 0, 17] + Array("invoice\u{202E}fdp.exe".utf8))),
            failure(
                "envelope-metadata-text-with-name", "invalid-metadata", "text that carries a file name",
                envelope: seal(content(10), streamPrefix: [1, 0, 0, 1, 0x61])),
            failure(
                "envelope-metadata-size-mismatch", "invalid-metadata",
                "the declared size (11) differs from the content (10 bytes)",
                envelope: seal(content(10), streamPrefix: [1, 1] + [0, 0, 0, 0, 0, 0, 0, 11] + [0, 0])),
            failure(
                "envelope-metadata-cut", "invalid-metadata", "the whole stream is shorter than its metadata",
                envelope: seal([], streamPrefix: [2, 0, 0, 200] + Array("short".utf8))),
            failure(
                "envelope-short-foreign-bytes", "not-an-envelope",
                "four bytes that do not begin the magic: foreign data, not a cut envelope",
                envelope: Array("BURN".utf8)),
            failure(
                "envelope-short-magic-prefix", "truncated", "the first four bytes of the magic and nothing else",
                envelope: Array("burn".utf8)),
            failure(
                "envelope-not-an-envelope", "not-an-envelope", "a text file, not an envelope",
                envelope: Array("-----BEGIN PGP MESSAGE-----\n\nhQEMA...\n".utf8)),
        ]
        return list
    }

    private static func metadataPrefixed(_ content: [UInt8]) -> [UInt8] {
        InnerMetadata.text().encoded() + content
    }
}
