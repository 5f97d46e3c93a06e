import CSodium

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Constants and the header of the version 1 envelope (docs/format.md section 3).
public enum Envelope {
    public static let magic = Array("burnlink".utf8)
    public static let version: UInt8 = 1
    static let chunkSizeLog2: UInt8 = 16
    static let passwordFlag: UInt8 = 0x01
    public static let noncePrefixCount = 16
    public static let headerCount = magic.count + 3 + noncePrefixCount
    /// Plaintext bytes per chunk.
    public static let chunkSize = 1 << Int(chunkSizeLog2)
    public static let tagCount = Int(crypto_secretbox_MACBYTES)
    public static let sealedChunkSize = chunkSize + tagCount

    /// Size of the envelope that carries `contentCount` bytes with `metadata`, known before
    /// sealing, so a client can check a server's size limit before uploading.
    public static func sealedCount(contentCount: Int, metadata: InnerMetadata) -> Int {
        let stream = metadata.encoded().count + contentCount
        let chunks = (stream + chunkSize - 1) / chunkSize
        return headerCount + stream + chunks * tagCount
    }

    static func makeHeader(passwordProtected: Bool, noncePrefix: [UInt8]) -> [UInt8] {
        precondition(noncePrefix.count == noncePrefixCount)
        return magic + [version, chunkSizeLog2, passwordProtected ? passwordFlag : 0] + noncePrefix
    }

    /// Checks as much of a header as `bytes` holds, field by field in order, so a short or
    /// foreign input gets the most precise error.
    static func validateHeader(_ bytes: [UInt8]) throws(BurnlinkError) {
        let magicPart = bytes.prefix(magic.count)
        guard magicPart.elementsEqual(magic.prefix(magicPart.count)) else { throw .notAnEnvelope }
        if bytes.count > 8, bytes[8] != version { throw .unsupportedVersion(bytes[8]) }
        if bytes.count > 9, bytes[9] != chunkSizeLog2 {
            throw .unsupportedParameters("chunk size 2^\(bytes[9])")
        }
        if bytes.count > 10, bytes[10] & ~passwordFlag != 0 {
            throw .unsupportedParameters("unknown header flags")
        }
    }

    /// Chunk nonce: prefix(16) || uint56_be(counter) || final flag.
    static func nonce(prefix: [UInt8], counter: UInt64, final: Bool) -> [UInt8] {
        precondition(counter < 1 << 56, "chunk counter overflow")
        var nonce = prefix
        for shift in stride(from: 48, through: 0, by: -8) {
            nonce.append(UInt8(truncatingIfNeeded: counter >> UInt64(shift)))
        }
        nonce.append(final ? 1 : 0)
        return nonce
    }
}

/// Streaming encryption: feed plaintext in pieces of any size, get the envelope out in
/// pieces. Memory stays at one chunk whatever the input size.
///
/// Output starts with the header. A full chunk is sealed only once the next byte has
/// arrived (or `finish` is called), because the last chunk carries the final flag.
public final class EnvelopeSealer {
    private let payloadKey: SecretBytes
    private let noncePrefix: [UInt8]
    private var pendingHeader: [UInt8]
    /// Plaintext waiting for its chunk to fill; wiped after use.
    private let pending: UnsafeMutableRawBufferPointer
    private var pendingCount = 0
    private var counter: UInt64 = 0
    private var finished = false

    public convenience init(linkKey: SecretBytes, passwordKey: SecretBytes? = nil, metadata: InnerMetadata) {
        self.init(
            linkKey: linkKey, passwordKey: passwordKey, metadata: metadata,
            noncePrefix: Sodium.randomBytes(count: Envelope.noncePrefixCount))
    }

    /// With a chosen nonce prefix: for known-answer vectors only, never for real secrets.
    convenience init(linkKey: SecretBytes, passwordKey: SecretBytes?, metadata: InnerMetadata, noncePrefix: [UInt8]) {
        self.init(linkKey: linkKey, passwordKey: passwordKey, streamPrefix: metadata.encoded(), noncePrefix: noncePrefix)
    }

