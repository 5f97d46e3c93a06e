import BurnlinkCore
import BurnlinkProtocol
import Testing

/// The grammars the CLI and the server share (BurnlinkProtocol): one rule each, so a value
/// one side accepts the other never reads differently.
@Suite("shared grammars: quantities and creator tokens")
struct ProtocolGrammarTests {
    @Test("sizes and durations: digits and one unit, white space around; signs, fractions, inner spaces and overflow refused")
    func quantities() {
        #expect(Quantity.bytes("100MiB") == 100 << 20)
        #expect(Quantity.bytes(" 10GB ") == 10_000_000_000)
        #expect(Quantity.bytes("512") == 512)
        #expect(Quantity.seconds("7d") == 604_800)
        #expect(Quantity.seconds("90") == 90)
        #expect(Quantity.seconds("0") == 0)
        #expect(Quantity.duration("500ms") == .milliseconds(500))
        #expect(Quantity.duration("2m") == .seconds(120))
        for bad in [
            "", "m", "+5m", "-5m", "1.5h", "10 m", "5x", "1e3", "٣m", "99999999999999999999", "9999999999999999w", "5mms",
        ] {
            #expect(Quantity.seconds(bad) == nil, "\(bad)")
            #expect(Quantity.duration(bad) == nil, "\(bad)")
        }
        #expect(Quantity.bytes("8589934592GiB") == nil, "overflow")
    }

    @Test("the last forwarded address: split and trimmed by Unicode scalar (a fuzzer found a mark that hid the comma)")
    func lastForwardedAddress() {
        #expect(API.HeaderValue.lastForwardedAddress("203.0.113.9, 198.51.100.7 ") == "198.51.100.7")
        #expect(API.HeaderValue.lastForwardedAddress("203.0.113.9, ") == nil)
        #expect(API.HeaderValue.lastForwardedAddress("") == nil)
        // U+06DD joins the character after it into one grapheme with itself.
        #expect(API.HeaderValue.lastForwardedAddress("a, b\u{06DD},c") == "c")
        #expect(API.HeaderValue.lastForwardedAddress("a, b\u{06DD}, ") == nil)
        #expect(API.HeaderValue.lastForwardedAddress("b\u{06DD} ") == "b\u{06DD}")
    }

    @Test("claim and receipt tokens: Bearer in any case, then exactly one space (a fuzzer found NUL taken for it)")
    func bearerScheme() {
        let token = Base64URL.encode([UInt8](repeating: 7, count: 32))
        #expect(API.HeaderValue.bearerToken("bearer " + token) != nil)
        #expect(API.HeaderValue.bearerToken("BeArEr " + token) != nil)
        for bad in ["Bearer\u{0}" + token, "Bearer\t" + token, "Bearer\u{7F}" + token, "B\u{2}arer " + token] {
            #expect(API.HeaderValue.bearerToken(bad) == nil, "\(Array(bad.utf8.prefix(7)))")
        }
    }

    @Test("creator tokens: 16 to 512 characters of the RFC 6750 alphabet, after a case-insensitive Bearer and one space")
    func creatorTokens() {
        let token = "tok-" + String(repeating: "a", count: 12)
        #expect(API.HeaderValue.bearerCreatorToken("Bearer " + token) == Array(token.utf8))
        #expect(API.HeaderValue.bearerCreatorToken("bEARER " + token) == Array(token.utf8))
        #expect(API.HeaderValue.creatorToken(String(repeating: "x", count: 512)) != nil)
        for bad in [
            "Bearer  " + token, "Basic " + token, "Bearer " + String(token.dropLast()), "Bearer " + token + " ",
            "Bearer " + token + "é", "Bearer " + String(repeating: "x", count: 513), "Bearer\u{0}" + token,
            "BEARER\t" + token, "Bearer" + token,
        ] {
            #expect(API.HeaderValue.bearerCreatorToken(bad) == nil, "\(bad)")
        }
    }
}
