import Testing

@_spi(Fuzzing) @testable import BurnlinkCore

/// Feeds `bytes` to `feed` in pieces of random sizes (1 byte up to a few chunks).
func feedInPieces(_ bytes: [UInt8], using generator: inout SeededGenerator, _ feed: (ArraySlice<UInt8>) throws -> Void) rethrows {
    var offset = 0
    while offset < bytes.count {
        let limit = [1, 100, Envelope.chunkSize, 3 * Envelope.sealedChunkSize].randomElement(using: &generator)!
        let end = min(bytes.count, offset + Int.random(in: 1...limit, using: &generator))
        try feed(bytes[offset..<end])
        offset = end
    }
}

func sealStreaming(
    _ content: [UInt8], metadata: InnerMetadata, linkKey: SecretBytes, passwordKey: SecretBytes? = nil,
    generator: inout SeededGenerator
) -> [UInt8] {
    let sealer = EnvelopeSealer(linkKey: linkKey, passwordKey: passwordKey, metadata: metadata)
    var envelope: [UInt8] = []
    feedInPieces(content, using: &generator) { envelope += sealer.update($0) }
    return envelope + sealer.finish()
}

func openStreaming(
    _ envelope: [UInt8], linkKey: SecretBytes, passwordKey: SecretBytes? = nil,
    generator: inout SeededGenerator
) throws(BurnlinkError) -> (InnerMetadata?, [UInt8]) {
    let opener = EnvelopeOpener(linkKey: linkKey, passwordKey: passwordKey)
    var content: [UInt8] = []
    do {
        try feedInPieces(envelope, using: &generator) { content += try opener.update($0) }
    } catch let error as BurnlinkError {
        throw error
    } catch {
        fatalError("unexpected error \(error)")
    }
    content += try opener.finish()
    return (opener.metadata, content)
}

/// Opens in one piece; returns the error code, or nil when it opened.
func openErrorCode(_ envelope: [UInt8], linkKey: SecretBytes) -> String? {
    let opener = EnvelopeOpener(linkKey: linkKey)
    do {
        _ = try opener.update(envelope)
        _ = try opener.finish()
        return nil
    } catch {
        return error.code
    }
}

@Suite("Streaming envelope")
struct EnvelopeTests {
    static let chunk = Envelope.chunkSize
    /// Content sizes around every boundary: the stream (4 bytes of text metadata + content)
    /// one short of, equal to and one past one, two and three chunks.
    static let boundarySizes: [Int] = {
        var sizes = [0, 1, 2, 100, 5 * chunk + 12_345]
        for n in 1...3 {
            sizes += [n * chunk - 5, n * chunk - 4, n * chunk - 3]
        }
        return sizes
    }()

    @Test(
        "decrypt(encrypt(x)) == x for sizes around chunk boundaries, fed in random pieces",
        arguments: boundarySizes)
    func roundTrip(size: Int) throws {
        var generator = SeededGenerator(seed: UInt64(size) &+ 1)
        let content = generator.bytes(size)
        let key = KeySchedule.newLinkKey()
        let envelope = sealStreaming(content, metadata: .text(), linkKey: key, generator: &generator)
        #expect(envelope.count == Envelope.sealedCount(contentCount: size, metadata: .text()))
        let (metadata, opened) = try openStreaming(envelope, linkKey: key, generator: &generator)
        #expect(metadata == .text())
        #expect(opened == content)
    }

    @Test("random files with names, declared sizes and passwords round-trip")
    func randomRoundTrips() throws {
        var generator = SeededGenerator(seed: 2026)
        let kdf = try KDFParameters(ops: 1, memory: 8192, salt: [UInt8](repeating: 1, count: 16))
        let passwordKey = try kdf.deriveKey(password: KDFParameters.passwordBytes("pässwörd"))
        for round in 0..<20 {
            let size = Int.random(in: 0...(3 * Self.chunk), using: &generator)
            let content = generator.bytes(size)
            let name = "file-\(round)-\(String(repeating: "é", count: round)).bin"
            let metadata = try InnerMetadata.file(name: name, size: round.isMultiple(of: 2) ? UInt64(size) : nil)
            let key = KeySchedule.newLinkKey()
            let password = round.isMultiple(of: 3) ? passwordKey : nil
            let envelope = sealStreaming(content, metadata: metadata, linkKey: key, passwordKey: password, generator: &generator)
            let (opened, plain) = try openStreaming(envelope, linkKey: key, passwordKey: password, generator: &generator)
            #expect(opened == metadata)
            #expect(plain == content)
        }
    }

