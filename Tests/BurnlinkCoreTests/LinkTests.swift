import Foundation
import Testing

@testable import BurnlinkCore

/// bytes 0...15 and 0...31, so the link parts are easy to recognise.
private let idText = "AAECAwQFBgcICQoLDA0ODw"
private let keyText = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
private let tail = "/s/\(idText)#\(keyText)"

/// A link that must be refused, with the one problem the parser must name.
struct BadLink: Sendable, CustomTestStringConvertible {
    let text: String
    let problem: LinkProblem
    let why: String

    init(_ why: String, _ text: String, _ problem: LinkProblem) {
        self.why = why
        self.text = text
        self.problem = problem
    }

    var testDescription: String { "\(problem): \(why)" }
}

/// A link that must be accepted, with the parts it must parse into.
struct GoodLink: Sendable, CustomTestStringConvertible {
    let text: String
    let scheme: Link.Scheme
    let host: String
    let port: Int?
    let serverURL: String

    var testDescription: String { text }
}

@Suite("Link")
struct LinkTests {
    static let goodLinks: [GoodLink] = [
        GoodLink(
            text: "https://burn.example.com\(tail)", scheme: .https, host: "burn.example.com", port: nil,
            serverURL: "https://burn.example.com"),
        GoodLink(
            text: "https://burn.example.com:8443\(tail)", scheme: .https, host: "burn.example.com", port: 8443,
            serverURL: "https://burn.example.com:8443"),
        GoodLink(
            text: "http://127.0.0.1:8080\(tail)", scheme: .http, host: "127.0.0.1", port: 8080,
            serverURL: "http://127.0.0.1:8080"),
        GoodLink(
            text: "http://127.0.0.1\(tail)", scheme: .http, host: "127.0.0.1", port: nil,
            serverURL: "http://127.0.0.1"),
        GoodLink(
            text: "https://[2001:db8::1]:8443\(tail)", scheme: .https, host: "[2001:db8::1]", port: 8443,
            serverURL: "https://[2001:db8::1]:8443"),
        GoodLink(
            text: "https://[2001:DB8::1]\(tail)", scheme: .https, host: "[2001:DB8::1]", port: nil,
            serverURL: "https://[2001:DB8::1]"),
        GoodLink(text: "http://[::1]:1\(tail)", scheme: .http, host: "[::1]", port: 1, serverURL: "http://[::1]:1"),
        GoodLink(
            text: "https://[::ffff:192.0.2.1]:65535\(tail)", scheme: .https, host: "[::ffff:192.0.2.1]",
            port: 65535, serverURL: "https://[::ffff:192.0.2.1]:65535"),
        GoodLink(
            text: "https://Burn.Example.COM\(tail)", scheme: .https, host: "Burn.Example.COM", port: nil,
            serverURL: "https://Burn.Example.COM"),
        GoodLink(
            text: "http://localhost:3000\(tail)", scheme: .http, host: "localhost", port: 3000,
            serverURL: "http://localhost:3000"),
        GoodLink(text: "https://a\(tail)", scheme: .https, host: "a", port: nil, serverURL: "https://a"),
        GoodLink(
            text: "https://xn--bcher-kva.example-1.org.:99\(tail)", scheme: .https,
            host: "xn--bcher-kva.example-1.org.", port: 99, serverURL: "https://xn--bcher-kva.example-1.org.:99"),
        GoodLink(
            text: "https://\(String(repeating: "a", count: 253))\(tail)", scheme: .https,
            host: String(repeating: "a", count: 253), port: nil,
            serverURL: "https://\(String(repeating: "a", count: 253))"),
    ]

