// Envelope throughput beside raw crypto_secretbox_easy on 64 KiB chunks, in one run.
// Usage: burnlink-bench-core [MiB] [rounds] [piece KiB]
//   defaults: 1024 MiB, 3 rounds (the best counts), 1024 KiB pieces fed to the envelope
import BurnlinkCore
import CSodium  // only for the raw secretbox baseline
import Foundation

let totalMiB = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1024 : 1024
let rounds = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 3 : 3
let pieceSize = 1 << 20  // the raw baseline's input buffer
let envelopePiece = (CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3]) ?? 1024 : 1024) * 1024
precondition(totalMiB * pieceSize % envelopePiece == 0, "piece size must divide the total")
let chunkSize = Envelope.chunkSize
let totalBytes = totalMiB * pieceSize

precondition(sodium_init() >= 0)
let input: [UInt8] = {
    var bytes = [UInt8](repeating: 0, count: pieceSize)
    bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
    return bytes
}()

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func megabytesPerSecond(_ bytes: Int, _ elapsed: Double) -> Double {
    Double(bytes) / elapsed / 1e6
}

func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
    return kib / 1024
}

/// Raw secretbox: seal (or open) every 64 KiB chunk of `totalBytes` straight into a buffer.
func rawSecretbox(open: Bool) -> Double {
    let key = [UInt8](repeating: 7, count: Int(crypto_secretbox_KEYBYTES))
    let nonce = [UInt8](repeating: 9, count: Int(crypto_secretbox_NONCEBYTES))
    var box = [UInt8](repeating: 0, count: chunkSize + Int(crypto_secretbox_MACBYTES))
    var plain = [UInt8](repeating: 0, count: chunkSize)
    box.withUnsafeMutableBufferPointer { boxPtr in
        input.withUnsafeBufferPointer { _ = crypto_secretbox_easy(boxPtr.baseAddress!, $0.baseAddress!, UInt64(chunkSize), nonce, key) }
    }
    let clock = ContinuousClock()
    let start = clock.now
    box.withUnsafeMutableBufferPointer { boxPtr in
        plain.withUnsafeMutableBufferPointer { plainPtr in
            input.withUnsafeBufferPointer { inputPtr in
                for index in 0..<(totalBytes / chunkSize) {
                    if open {
                        let status = crypto_secretbox_open_easy(plainPtr.baseAddress!, boxPtr.baseAddress!, UInt64(boxPtr.count), nonce, key)
                        precondition(status == 0)
                    } else {
                        let offset = (index * chunkSize) % pieceSize
                        _ = crypto_secretbox_easy(boxPtr.baseAddress!, inputPtr.baseAddress! + offset, UInt64(chunkSize), nonce, key)
                    }
                }
            }
        }
    }
    return megabytesPerSecond(totalBytes, seconds(start.duration(to: clock.now)))
}

/// The envelope, streaming: `totalBytes` of content fed in `envelopePiece`-byte pieces into a sealer, each
/// sealed piece fed at once to an opener. Seal and open time are summed separately.
func envelopeStream() throws -> (seal: Double, open: Double) {
    let linkKey = KeySchedule.newLinkKey()
    let sealer = EnvelopeSealer(linkKey: linkKey, metadata: .text(size: UInt64(totalBytes)))
    let opener = EnvelopeOpener(linkKey: linkKey)
    var sealed = [UInt8](repeating: 0, count: sealer.maximumUpdateOutput(inputCount: envelopePiece) + Envelope.sealedChunkSize)
    var opened = [UInt8](repeating: 0, count: envelopePiece + 2 * Envelope.sealedChunkSize)
    let clock = ContinuousClock()
    var sealTime = Duration.zero
    var openTime = Duration.zero
    var contentOut = 0
    try sealed.withUnsafeMutableBytes { sealedBuffer in
        try opened.withUnsafeMutableBytes { openedBuffer in
            try input.withUnsafeBytes { whole in
                let piece = UnsafeRawBufferPointer(rebasing: whole.prefix(envelopePiece))
                for _ in 0..<(totalBytes / envelopePiece) {
                    var start = clock.now
                    let sealedCount = sealer.update(piece, into: sealedBuffer)
                    sealTime += start.duration(to: clock.now)
                    start = clock.now
                    contentOut += try opener.update(UnsafeRawBufferPointer(rebasing: sealedBuffer.prefix(sealedCount)), into: openedBuffer)
                    openTime += start.duration(to: clock.now)
                }
                var start = clock.now
                let sealedCount = sealer.finish(into: sealedBuffer)
                sealTime += start.duration(to: clock.now)
                start = clock.now
                contentOut += try opener.update(UnsafeRawBufferPointer(rebasing: sealedBuffer.prefix(sealedCount)), into: openedBuffer)
                contentOut += try opener.finish(into: openedBuffer)
                openTime += start.duration(to: clock.now)
            }
        }
    }
    precondition(contentOut == totalBytes, "opened \(contentOut) of \(totalBytes) bytes")
    return (megabytesPerSecond(totalBytes, seconds(sealTime)), megabytesPerSecond(totalBytes, seconds(openTime)))
}

var best = (rawSeal: 0.0, rawOpen: 0.0, seal: 0.0, open: 0.0)
for round in 1...rounds {
    let rawSeal = rawSecretbox(open: false)
    let rawOpen = rawSecretbox(open: true)
    let (seal, open) = try envelopeStream()
    print(String(format: "round %d: raw seal %.0f MB/s, raw open %.0f MB/s, envelope seal %.0f MB/s, envelope open %.0f MB/s",
                 round, rawSeal, rawOpen, seal, open))
    best = (max(best.rawSeal, rawSeal), max(best.rawOpen, rawOpen), max(best.seal, seal), max(best.open, open))
}
print(String(format: "best of %d, %d MiB each, %d KiB pieces, one core:", rounds, totalMiB, envelopePiece / 1024))
print(String(format: "  encrypt: envelope %.0f MB/s vs raw secretbox %.0f MB/s = %.1f%%", best.seal, best.rawSeal, 100 * best.seal / best.rawSeal))
print(String(format: "  decrypt: envelope %.0f MB/s vs raw secretbox open %.0f MB/s = %.1f%%", best.open, best.rawOpen, 100 * best.open / best.rawOpen))
print(String(format: "  peak RSS of this process: %.1f MiB (streaming %d MiB through both directions)", peakRSSMiB(), totalMiB))