    @Test("every single-bit change of a small envelope is rejected")
    func everyBitFlipFails() {
        let key = KeySchedule.newLinkKey()
        let sealer = EnvelopeSealer(linkKey: key, metadata: .text())
        let envelope = sealer.update(Array("correct horse".utf8)) + sealer.finish()
        var accepted: [Int] = []
        for offset in envelope.indices {
            for bit in 0..<8 {
                var changed = envelope
                changed[offset] ^= 1 << bit
                if openErrorCode(changed, linkKey: key) == nil { accepted.append(offset * 8 + bit) }
            }
        }
        #expect(accepted.isEmpty, "bit positions accepted after a flip: \(accepted)")
        #expect(openErrorCode(envelope, linkKey: key) == nil)
    }

    @Test("byte changes across a multi-chunk envelope are rejected")
    func multiChunkChangesFail() {
        var generator = SeededGenerator(seed: 7)
        let key = KeySchedule.newLinkKey()
        let sealer = EnvelopeSealer(linkKey: key, metadata: .text())
        let envelope = sealer.update([UInt8](repeating: 0x41, count: 2 * Self.chunk + 500)) + sealer.finish()
        // The header, both ends of every sealed chunk, and random places in between.
        var offsets = Set(0..<Envelope.headerCount)
        for index in 0..<3 {
            let start = Envelope.headerCount + index * Envelope.sealedChunkSize
            offsets.formUnion((start..<start + 20).filter { $0 < envelope.count })
            offsets.formUnion(
                (max(
                    start, min(start + Envelope.sealedChunkSize, envelope.count) - 20)..<min(
                        start + Envelope.sealedChunkSize, envelope.count)))
        }
        for _ in 0..<100 { offsets.insert(Int.random(in: 0..<envelope.count, using: &generator)) }
        for offset in offsets.sorted() {
            var changed = envelope
            changed[offset] ^= UInt8.random(in: 1...255, using: &generator)
            #expect(openErrorCode(changed, linkKey: key) != nil, "change at \(offset) accepted")
        }
    }

    @Test("every truncation and every extension of an envelope is rejected")
    func truncationsAndExtensionsFail() {
        let key = KeySchedule.newLinkKey()
        let sealer = EnvelopeSealer(linkKey: key, metadata: .text())
        let envelope = sealer.update([UInt8](repeating: 0x42, count: Self.chunk)) + sealer.finish()
        let boundary = Envelope.headerCount + Envelope.sealedChunkSize
        var cuts = Array(0..<200) + Array(boundary - 50...boundary + 20) + Array(envelope.count - 40..<envelope.count)
        cuts = cuts.filter { $0 < envelope.count }
        for cut in cuts {
            #expect(openErrorCode(Array(envelope.prefix(cut)), linkKey: key) != nil, "cut at \(cut) accepted")
        }
        #expect(openErrorCode(Array(envelope.prefix(boundary)), linkKey: key) == "truncated")
        #expect(openErrorCode(Array(envelope.prefix(Envelope.headerCount)), linkKey: key) == "truncated")
        #expect(openErrorCode(Array(envelope.prefix(4)), linkKey: key) == "truncated")
        for extra in [1, 15, 16, 17, 1000] {
            #expect(openErrorCode(envelope + [UInt8](repeating: 0, count: extra), linkKey: key) == "integrity")
        }
    }

    @Test("after an error the opener keeps refusing and releases nothing more")
    func openerStaysFailed() throws {
        let key = KeySchedule.newLinkKey()
        let sealer = EnvelopeSealer(linkKey: key, metadata: .text())
        var envelope = sealer.update([UInt8](repeating: 1, count: 3 * Self.chunk)) + sealer.finish()
        envelope[Envelope.headerCount + 100] ^= 1
        let opener = EnvelopeOpener(linkKey: key)
        #expect(throws: BurnlinkError.integrityFailure) { _ = try opener.update(envelope) }
        #expect(throws: BurnlinkError.integrityFailure) { _ = try opener.update([1, 2, 3]) }
        #expect(throws: BurnlinkError.integrityFailure) { _ = try opener.finish() }
    }