    /// With raw bytes in place of encoded metadata: lets negative vectors carry metadata
    /// that breaks the rules. SPI so the fuzz targets can reach the metadata decoder.
    @_spi(Fuzzing) public init(linkKey: SecretBytes, passwordKey: SecretBytes?, streamPrefix: [UInt8], noncePrefix: [UInt8]) {
        precondition(!streamPrefix.isEmpty && streamPrefix.count <= Envelope.chunkSize)
        let header = Envelope.makeHeader(passwordProtected: passwordKey != nil, noncePrefix: noncePrefix)
        self.payloadKey = KeySchedule.payloadKey(linkKey: linkKey, passwordKey: passwordKey, header: header)
        self.noncePrefix = noncePrefix
        self.pendingHeader = header
        self.pending = .allocate(byteCount: Envelope.chunkSize, alignment: 16)
        pending.copyBytes(from: streamPrefix)
        pendingCount = streamPrefix.count
    }

    deinit {
        Sodium.wipe(pending)
        pending.deallocate()
    }

    /// The most bytes `update` can write for `inputCount` more bytes of plaintext.
    public func maximumUpdateOutput(inputCount: Int) -> Int {
        pendingHeader.count + (pendingCount + inputCount) / Envelope.chunkSize * Envelope.sealedChunkSize
    }

    /// The most bytes `finish` can write.
    public var maximumFinishOutput: Int {
        pendingHeader.count + pendingCount + Envelope.tagCount
    }

    /// Encrypts what it can of `plaintext` into `output` (at least `maximumUpdateOutput`
    /// bytes) and returns how many bytes it wrote.
    public func update(_ plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(!finished, "update after finish")
        precondition(output.count >= maximumUpdateOutput(inputCount: plaintext.count), "output too small")
        var written = takeHeader(into: output)
        var input = plaintext
        while !input.isEmpty {
            if pendingCount == Envelope.chunkSize {
                // More input follows, so the pending chunk is not the last.
                written += seal(UnsafeRawBufferPointer(pending), final: false, into: output, at: written)
                pendingCount = 0
            }
            if pendingCount == 0 && input.count > Envelope.chunkSize {
                // Seal straight from the caller's buffer: no copy for all but the tail.
                written += seal(
                    UnsafeRawBufferPointer(rebasing: input.prefix(Envelope.chunkSize)),
                    final: false, into: output, at: written)
                input = UnsafeRawBufferPointer(rebasing: input.dropFirst(Envelope.chunkSize))
                continue
            }
            let take = min(Envelope.chunkSize - pendingCount, input.count)
            (pending.baseAddress! + pendingCount).copyMemory(from: input.baseAddress!, byteCount: take)
            pendingCount += take
            input = UnsafeRawBufferPointer(rebasing: input.dropFirst(take))
        }
        return written
    }

    /// Seals the final chunk. No more input is accepted afterwards.
    public func finish(into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(!finished, "finish called twice")
        precondition(output.count >= maximumFinishOutput, "output too small")
        var written = takeHeader(into: output)
        // Metadata is at least 4 bytes, so the final chunk is never empty.
        written += seal(
            UnsafeRawBufferPointer(rebasing: pending.prefix(pendingCount)), final: true,
            into: output, at: written)
        Sodium.wipe(pending)
        pendingCount = 0
        finished = true
        return written
    }

    /// Convenience over `update` for callers holding plaintext in an array.
    public func update(_ plaintext: some ContiguousBytes) -> [UInt8] {
        plaintext.withUnsafeBytes { input in
            [UInt8](unsafeUninitializedCapacity: maximumUpdateOutput(inputCount: input.count)) { buffer, count in
                count = update(input, into: UnsafeMutableRawBufferPointer(buffer))
            }
        }
    }

