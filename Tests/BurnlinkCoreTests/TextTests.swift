import BurnlinkCore
import Testing

@Suite("Text")
struct TextTests {
    @Test("trimmingWhitespace drops spaces, tabs and line breaks at both ends only")
    func trimming() {
        #expect("  https://x/s/a#b \n".trimmingWhitespace() == "https://x/s/a#b")
        #expect("\t key = value \r\n".trimmingWhitespace() == "key = value")
        #expect("a b".trimmingWhitespace() == "a b")
        #expect(" \u{00A0}\u{2003}x\u{3000}".trimmingWhitespace() == "x")
        #expect("   ".trimmingWhitespace() == "")
        #expect("".trimmingWhitespace() == "")
        #expect("x".split(separator: ",").first!.trimmingWhitespace() == "x")
        // A prepended concatenation mark joins the space after it into one character.
        #expect("b\u{06DD} ".trimmingWhitespace() == "b\u{06DD}")
        #expect("\u{0600} \t".trimmingWhitespace() == "\u{0600}")
    }
}

@Suite("TerminalEscaper")
struct TerminalEscaperTests {
    @Test("printable text, tabs, line feeds and ordinary Unicode pass unchanged")
    func plainText() {
        let text = "hunter2\tü €\n🔑 👨‍👩‍👧 שלום\n\\x1b stays literal"
        var escaper = TerminalEscaper()
        #expect(escaper.escape(Array(text.utf8)) + escaper.finish() == Array(text.utf8))
        #expect(escaper.escapedCount == 0)
    }

    @Test("escape sequences, CR, BEL, DEL, C1 controls and bidi overrides are shown, not obeyed")
    func hostileText() {
        var escaper = TerminalEscaper()
        let hostile = "\u{1B}]0;owned\u{07}pass\rword\u{7F}\u{9B}31m\u{202E}fdp.exe\u{FEFF}"
        let shown = String(decoding: escaper.escape(Array(hostile.utf8)) + escaper.finish(), as: UTF8.self)
        #expect(shown == "\\x1b]0;owned\\x07pass\\x0dword\\x7f\\u{9B}31m\\u{202E}fdp.exe\\u{FEFF}")
        #expect(escaper.escapedCount == 7)
    }

    @Test("bytes that are not UTF-8 are escaped one by one; a character cut between chunks is joined")
    func streaming() {
        var escaper = TerminalEscaper()
        let euro = Array("€".utf8)  // three bytes
        var shown = escaper.escape([UInt8(ascii: "a")] + euro.prefix(2))
        shown += escaper.escape(euro.suffix(1) + [0xFF, 0xC3])
        shown += escaper.finish()
        #expect(String(decoding: shown, as: UTF8.self) == "a€\\xff\\xc3")
        #expect(escaper.escapedCount == 2)
    }

    @Test("escaped(_:) of a one-line message escapes line feeds too")
    func oneLine() {
        #expect(TerminalEscaper.escaped("bad\nburnlink: fake line\u{1B}[2J") == "bad\\x0aburnlink: fake line\\x1b[2J")
        #expect(TerminalEscaper.escaped("two\nlines", keepingNewlines: true) == "two\nlines")
    }
}

@Suite("file names: format characters")
struct FileNameFormatCharacterTests {
    @Test(
        "bidirectional and invisible format characters are refused; the joiners names need are kept",
        arguments: [
            "invoice\u{202E}fdp.exe", "a\u{200E}b", "pay\u{00AD}pal.pdf", "x\u{2066}y\u{2069}", "\u{FEFF}bom.txt",
            "zero\u{200B}width", "tag\u{E0001}", "hiero\u{1343F}glyph",
        ])
    func refused(_ name: String) {
        #expect(
            InnerMetadata.fileNameProblem(Array(name.utf8))?.contains("invisible formatting character") == true,
            "\(name.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test(
        "names with ZWNJ, ZWJ and emoji tag sequences are accepted",
        arguments: [
            "می\u{200C}خواهم.txt", "👨\u{200D}👩\u{200D}👧.png", "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.jpg",
        ])
    func accepted(_ name: String) {
        #expect(InnerMetadata.fileNameProblem(Array(name.utf8)) == nil)
    }
}
