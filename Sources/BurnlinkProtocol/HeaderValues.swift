import BurnlinkCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension API {
    /// Strict readers for the values of the API's request headers and query parameters.
    ///
    /// They see bytes from any client, so they take plain strings and are fuzzed on their own
    /// (Fuzz/Headers). Each answers nil for anything that is not exactly the documented form.
    public enum HeaderValue {
        /// A 32-byte token or verifier: 43 canonical base64url characters.
        public static func digest(_ value: some StringProtocol) -> [UInt8]? {
            Base64URL.decode(value, count: 32)
        }

        /// ASCII digits without a leading zero (except "0" itself), within `range`.
        public static func decimal(_ value: some StringProtocol, in range: ClosedRange<Int>) -> Int? {
            // At most 10 digits, so the value always fits an Int and parsing stays cheap.
            guard !value.isEmpty, value.utf8.count <= 10,
                value.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                value == "0" || value.utf8.first != 0x30,
                let number = Int(value), range.contains(number)
            else { return nil }
            return number
        }

        /// The 32-byte token in `Authorization: Bearer <base64url>` (claim and receipt tokens).
        public static func bearerToken(_ value: some StringProtocol) -> [UInt8]? {
            bearerCredentials(value).flatMap { digest($0) }
        }

        /// A creator token in `Authorization: Bearer <token>`, as its bytes (see `creatorToken`).
        public static func bearerCreatorToken(_ value: some StringProtocol) -> [UInt8]? {
            bearerCredentials(value).flatMap { creatorToken($0) }
        }

        /// What follows `Bearer ` in an Authorization value; the scheme name is
        /// case-insensitive (RFC 9110 11.1), and exactly one space follows it.
        public static func bearerCredentials(_ value: some StringProtocol) -> Substring? {
            let text = Substring(value)
            let head = Array(text.utf8.prefix(7))
            // Letters compare without case; the seventh byte is a space exactly.
            guard text.utf8.count > 7, head[6] == 0x20,
                zip(head.prefix(6), "bearer".utf8).allSatisfy({ $0 == $1 || $0 == $1 - 0x20 })
            else { return nil }
            return text.dropFirst(7)
        }

        /// A creator token: 16 to 512 characters of the RFC 6750 token alphabet
        /// (A-Z a-z 0-9 - . _ ~ + / =), the grammar the server, `hash-token` and the CLI share.
        /// Longer or stranger values are refused before any hashing.
        public static func creatorToken(_ value: some StringProtocol) -> [UInt8]? {
            let bytes = Array(value.utf8)
            guard (16...512).contains(bytes.count), bytes.allSatisfy(creatorTokenAlphabet.contains) else { return nil }
            return bytes
        }

        /// For messages: the creator-token grammar in words.
        public static let creatorTokenGrammar = "16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / ="

        private static let creatorTokenAlphabet = Set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=".utf8)

        /// `Range: bytes=N-`, the only range form the envelope route takes: N as ASCII
        /// digits without a leading zero (at most 18, so it always fits). Anything else: nil.
        public static func rangeStart(_ value: some StringProtocol) -> Int? {
            let prefix = "bytes="
            let bytes = Array(value.utf8)
            guard bytes.count > prefix.utf8.count + 1, bytes.starts(with: prefix.utf8), bytes.last == 0x2D else { return nil }
            let digits = String(decoding: bytes.dropFirst(prefix.utf8.count).dropLast(), as: UTF8.self)
            guard digits.utf8.count <= 18, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                digits == "0" || digits.utf8.first != 0x30
            else { return nil }
            return Int(digits)
        }

        /// The last non-empty entry of `X-Forwarded-For` (the one a trusted proxy added
        /// itself), without surrounding white space; nil when there is none.
        public static func lastForwardedAddress(_ value: some StringProtocol) -> String? {
            // Split by Unicode scalar: a prepended concatenation mark (U+06DD, ...) joins the
            // comma after it into one character, which a split by character does not see.
            guard let entry = value.unicodeScalars.split(separator: ",").last else { return nil }
            let last = String(String.UnicodeScalarView(entry)).trimmingWhitespace()
            return last.isEmpty ? nil : last
        }
    }
}