    @Test("content is released chunk by chunk, and metadata as soon as chunk 0 opens")
    func releasesIncrementally() throws {
        let key = KeySchedule.newLinkKey()
        let metadata = try InnerMetadata.file(name: "big.bin", size: UInt64(3 * Self.chunk))
        let sealer = EnvelopeSealer(linkKey: key, metadata: metadata)
        let envelope = sealer.update([UInt8](repeating: 9, count: 3 * Self.chunk)) + sealer.finish()
        let opener = EnvelopeOpener(linkKey: key)
        // The header plus chunk 0 plus one more byte: chunk 0 is known not to be final.
        let first = try opener.update(envelope.prefix(Envelope.headerCount + Envelope.sealedChunkSize + 1))
        #expect(opener.metadata == metadata)
        #expect(first.count == Self.chunk - metadata.encoded().count)
        #expect(first.allSatisfy { $0 == 9 })
    }

    @Test("a declared size that differs from the content is refused")
    func declaredSizeChecked() {
        let key = KeySchedule.newLinkKey()
        for (declared, actual) in [(10, 9), (10, 11), (0, 1), (UInt64(Self.chunk), Self.chunk + 1)] as [(UInt64, Int)] {
            let sealer = EnvelopeSealer(linkKey: key, metadata: .text(size: declared))
            let envelope = sealer.update([UInt8](repeating: 0, count: actual)) + sealer.finish()
            #expect(openErrorCode(envelope, linkKey: key) == "invalid-metadata", "declared \(declared), actual \(actual)")
        }
    }

    @Test("the header fields are as the spec lays them out")
    func headerLayout() {
        let key = KeySchedule.newLinkKey()
        let plain = EnvelopeSealer(linkKey: key, metadata: .text()).finish()
        #expect(Array(plain.prefix(8)) == Array("burnlink".utf8))
        #expect(plain[8] == 1)
        #expect(plain[9] == 16)
        #expect(plain[10] == 0)
        let passwordKey = SecretBytes.random(count: 32)
        let protected = EnvelopeSealer(linkKey: key, passwordKey: passwordKey, metadata: .text()).finish()
        #expect(protected[10] == 1)
        // Two envelopes of the same secret never share a nonce prefix.
        let again = EnvelopeSealer(linkKey: key, metadata: .text()).finish()
        #expect(plain[11..<27] != again[11..<27])
    }
}

@Suite("Inner metadata")
struct InnerMetadataTests {
    @Test(
        "acceptable file names",
        arguments: ["a", "report.pdf", "résumé €.txt", ".env", "..a", "a b", String(repeating: "x", count: 255)])
    func acceptsName(name: String) throws {
        let metadata = try InnerMetadata.file(name: name, size: 3)
        let encoded = metadata.encoded()
        let (decoded, length) = try encoded.withUnsafeBytes { try InnerMetadata.decode($0) }
        #expect(decoded == metadata)
        #expect(length == encoded.count)
    }

    @Test(
        "refused file names",
        arguments: [
            "", ".", "..", "a/b", "/etc/passwd", "a\\b", "a\u{0}b", "line\nbreak",
            "tab\t", "del\u{7f}", "c1\u{85}", String(repeating: "x", count: 256),
            String(repeating: "é", count: 128),
        ])
    func refusesName(name: String) {
        #expect(throws: BurnlinkError.self) { try InnerMetadata.file(name: name, size: nil) }
    }

    @Test("invalid UTF-8 in a name is refused")
    func refusesInvalidUTF8() {
        #expect(InnerMetadata.fileNameProblem([0x61, 0xFF, 0x62]) != nil)
        #expect(InnerMetadata.fileNameProblem([0xC3]) != nil)
    }

    @Test("the encoding is kind, flags, optional size, name length, name")
    func encoding() throws {
        #expect(InnerMetadata.text().encoded() == [1, 0, 0, 0])
        #expect(InnerMetadata.text(size: 258).encoded() == [1, 1, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0])
        #expect(try InnerMetadata.file(name: "ab", size: nil).encoded() == [2, 0, 0, 2, 0x61, 0x62])
    }
}
