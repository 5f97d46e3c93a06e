#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the sender says about the content, encrypted at the start of the plaintext stream
/// (docs/format.md section 3.2), so the server never learns a file name.
public struct InnerMetadata: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        case text = 1
        case file = 2
    }

    public static let maximumNameByteCount = 255
    /// kind + flags + size + name length + longest name.
    public static let maximumEncodedCount = 1 + 1 + 8 + 2 + maximumNameByteCount

    private static let sizePresentFlag: UInt8 = 0x01

    public let kind: Kind
    /// Only for files.
    public let fileName: String?
    /// Exact content length when the sender knew it in advance; nil when streamed from a pipe.
    public let contentSize: UInt64?

    public static func text(size: UInt64? = nil) -> InnerMetadata {
        InnerMetadata(kind: .text, fileName: nil, contentSize: size)
    }

    public static func file(name: String, size: UInt64?) throws(BurnlinkError) -> InnerMetadata {
        if let problem = fileNameProblem(Array(name.utf8)) {
            throw .invalidArgument("invalid file name: \(problem)")
        }
        return InnerMetadata(kind: .file, fileName: name, contentSize: size)
    }

    private init(kind: Kind, fileName: String?, contentSize: UInt64?) {
        self.kind = kind
        self.fileName = fileName
        self.contentSize = contentSize
    }

    /// The format characters refused in file names (docs/format.md 3.2, a fixed list rather
    /// than the runtime's Unicode tables, so every implementation refuses the same set): the
    /// bidirectional controls, which make `invoice<U+202E>fdp.exe` show as `invoiceexe.pdf`,
    /// and invisible characters that make two names look alike. Kept: U+200C and U+200D,
    /// which scripts and emoji need, and the tag characters of emoji flags.
    static let invisibleControls: [ClosedRange<UInt32>] = [
        0x00AD...0x00AD, 0x0600...0x0605, 0x061C...0x061C, 0x06DD...0x06DD,
        0x070F...0x070F, 0x0890...0x0891, 0x08E2...0x08E2, 0x180E...0x180E,
        0x200B...0x200B, 0x200E...0x200F, 0x202A...0x202E, 0x2060...0x2064,
        0x2066...0x206F, 0xFEFF...0xFEFF, 0xFFF9...0xFFFB, 0x110BD...0x110BD,
        0x110CD...0x110CD, 0x13430...0x1343F, 0x1BCA0...0x1BCA3, 0x1D173...0x1D17A,
        0xE0001...0xE0001,
    ]

    static func isInvisibleControl(_ value: UInt32) -> Bool {
        invisibleControls.contains { $0.contains(value) }
    }

    /// Why `name` (UTF-8) is not an acceptable file name, or nil when it is.
    public static func fileNameProblem(_ name: [UInt8]) -> String? {
        guard (1...maximumNameByteCount).contains(name.count) else {
            return "must be 1 to \(maximumNameByteCount) bytes"
        }
        guard let text = String(validating: name, as: UTF8.self) else { return "not valid UTF-8" }
        if text == "." || text == ".." { return "'.' and '..' are not file names" }
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x2F, 0x5C: return "contains a path separator"
            case 0x00...0x1F, 0x7F...0x9F: return "contains a control character"
            case _ where isInvisibleControl(scalar.value):
                return "contains an invisible formatting character (U+\(String(scalar.value, radix: 16, uppercase: true)))"
            default: continue
            }
        }
        return nil
    }

    @_spi(Fuzzing) public func encoded() -> [UInt8] {
        var bytes: [UInt8] = [kind.rawValue, contentSize == nil ? 0 : Self.sizePresentFlag]
        if let contentSize {
            bytes.append(contentsOf: withUnsafeBytes(of: contentSize.bigEndian, Array.init))
        }
        let name = Array((fileName ?? "").utf8)
        bytes.append(UInt8(name.count >> 8))
        bytes.append(UInt8(name.count & 0xFF))
        bytes.append(contentsOf: name)
        return bytes
    }

    /// Parses the metadata at the start of chunk 0's plaintext; returns it and its length.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(BurnlinkError) -> (InnerMetadata, Int) {
        var offset = 0
        func take(_ count: Int) throws(BurnlinkError) -> UnsafeRawBufferPointer {
            guard bytes.count - offset >= count else { throw .invalidMetadata("ends early") }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
        }
        guard let kind = Kind(rawValue: try take(1)[0]) else { throw .invalidMetadata("unknown kind") }
        let flags = try take(1)[0]
        guard flags & ~sizePresentFlag == 0 else { throw .invalidMetadata("unknown flags") }
        var size: UInt64?
        if flags & sizePresentFlag != 0 {
            size = try take(8).reduce(0) { $0 << 8 | UInt64($1) }
        }
        let nameLength = try take(2).reduce(0) { $0 << 8 | Int($1) }
        let name = Array(try take(nameLength))
        switch kind {
        case .text:
            guard name.isEmpty else { throw .invalidMetadata("text with a file name") }
            return (.text(size: size), offset)
        case .file:
            if let problem = fileNameProblem(name) { throw .invalidMetadata("file name \(problem)") }
            return (InnerMetadata(kind: .file, fileName: String(decoding: name, as: UTF8.self), contentSize: size), offset)
        }
    }
}
