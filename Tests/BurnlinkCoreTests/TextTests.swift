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
    }
}
