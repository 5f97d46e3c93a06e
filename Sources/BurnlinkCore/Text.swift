extension StringProtocol {
    /// The text without white space (spaces, tabs, line breaks) at either end.
    /// `package`: a convenience of this project's modules, not part of its public API.
    ///
    /// By Unicode scalar, not by character: a prepended concatenation mark (U+0600 to
    /// U+0605, U+06DD, ...) joins the space after it into one character, whose first
    /// scalar is not white space, so a character-wise trim kept "b\u{06DD} " whole (found
    /// by the headers fuzz target, Fuzz/Regressions/headers).
    package func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}

/// Text from elsewhere (a server's error message, a sender's text secret) made safe for a
/// terminal: every byte or character that could steer the terminal or hide what is shown is
/// written as a visible escape instead. Kept: printable characters, tab and line feed.
/// Escaped: the other C0 controls (ESC, CR, BEL, ...) and DEL as `\xNN`, C1 controls and the
/// invisible formatting characters of file names (docs/format.md) as `\u{XXXX}`, and bytes
/// that are not UTF-8 as `\xNN`. Streaming: a character cut between two calls is completed
/// by the next one.
public struct TerminalEscaper: Sendable {
    /// How many characters or bytes were shown escaped so far.
    public private(set) var escapedCount = 0
    private var pending: [UInt8] = []
    private let keepNewlines: Bool

    public init(keepingNewlines: Bool = true) {
        keepNewlines = keepingNewlines
    }

    /// All of `text` escaped at once.
    public static func escaped(_ text: String, keepingNewlines: Bool = false) -> String {
        var escaper = TerminalEscaper(keepingNewlines: keepingNewlines)
        let bytes = escaper.escape(Array(text.utf8)) + escaper.finish()
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Escapes `bytes`; an incomplete character at the end waits for the next call.
    public mutating func escape(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var input = pending
        input.append(contentsOf: bytes)
        pending.removeAll()
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte < 0x80 {
                if (0x20...0x7E).contains(byte) || byte == 0x09 || (byte == 0x0A && keepNewlines) {
                    output.append(byte)
                } else {
                    appendByteEscape(byte, to: &output)
                }
                index += 1
                continue
            }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if index + length > input.count, length > 1, input[(index + 1)...].allSatisfy({ $0 & 0xC0 == 0x80 }) {
                pending = Array(input[index...])  // a character cut by the chunk boundary
                break
            }
            let end = min(index + length, input.count)
            guard length > 1, let character = String(validating: input[index..<end], as: UTF8.self),
                let scalar = character.unicodeScalars.first
            else {
                appendByteEscape(byte, to: &output)
                index += 1
                continue
            }
            // C1 controls, the format characters of format.md 3.2, and the line and paragraph
            // separators, which some terminals break lines at.
            if (0x80...0x9F).contains(scalar.value) || InnerMetadata.isInvisibleControl(scalar.value)
                || scalar.value == 0x2028 || scalar.value == 0x2029
            {
                output.append(contentsOf: Array("\\u{\(String(scalar.value, radix: 16, uppercase: true))}".utf8))
                escapedCount += 1
            } else {
                output.append(contentsOf: input[index..<end])
            }
            index = end
        }
        return output
    }

    /// Whatever an incomplete last character left, escaped byte by byte.
    public mutating func finish() -> [UInt8] {
        var output: [UInt8] = []
        for byte in pending { appendByteEscape(byte, to: &output) }
        pending.removeAll()
        return output
    }

    private mutating func appendByteEscape(_ byte: UInt8, to output: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
        escapedCount += 1
    }
}