    @Test("valid links parse into their parts and format back exactly", arguments: goodLinks)
    func validLink(_ good: GoodLink) throws {
        let link = try Link(parsing: good.text)
        #expect(link.scheme == good.scheme)
        #expect(link.host == good.host)
        #expect(link.port == good.port)
        #expect(link.id.bytes == Array(0..<16))
        #expect(link.id.encoded == idText)
        #expect(link.key.bytes == Array(0..<32))
        #expect(link.formatted == good.text)
        #expect(link.serverURL == good.serverURL)
        // The server's URL carries neither the id nor the key.
        #expect(!link.serverURL.contains(idText))
        #expect(!link.serverURL.contains(keyText))
        #expect(!link.serverURL.contains("#"))
        #expect(!link.serverURL.contains("/s/"))
        // Parsing a Substring gives the same link.
        let padded = "<" + good.text + ">"
        let again = try Link(parsing: padded.dropFirst().dropLast())
        #expect(again.formatted == good.text)
    }

    @Test("500 random valid links round trip and carry their random id and key")
    func randomRoundTrip() throws {
        var random = SeededGenerator(seed: 0x6C69_6E6B)
        for index in 0..<500 {
            let idBytes = random.bytes(16)
            let keyBytes = random.bytes(32)
            let scheme: Link.Scheme = Bool.random(using: &random) ? .https : .http
            let host = Self.randomHost(using: &random)
            let port: Int? = Bool.random(using: &random) ? Int.random(in: 1...65535, using: &random) : nil
            let text =
                "\(scheme.rawValue)://\(host)" + (port.map { ":\($0)" } ?? "")
                + "/s/\(Base64URL.encode(idBytes))#\(Base64URL.encode(keyBytes))"

            let link = try Link(parsing: text)
            #expect(link.formatted == text, "case \(index)")
            #expect(link.scheme == scheme)
            #expect(link.host == host)
            #expect(link.port == port)
            #expect(link.id.bytes == idBytes, "case \(index): \(text)")
            #expect(link.key.bytes == keyBytes, "case \(index): \(text)")
            #expect(link.key == SecretBytes(copying: keyBytes))

            // Built from its parts, the same link formats the same way.
            let built = try Link(
                scheme: scheme, host: host, port: port, id: #require(SecretID(bytes: idBytes)),
                key: SecretBytes(copying: keyBytes))
            #expect(built.formatted == text)
        }
    }

