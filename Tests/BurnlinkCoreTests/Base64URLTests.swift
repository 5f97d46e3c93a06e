import Foundation
import Testing

@testable import BurnlinkCore

/// The 64 characters of base64url, in value order.
let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

@Suite("Base64URL")
struct Base64URLTests {
    @Test("encode/decode round trip for every length 0...70", arguments: 0...70)
    func roundTrip(length: Int) throws {
        var random = SeededGenerator(seed: 0xB64 &+ UInt64(length))
        for _ in 0..<8 {
            let bytes = random.bytes(length)
            let text = Base64URL.encode(bytes)
            #expect(text.utf8.count == Base64URL.encodedLength(byteCount: length))
            #expect(text.allSatisfy { base64URLAlphabet.contains($0) }, "\(text)")
            #expect(Base64URL.decode(text) == bytes)
            #expect(Base64URL.decode(text, count: length) == bytes)
            #expect(Base64URL.decode(text, count: length + 1) == nil)
            if length > 0 { #expect(Base64URL.decode(text, count: length - 1) == nil) }
            let secret = try #require(Base64URL.decodeSecret(text, count: length))
            #expect(secret.bytes == bytes)
            #expect(secret.base64URL == text)
        }
    }

    @Test("RFC 4648 section 10 test vectors, without padding, and the URL-safe characters")
    func knownAnswers() {
        let cases: [(String, String)] = [
            ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"),
            ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
        ]
        for (plain, encoded) in cases {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        // 0xfb 0xef 0xbe is 62 62 62 62 and 0xff 0xff 0xff is 63 63 63 63: '-' and '_', never '+' and '/'.
        #expect(Base64URL.encode([0xFB, 0xEF, 0xBE]) == "----")
        #expect(Base64URL.encode([0xFF, 0xFF, 0xFF]) == "____")
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.encode(Array(0..<16)) == "AAECAwQFBgcICQoLDA0ODw")
    }

    @Test(
        "encodedLength is ceil(4n/3)",
        arguments: [
            (0, 0), (1, 2), (2, 3), (3, 4), (4, 6), (5, 7), (6, 8), (16, 22), (32, 43), (33, 44), (100, 134),
        ])
    func encodedLength(byteCount: Int, expected: Int) {
        #expect(Base64URL.encodedLength(byteCount: byteCount) == expected)
        #expect(Base64URL.encode([UInt8](repeating: 0xA5, count: byteCount)).utf8.count == expected)
    }

    @Test(
        "decode rejects padding, other alphabets, white space and impossible lengths",
        arguments: [
            "Zg==", "Zg=", "Zm8=", "Zm9vYg==", "Zm9vYmE=", "=", "==", "Zm9v=",  // padding
            "+/8A", "Zm9v+w", "Zm9v/w", "ab+c", "ab/c",  // standard base64 alphabet
            "Zm9v Yg", " Zm9v", "Zm9v ", "Zm9v\n", "\nZm9v", "Zm9v\r\n", "Zm\n9v", "Zm9v\t",  // white space
            "Zm9v.", "Zm9v*", "Zm9v%3D", "Zm9vé", "Zm9v\u{0}", "Ｚm9v",  // other characters
            "Z", "Zm9vY", "AAAAA",  // a length of 1 mod 4 cannot be canonical
        ])
    func rejects(text: String) {
        #expect(Base64URL.decode(text) == nil)
        #expect(Base64URL.decodeSecret(text, count: 1) == nil)
    }

    @Test("decode rejects every non-ASCII character, wherever it stands")
    func nonASCII() {
        // libsodium 1.0.18 reads its input as `char`; where that is signed, every byte >= 0x80
        // decodes as '_', so "éAA" would pass for "__AA". Base64URL must refuse it anyway.
        #expect(Base64URL.decode("__AA") == [0xFF, 0xF0, 0x00])
        #expect(Base64URL.decode("éAA") == nil)
        #expect(Base64URL.decode("\u{FFFD}\u{FFFD}") == nil)  // 6 bytes, as "______" would be
        let scalars: [Unicode.Scalar] = [
            "\u{80}", "\u{A9}", "\u{E9}", "\u{FF}", "\u{100}", "\u{301}", "\u{20AC}", "\u{FF3F}",
            "\u{FFFD}", "\u{1F600}",
        ]
        for scalar in scalars {
            for length in 0..<8 {
                for position in 0...length {
                    var text = String(repeating: "A", count: length)
                    text.insert(Character(scalar), at: text.index(text.startIndex, offsetBy: position))
                    #expect(Base64URL.decode(text) == nil, "\(text.unicodeScalars.map { $0.value })")
                }
            }
        }
    }

    @Test("decode rejects every ASCII character outside the alphabet, wherever it stands")
    func asciiOutsideAlphabet() {
        for value in UInt8(0)..<0x80 {
            let character = Character(Unicode.Scalar(value))
            guard !base64URLAlphabet.contains(character) else { continue }
            for position in 0..<4 {
                var chars = Array("AAAA")
                chars[position] = character
                #expect(Base64URL.decode(String(chars)) == nil, "byte \(value) at \(position)")
            }
        }
    }

    @Test("1-byte inputs: exactly one of the 16 last characters is accepted")
    func nonCanonicalOneByte() {
        // Two characters carry 12 bits for 8: the low 4 bits of the second must be zero.
        for byte in UInt8.min...UInt8.max {
            let canonical = Base64URL.encode([byte])
            let chars = Array(canonical)
            #expect(chars.count == 2)
            let high = base64URLAlphabet.firstIndex(of: chars[1])! & ~0x0F
            #expect(high == Int(byte & 0x03) << 4)
            for low in 0..<16 {
                let candidate = String([chars[0], base64URLAlphabet[high | low]])
                if low == 0 {
                    #expect(candidate == canonical)
                    #expect(Base64URL.decode(candidate) == [byte])
                } else {
                    #expect(Base64URL.decode(candidate) == nil, "\(candidate) accepted for \(byte)")
                }
            }
        }
    }

    @Test("2-byte inputs: exactly one of the 4 last characters is accepted")
    func nonCanonicalTwoBytes() {
        // Three characters carry 18 bits for 16: the low 2 bits of the third must be zero.
        var random = SeededGenerator(seed: 2)
        var inputs: [[UInt8]] = [[0, 0], [0xFF, 0xFF], [0x00, 0xFF], [0xFF, 0x00], [0x12, 0x34]]
        for _ in 0..<2000 { inputs.append(random.bytes(2)) }
        for bytes in inputs {
            let canonical = Base64URL.encode(bytes)
            let chars = Array(canonical)
            #expect(chars.count == 3)
            let high = base64URLAlphabet.firstIndex(of: chars[2])! & ~0x03
            for low in 0..<4 {
                let candidate = String(chars[0..<2] + [base64URLAlphabet[high | low]])
                if low == 0 {
                    #expect(candidate == canonical)
                    #expect(Base64URL.decode(candidate) == bytes)
                } else {
                    #expect(Base64URL.decode(candidate) == nil, "\(candidate) accepted for \(bytes)")
                }
            }
        }
    }

    @Test("non-canonical last character of a 16-byte id and a 32-byte key")
    func nonCanonicalLongInputs() {
        // 22 characters for 16 bytes leave 4 unused bits; 43 for 32 bytes leave 2.
        let id = Base64URL.encode(Array(0..<16))
        #expect(id == "AAECAwQFBgcICQoLDA0ODw")
        #expect(Base64URL.decode("AAECAwQFBgcICQoLDA0ODx") == nil)
        #expect(Base64URL.decode("AAECAwQFBgcICQoLDA0OD_") == nil)
        let key = Base64URL.encode(Array(0..<32))
        #expect(key == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
        #expect(Base64URL.decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9") == nil)
        #expect(Base64URL.decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-") == nil)
    }

    @Test("count: mismatches return nil")
    func countMismatch() {
        #expect(Base64URL.decode("Zm9v", count: 3) == Array("foo".utf8))
        #expect(Base64URL.decode("Zm9v", count: 2) == nil)
        #expect(Base64URL.decode("Zm9v", count: 4) == nil)
        #expect(Base64URL.decode("Zm9v", count: 0) == nil)
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("", count: 0) == [])
        #expect(Base64URL.decode("", count: 1) == nil)
        #expect(Base64URL.decodeSecret("Zm9v", count: 4) == nil)
        #expect(Base64URL.decodeSecret("", count: 0)?.count == 0)
    }

    @Test("decode accepts any StringProtocol, e.g. a Substring")
    func substring() {
        let text = "xxZm9vYmFyxx"
        let slice = text.dropFirst(2).dropLast(2)
        #expect(Base64URL.decode(slice) == Array("foobar".utf8))
    }
}