    public func finish() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maximumFinishOutput) { buffer, count in
            count = finish(into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    private func takeHeader(into output: UnsafeMutableRawBufferPointer) -> Int {
        guard !pendingHeader.isEmpty else { return 0 }
        output.copyBytes(from: pendingHeader)
        defer { pendingHeader = [] }
        return pendingHeader.count
    }

    private func seal(
        _ chunk: UnsafeRawBufferPointer, final: Bool,
        into output: UnsafeMutableRawBufferPointer, at offset: Int
    ) -> Int {
        let nonce = Envelope.nonce(prefix: noncePrefix, counter: counter, final: final)
        counter += 1
        return SecretBox.seal(chunk, nonce: nonce, key: payloadKey, into: output.baseAddress! + offset)
    }
}

/// Streaming decryption: feed the envelope in pieces of any size, get authenticated
/// content out in pieces. Each released piece has been verified; the content is complete
/// only once `finish` returns without throwing. After any error every call throws it again.
public final class EnvelopeOpener {
    private let linkKey: SecretBytes
    private let passwordKey: SecretBytes?
    private var header: [UInt8] = []
    private var payloadKey: SecretBytes?
    private var noncePrefix: [UInt8] = []
    /// Sealed bytes waiting until it is known whether they form the final chunk.
    private let pending: UnsafeMutableRawBufferPointer
    private var pendingCount = 0
    private var counter: UInt64 = 0
    private var contentCount: UInt64 = 0
    private var failure: BurnlinkError?
    private var finished = false

    /// The inner metadata, known once chunk 0 has been opened.
    public private(set) var metadata: InnerMetadata?

    public init(linkKey: SecretBytes, passwordKey: SecretBytes? = nil) {
        self.linkKey = linkKey
        self.passwordKey = passwordKey
        self.pending = .allocate(byteCount: Envelope.sealedChunkSize, alignment: 16)
    }

    deinit {
        pending.deallocate()
    }

    /// The most content bytes `update` can write for `inputCount` more envelope bytes.
    public func maximumUpdateOutput(inputCount: Int) -> Int {
        (pendingCount + inputCount) / Envelope.sealedChunkSize * Envelope.chunkSize
    }

    public var maximumFinishOutput: Int { Envelope.chunkSize }

    /// Opens every chunk of `sealed` that is known not to be the last; writes their
    /// content to `output` (at least `maximumUpdateOutput` bytes) and returns the count.
    public func update(_ sealed: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws(BurnlinkError) -> Int
    {
        try checkUsable()
        precondition(output.count >= maximumUpdateOutput(inputCount: sealed.count), "output too small")
        do throws(BurnlinkError) {
            var input = try consumeHeader(sealed)
            var written = 0
            while !input.isEmpty {
                if pendingCount == Envelope.sealedChunkSize {
                    written += try open(UnsafeRawBufferPointer(pending), final: false, into: output, at: written)
                    pendingCount = 0
                }
                if pendingCount == 0 && input.count > Envelope.sealedChunkSize {
                    written += try open(
                        UnsafeRawBufferPointer(rebasing: input.prefix(Envelope.sealedChunkSize)),
                        final: false, into: output, at: written)
                    input = UnsafeRawBufferPointer(rebasing: input.dropFirst(Envelope.sealedChunkSize))
                    continue
                }
                let take = min(Envelope.sealedChunkSize - pendingCount, input.count)
                (pending.baseAddress! + pendingCount).copyMemory(from: input.baseAddress!, byteCount: take)
                pendingCount += take
                input = UnsafeRawBufferPointer(rebasing: input.dropFirst(take))
            }
            return written
        } catch {
            failure = error
            throw error
        }
    }

    /// Opens the final chunk and checks the whole stream. Only after this returns is the
    /// content known to be complete.
    public func finish(into output: UnsafeMutableRawBufferPointer) throws(BurnlinkError) -> Int {
        try checkUsable()
        precondition(output.count >= maximumFinishOutput, "output too small")
        do throws(BurnlinkError) {
            if header.count < Envelope.headerCount {
                try Envelope.validateHeader(header)
                throw .truncated
            }
            guard pendingCount > Envelope.tagCount else { throw .truncated }
            let last = UnsafeRawBufferPointer(rebasing: pending.prefix(pendingCount))
            let written: Int
            do {
                written = try open(last, final: true, into: output, at: 0)
            } catch .integrityFailure where pendingCount == Envelope.sealedChunkSize {
                // A full chunk that opens as non-final means the stream was cut at a boundary.
                if (try? open(last, final: false, into: output, at: 0)) != nil {
                    Sodium.wipe(UnsafeMutableRawBufferPointer(rebasing: output.prefix(Envelope.chunkSize)))
                    throw .truncated
                }
                throw .integrityFailure
            }
            if let declared = metadata?.contentSize, declared != contentCount {
                Sodium.wipe(UnsafeMutableRawBufferPointer(rebasing: output.prefix(written)))
                throw .invalidMetadata("content is \(contentCount) bytes, \(declared) declared")
            }
            finished = true
            return written
        } catch {
            failure = error
            throw error
        }
    }

    /// Convenience over `update` for callers holding the envelope in an array.
    public func update(_ sealed: some ContiguousBytes) throws(BurnlinkError) -> [UInt8] {
        let result = sealed.withUnsafeBytes { input in
            Result { () throws(BurnlinkError) in
                var output = [UInt8](repeating: 0, count: maximumUpdateOutput(inputCount: input.count))
                let result = output.withUnsafeMutableBytes { buffer in
                    Result { () throws(BurnlinkError) in try update(input, into: buffer) }
                }
                output.removeSubrange(try result.get()...)
                return output
            }
        }
        return try result.get()
    }

    public func finish() throws(BurnlinkError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: maximumFinishOutput)
        let result = output.withUnsafeMutableBytes { buffer in
            Result { () throws(BurnlinkError) in try finish(into: buffer) }
        }
        output.removeSubrange(try result.get()...)
        return output
    }

    private func checkUsable() throws(BurnlinkError) {
        if let failure { throw failure }
        precondition(!finished, "opener used after finish")
    }

    /// Takes header bytes from the front of `input` until the header is complete, then
    /// derives the payload key; returns what is left of `input`.
    private func consumeHeader(_ input: UnsafeRawBufferPointer) throws(BurnlinkError) -> UnsafeRawBufferPointer {
        guard header.count < Envelope.headerCount else { return input }
        let take = min(Envelope.headerCount - header.count, input.count)
        header.append(contentsOf: input.prefix(take))
        try Envelope.validateHeader(header)
        if header.count == Envelope.headerCount {
            let protected = header[10] & Envelope.passwordFlag != 0
            if protected && passwordKey == nil { throw .passwordRequired }
            if !protected && passwordKey != nil { throw .noPasswordExpected }
            noncePrefix = Array(header.suffix(Envelope.noncePrefixCount))
            payloadKey = KeySchedule.payloadKey(linkKey: linkKey, passwordKey: passwordKey, header: header)
        }
        return UnsafeRawBufferPointer(rebasing: input.dropFirst(take))
    }

    private func open(
        _ chunk: UnsafeRawBufferPointer, final: Bool,
        into output: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws(BurnlinkError) -> Int {
        guard let payloadKey, chunk.count > Envelope.tagCount else { throw .truncated }
        let nonce = Envelope.nonce(prefix: noncePrefix, counter: counter, final: final)
        let target = output.baseAddress! + offset
        guard let plainCount = SecretBox.open(chunk, nonce: nonce, key: payloadKey, into: target) else {
            throw .integrityFailure
        }
        counter += 1
        var contentStart = 0
        if metadata == nil {
            let plain = UnsafeMutableRawBufferPointer(start: target, count: plainCount)
            do {
                let (parsed, length) = try InnerMetadata.decode(UnsafeRawBufferPointer(plain))
                metadata = parsed
                contentStart = length
            } catch {
                Sodium.wipe(plain)
                throw error
            }
            // Move the content down over the metadata, then wipe the stale tail.
            let contentCount = plainCount - contentStart
            target.copyMemory(from: target + contentStart, byteCount: contentCount)
            Sodium.wipe(UnsafeMutableRawBufferPointer(start: target + contentCount, count: contentStart))
        }
        let released = plainCount - contentStart
        contentCount += UInt64(released)
        if let declared = metadata?.contentSize, contentCount > declared {
            Sodium.wipe(UnsafeMutableRawBufferPointer(start: target, count: released))
            throw .invalidMetadata("content is longer than the \(declared) bytes declared")
        }
        return released
    }
}

/// `crypto_secretbox_easy` and its inverse over raw buffers: tag (16 bytes) then ciphertext.
enum SecretBox {
    /// Writes `message.count + tagCount` bytes to `output`; returns that count.
    static func seal(
        _ message: UnsafeRawBufferPointer, nonce: [UInt8], key: SecretBytes,
        into output: UnsafeMutableRawPointer
    ) -> Int {
        Sodium.ensureReady()
        precondition(nonce.count == Int(crypto_secretbox_NONCEBYTES) && key.count == Int(crypto_secretbox_KEYBYTES))
        key.withUnsafeBytes { keyBytes in
            _ = crypto_secretbox_easy(
                output.assumingMemoryBound(to: UInt8.self),
                message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                nonce, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return message.count + Envelope.tagCount
    }

    /// Writes `box.count - tagCount` bytes to `output` and returns that count, or nil
    /// (writing nothing) when the box does not authenticate.
    static func open(
        _ box: UnsafeRawBufferPointer, nonce: [UInt8], key: SecretBytes,
        into output: UnsafeMutableRawPointer
    ) -> Int? {
        Sodium.ensureReady()
        precondition(nonce.count == Int(crypto_secretbox_NONCEBYTES) && key.count == Int(crypto_secretbox_KEYBYTES))
        guard box.count >= Envelope.tagCount else { return nil }
        let status = key.withUnsafeBytes { keyBytes in
            crypto_secretbox_open_easy(
                output.assumingMemoryBound(to: UInt8.self),
                box.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(box.count),
                nonce, keyBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return status == 0 ? box.count - Envelope.tagCount : nil
    }
}