    /// A DNS name, an IPv4 address or a bracketed IPv6 address, in random case.
    static func randomHost(using random: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<3, using: &random) {
        case 0:
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
            let labels = (0..<Int.random(in: 1...4, using: &random)).map { _ in
                String((0..<Int.random(in: 1...20, using: &random)).map { _ in letters.randomElement(using: &random)! })
            }
            return labels.joined(separator: ".")
        case 1:
            return (0..<4).map { _ in String(Int.random(in: 0...255, using: &random)) }.joined(separator: ".")
        default:
            let groups = (0..<8).map { _ in
                String(
                    UInt16.random(in: .min ... .max, using: &random), radix: 16,
                    uppercase: Bool.random(using: &random))
            }
            if Bool.random(using: &random) {
                let cut = Int.random(in: 0...7, using: &random)
                return "[" + groups[..<cut].joined(separator: ":") + "::" + groups[(cut + 1)...].prefix(2).joined(separator: ":")
                    + "]"
            }
            return "[" + groups.joined(separator: ":") + "]"
        }
    }

    static let badLinks: [BadLink] = [
        // Scheme.
        BadLink("ftp", "ftp://burn.example.com\(tail)", .unsupportedScheme),
        BadLink("upper-case HTTPS", "HTTPS://burn.example.com\(tail)", .unsupportedScheme),
        BadLink("mixed-case Http", "Http://burn.example.com\(tail)", .unsupportedScheme),
        BadLink("no scheme", "burn.example.com\(tail)", .unsupportedScheme),
        BadLink("scheme-relative", "//burn.example.com\(tail)", .unsupportedScheme),
        BadLink("one slash", "https:/burn.example.com\(tail)", .unsupportedScheme),
        BadLink("no slashes", "https:burn.example.com\(tail)", .unsupportedScheme),
        BadLink("leading space", " https://burn.example.com\(tail)", .unsupportedScheme),
        BadLink("wss", "wss://burn.example.com\(tail)", .unsupportedScheme),
        BadLink("empty string", "", .unsupportedScheme),
        // User-info.
        BadLink("user@", "https://user@burn.example.com\(tail)", .userInfoPresent),
        BadLink("user:pw@", "https://user:pw@burn.example.com\(tail)", .userInfoPresent),
        BadLink("empty user-info", "https://@burn.example.com\(tail)", .userInfoPresent),
        BadLink("user-info and port", "https://user@burn.example.com:8443\(tail)", .userInfoPresent),
        BadLink("user-info before IPv6", "https://user@[::1]:8443\(tail)", .userInfoPresent),
        // Host.
        BadLink("empty host", "https://\(tail)", .badHost),
        BadLink("empty host with port", "https://:8443\(tail)", .badHost),
        BadLink("space in host", "https://burn example.com\(tail)", .badHost),
        BadLink("tab in host", "https://burn\texample.com\(tail)", .badHost),
        BadLink("non-ASCII host", "https://bücher.example\(tail)", .badHost),
        BadLink("Kelvin sign (canonically equivalent to K)", "https://\u{212A}.example\(tail)", .badHost),
        BadLink("underscore", "https://burn_link.example.com\(tail)", .badHost),
        BadLink("percent-encoding", "https://burn%2Eexample.com\(tail)", .badHost),
        BadLink("254 characters", "https://\(String(repeating: "a", count: 254))\(tail)", .badHost),
        BadLink("bracket without close", "https://[2001:db8::1\(tail)", .badHost),
        BadLink("bracket without close, port", "https://[2001:db8::1:8443\(tail)", .badHost),
        BadLink("close bracket only", "https://2001:db8::1]\(tail)", .badPort),
        BadLink("junk after bracket", "https://[::1]x\(tail)", .badHost),
        BadLink("two close brackets", "https://[::1]]\(tail)", .badHost),
        BadLink("empty brackets", "https://[]\(tail)", .badHost),
        BadLink("IPv6 without colon", "https://[1234]\(tail)", .badHost),
        BadLink("non-hex IPv6", "https://[::g]\(tail)", .badHost),
        BadLink("IPv6 zone id", "https://[fe80::1%25eth0]\(tail)", .badHost),
        BadLink("unbracketed IPv6", "https://::1\(tail)", .badHost),
        BadLink("a bracket inside a name", "https://a[b\(tail)", .badHost),
        // Port.
        BadLink("port 0", "https://burn.example.com:0\(tail)", .badPort),
        BadLink("port 65536", "https://burn.example.com:65536\(tail)", .badPort),
        BadLink("port 99999", "https://burn.example.com:99999\(tail)", .badPort),
        BadLink("leading zero", "https://burn.example.com:080\(tail)", .badPort),
        BadLink("double zero", "https://burn.example.com:00\(tail)", .badPort),
        BadLink("letters", "https://burn.example.com:8o\(tail)", .badPort),
        BadLink("named port", "https://burn.example.com:https\(tail)", .badPort),
        BadLink("empty after colon", "https://burn.example.com:\(tail)", .badPort),
        BadLink("6 digits", "https://burn.example.com:100000\(tail)", .badPort),
        BadLink("6 digits in range with a leading zero", "https://burn.example.com:008443\(tail)", .badPort),
        BadLink("negative", "https://burn.example.com:-1\(tail)", .badPort),
        BadLink("plus sign", "https://burn.example.com:+80\(tail)", .badPort),
        BadLink("two ports", "https://burn.example.com:80:90\(tail)", .badPort),
        BadLink("full-width digits", "https://burn.example.com:\u{FF18}\u{FF10}\(tail)", .badPort),
        BadLink("Arabic-Indic digits", "https://burn.example.com:\u{0668}\u{0660}\(tail)", .badPort),
        BadLink("IPv6, empty after colon", "https://[::1]:\(tail)", .badPort),
        BadLink("IPv6, port 0", "https://[::1]:0\(tail)", .badPort),
        BadLink("IPv6, port 65536", "https://[::1]:65536\(tail)", .badPort),
        // Path.
        BadLink("/x/id", "https://burn.example.com/x/\(idText)#\(keyText)", .wrongPath),
        BadLink("/S/id", "https://burn.example.com/S/\(idText)#\(keyText)", .wrongPath),
        BadLink("/id", "https://burn.example.com/\(idText)#\(keyText)", .wrongPath),
        BadLink("/s", "https://burn.example.com/s#\(keyText)", .wrongPath),
        BadLink("//s/id", "https://burn.example.com//s/\(idText)#\(keyText)", .wrongPath),
        BadLink("/secret/id", "https://burn.example.com/secret/\(idText)#\(keyText)", .wrongPath),
        BadLink("missing path", "https://burn.example.com#\(keyText)", .wrongPath),
        BadLink("nothing after host", "https://burn.example.com", .wrongPath),
        BadLink("only a slash", "https://burn.example.com/", .wrongPath),
        // Extra segments.
        BadLink("/s/id/more", "https://burn.example.com/s/\(idText)/more#\(keyText)", .extraPathSegments),
        BadLink("trailing slash", "https://burn.example.com/s/\(idText)/#\(keyText)", .extraPathSegments),
        BadLink("/s//id", "https://burn.example.com/s//\(idText)#\(keyText)", .extraPathSegments),
        BadLink(
            "'/' inside the id is a path separator",
            "https://burn.example.com/s/AAECAwQFBgcICQoLD/0ODw#\(keyText)", .extraPathSegments),
        // Query.
        BadLink("?a=b before the fragment", "https://burn.example.com/s/\(idText)?a=b#\(keyText)", .queryPresent),
        BadLink("empty query", "https://burn.example.com/s/\(idText)?#\(keyText)", .queryPresent),
        BadLink("query right after the host", "https://burn.example.com?a=b/s/\(idText)#\(keyText)", .queryPresent),
        BadLink("query, no fragment", "https://burn.example.com/s/\(idText)?a=b", .queryPresent),
        // Id.
        BadLink("21 characters", "https://burn.example.com/s/\(idText.dropLast())#\(keyText)", .badID),
        BadLink("23 characters", "https://burn.example.com/s/\(idText)A#\(keyText)", .badID),
        BadLink("empty id", "https://burn.example.com/s/#\(keyText)", .badID),
        BadLink("'+' in id", "https://burn.example.com/s/AAECAwQFBgcICQoLD+0ODw#\(keyText)", .badID),
        BadLink("'=' padding after 22", "https://burn.example.com/s/\(idText)==#\(keyText)", .badID),
        BadLink("'=' as 22nd character", "https://burn.example.com/s/AAECAwQFBgcICQoLDA0OD=#\(keyText)", .badID),
        BadLink("non-canonical last character", "https://burn.example.com/s/AAECAwQFBgcICQoLDA0ODx#\(keyText)", .badID),
        BadLink(
            "non-ASCII id that libsodium 1.0.18 would read as \"__\"",
            "https://burn.example.com/s/é\(String(repeating: "_", count: 19))w#\(keyText)", .badID),
        BadLink("non-ASCII in id", "https://burn.example.com/s/AAECAwQFBgcICQoLDA0Oé#\(keyText)", .badID),
        BadLink("percent-encoded id", "https://burn.example.com/s/AAECAwQFBgcICQoLDA0%4F#\(keyText)", .badID),
        // Fragment.
        BadLink("no '#'", "https://burn.example.com/s/\(idText)", .missingFragment),
        BadLink("empty fragment", "https://burn.example.com/s/\(idText)#", .missingFragment),
        BadLink("no '#', IPv6 and port", "https://[::1]:8443/s/\(idText)", .missingFragment),
        // Key.
        BadLink("42 characters", "https://burn.example.com/s/\(idText)#\(keyText.dropLast())", .badKey),
        BadLink("44 characters", "https://burn.example.com/s/\(idText)#\(keyText)A", .badKey),
        BadLink("padding after 43", "https://burn.example.com/s/\(idText)#\(keyText)=", .badKey),
        BadLink("'=' as 43rd character", "https://burn.example.com/s/\(idText)#\(keyText.dropLast())=", .badKey),
        BadLink("'+' in key", "https://burn.example.com/s/\(idText)#+\(keyText.dropFirst())", .badKey),
        BadLink("'/' in key", "https://burn.example.com/s/\(idText)#/\(keyText.dropFirst())", .badKey),
        BadLink("non-canonical last character", "https://burn.example.com/s/\(idText)#\(keyText.dropLast())9", .badKey),
        BadLink("trailing space", "https://burn.example.com/s/\(idText)#\(keyText) ", .badKey),
        BadLink("trailing newline", "https://burn.example.com/s/\(idText)#\(keyText)\n", .badKey),
        BadLink("leading space", "https://burn.example.com/s/\(idText)# \(keyText)", .badKey),
        BadLink(
            "space inside, 43 characters", "https://burn.example.com/s/\(idText)#\(keyText.prefix(20)) \(keyText.dropFirst(21))",
            .badKey),
        BadLink("a second '#'", "https://burn.example.com/s/\(idText)##\(keyText.dropFirst())", .badKey),
        BadLink("query after the key", "https://burn.example.com/s/\(idText)#\(keyText)?a=b", .badKey),
        BadLink("one byte key", "https://burn.example.com/s/\(idText)#AA", .badKey),
        BadLink(
            "non-ASCII key that libsodium 1.0.18 would read as \"__\"",
            "https://burn.example.com/s/\(idText)#é\(String(repeating: "_", count: 40))8", .badKey),
        BadLink("non-ASCII key", "https://burn.example.com/s/\(idText)#é\(keyText.dropFirst(2))", .badKey),
        // A combining mark merges with the delimiter before it into one Character; the parser
        // must still see the delimiter and blame the part the mark is in.
        BadLink("combining mark after '://'", "https://\u{301}burn.example.com\(tail)", .badHost),
        BadLink("combining mark after '@'", "https://user@\u{301}burn.example.com\(tail)", .userInfoPresent),
        BadLink("combining mark after ':'", "https://burn.example.com:\u{301}80\(tail)", .badPort),
        BadLink("combining mark after ']'", "https://[::1]\u{301}:80\(tail)", .badHost),
        BadLink("combining mark after the host's '/'", "https://burn.example.com/\u{301}s/\(idText)#\(keyText)", .wrongPath),
        BadLink("combining mark after '?'", "https://burn.example.com/s/\(idText)?\u{301}#\(keyText)", .queryPresent),
        BadLink(
            "combining mark after the id's '/'", "https://burn.example.com/s/\(idText)/\u{301}#\(keyText)", .extraPathSegments),
        BadLink("combining mark after '#'", "https://burn.example.com/s/\(idText)#\u{301}\(keyText)", .badKey),
        BadLink("combining mark alone after '#'", "https://burn.example.com/s/\(idText)#\u{301}", .badKey),
        BadLink("CR LF before '#'", "https://burn.example.com/s/\(idText)\r\n#\(keyText)", .badID),
    ]

    @Test("malformed links are refused with the exact problem", arguments: badLinks)
    func malformed(_ bad: BadLink) {
        #expect(throws: BurnlinkError.malformedLink(bad.problem)) {
            try Link(parsing: bad.text)
        }
    }

    @Test("every problem is covered by the table above")
    func everyProblemCovered() {
        let all: [LinkProblem] = [
            .unsupportedScheme, .userInfoPresent, .badHost, .badPort, .wrongPath, .extraPathSegments,
            .queryPresent, .badID, .missingFragment, .badKey,
        ]
        for problem in all {
            #expect(Self.badLinks.contains { $0.problem == problem }, "\(problem)")
        }
    }

    @Test("the error's code and message name the link problem")
    func errorDescription() {
        let error = BurnlinkError.malformedLink(.badKey)
        #expect(error.code == "malformed-link")
        #expect(error.description == "malformed link: the key after # must be 43 base64url characters")
    }

    @Test("Link(scheme:host:port:id:key:) builds the link the spec shows")
    func buildFromParts() throws {
        let id = try #require(SecretID(bytes: Array(0..<16)))
        let key = SecretBytes(copying: Array(0..<32) as [UInt8])
        let link = try Link(scheme: .https, host: "[2001:db8::1]", port: 8443, id: id, key: key)
        #expect(link.formatted == "https://[2001:db8::1]:8443\(tail)")
        #expect(link.serverURL == "https://[2001:db8::1]:8443")
        let plain = try Link(scheme: .http, host: "127.0.0.1", port: nil, id: id, key: key)
        #expect(plain.formatted == "http://127.0.0.1\(tail)")
        #expect(plain.serverURL == "http://127.0.0.1")
    }

    @Test(
        "Link(scheme:host:port:id:key:) refuses a bad host",
        arguments: [
            "", "burn example.com", "burn_link.example", "bücher.example", "burn.example.com:8443", "user@host",
            "[::1", "::1", "[]", "[1234]", "burn.example.com/s", String(repeating: "a", count: 254),
        ])
    func buildRefusesHost(host: String) throws {
        let id = try #require(SecretID(bytes: Array(0..<16)))
        #expect(throws: BurnlinkError.malformedLink(.badHost)) {
            try Link(scheme: .https, host: host, port: nil, id: id, key: SecretBytes(count: 32))
        }
    }

    @Test("Link(scheme:host:port:id:key:) refuses a bad port", arguments: [0, -1, 65536, 100_000, Int.min, Int.max])
    func buildRefusesPort(port: Int) throws {
        let id = try #require(SecretID(bytes: Array(0..<16)))
        #expect(throws: BurnlinkError.malformedLink(.badPort)) {
            try Link(scheme: .https, host: "burn.example.com", port: port, id: id, key: SecretBytes(count: 32))
        }
    }

    @Test("Link(scheme:host:port:id:key:) refuses a key that is not 32 bytes", arguments: [0, 1, 16, 31, 33, 64])
    func buildRefusesKeyLength(count: Int) throws {
        let id = try #require(SecretID(bytes: Array(0..<16)))
        #expect(throws: BurnlinkError.malformedLink(.badKey)) {
            try Link(scheme: .https, host: "burn.example.com", port: 443, id: id, key: SecretBytes(count: count))
        }
    }

    @Test("SecretID accepts exactly 16 bytes and their one canonical encoding")
    func secretID() throws {
        #expect(SecretID(bytes: Array(repeating: 0, count: 15)) == nil)
        #expect(SecretID(bytes: Array(repeating: 0, count: 17)) == nil)
        #expect(SecretID(bytes: []) == nil)
        let id = try #require(SecretID(bytes: Array(0..<16)))
        #expect(id.encoded == idText)
        #expect(id.description == idText)
        #expect(SecretID(encoded: idText) == id)
        #expect(SecretID(encoded: idText.dropLast()) == nil)
        #expect(SecretID(encoded: idText + "A") == nil)
        #expect(SecretID(encoded: "AAECAwQFBgcICQoLDA0ODx") == nil)
        #expect(SecretID(encoded: "AAECAwQFBgcICQoLDA0ODw==") == nil)
        let random = SecretID.random()
        #expect(random.bytes.count == 16)
        #expect(random.encoded.utf8.count == 22)
        #expect(SecretID(encoded: random.encoded) == random)
        #expect(SecretID.random() != random)
    }
}
