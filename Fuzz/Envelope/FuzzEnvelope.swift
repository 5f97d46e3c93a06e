@_spi(Fuzzing) import BurnlinkCore
import FuzzSupport

/// Envelope decoding (docs/format.md section 3): header, chunk framing, inner metadata.
///
/// Input: a mode byte, a byte that sets how the stream is cut into `update` calls, then data.
///   mode 0, 1  the data is an envelope from the network, opened with the test key (1: and a
///              password key). Seeds are the vector files, so the fuzzer starts from real chunks.
///   mode 2     the data is chunk 0's plaintext (inner metadata, then content), sealed
///              correctly, so the metadata decoder sees arbitrary bytes behind a valid tag.
///   mode 3     the data is text content, sealed; then one byte of the envelope is changed
///              at a position the data picks. Opening must fail.
private let linkKey = SecretBytes(copying: (0..<32).map { UInt8($0) })  // the vectors' key
private let passwordKey = SecretBytes(copying: [UInt8](repeating: 0x5A, count: 32))
private let noncePrefix = [UInt8](repeating: 0xA5, count: Envelope.noncePrefixCount)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = Fuzz.bytes(data, size)
    guard input.count >= 2 else { return 0 }
    let piece = 1 << (Int(input[1]) % 18)  // 1 byte up to two sealed chunks; tiny pieces are rare, as they are slow
    let body = Array(input.dropFirst(2))
    switch input[0] % 4 {
    case 0, 1:
        let opener = EnvelopeOpener(linkKey: linkKey, passwordKey: input[0] % 4 == 1 ? passwordKey : nil)
        if case .success(let content) = open(body, with: opener, piece: piece),
           let declared = opener.metadata?.contentSize {
            Fuzz.check(UInt64(content.count) == declared, "content of another size than declared released")
        }
    case 2:
        // The sealer takes 1 byte to one chunk of chunk 0 plaintext.
        guard !body.isEmpty, body.count <= Envelope.chunkSize else { return 0 }
        let sealer = EnvelopeSealer(linkKey: linkKey, passwordKey: nil, streamPrefix: body, noncePrefix: noncePrefix)
        let envelope = sealer.finish()
        let opener = EnvelopeOpener(linkKey: linkKey)
        switch open(envelope, with: opener, piece: piece) {
        case .success(let content):
            let metadata = opener.metadata!
            Fuzz.check(metadata.encoded() + content == body, "metadata decoding is not the inverse of encoding")
            if let declared = metadata.contentSize {
                Fuzz.check(UInt64(content.count) == declared, "content of another size than declared released")
            }
        case .failure(let error):
            guard case .invalidMetadata = error else {
                Fuzz.check(false, "a correctly sealed envelope failed with \(error.code), not invalid metadata")
                return 0
            }
        }
    default:
        guard body.count >= 3 else { return 0 }
        let content = Array(body.dropFirst(3))
        let sealer = EnvelopeSealer(linkKey: linkKey, metadata: .text(size: UInt64(content.count)))
        let envelope = sealer.update(content) + sealer.finish()
        Fuzz.check(try! open(envelope, with: EnvelopeOpener(linkKey: linkKey), piece: piece).get() == content,
                   "an envelope does not open to its content")
        var changed = envelope
        let position = (Int(body[0]) << 8 | Int(body[1])) % changed.count
        changed[position] ^= body[2] == 0 ? 1 : body[2]
        if case .success = open(changed, with: EnvelopeOpener(linkKey: linkKey), piece: piece) {
            Fuzz.check(false, "an envelope with one byte changed at \(position) opened")
        }
    }
    return 0
}

/// Feeds `envelope` to `opener` in pieces of `piece` bytes, then finishes.
private func open(_ envelope: [UInt8], with opener: EnvelopeOpener, piece: Int) -> Result<[UInt8], BurnlinkError> {
    Result { () throws(BurnlinkError) in
        var content: [UInt8] = []
        var offset = 0
        while offset < envelope.count {
            let end = min(offset + piece, envelope.count)
            content += try opener.update(Array(envelope[offset..<end]))
            offset = end
        }
        content += try opener.finish()
        return content
    }
}

@main
struct Main {
    static func main() {
        Fuzz.main(fuzzEnvelope)
    }
}
