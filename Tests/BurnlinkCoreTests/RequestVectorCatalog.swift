import Foundation

@testable import BurnlinkCore

/// Builds the request known-answer vectors (docs/format.md section 6.5) from fixed keys: the
/// requester's key pair, the filler's ephemeral key, and the envelope catalog's link key.
enum RequestVectorCatalog {
    static let secretKey = SecretBytes(copying: [UInt8](0x40..<0x60))
    static let otherSecretKey = SecretBytes(copying: [UInt8](0x60..<0x80))
    static let ephemeralSecretKey = SecretBytes(copying: [UInt8](0xC0..<0xE0))
    static let keys = try! RequestKeyPair(secretKey: secretKey)

    /// The sealed box of the envelope catalog's link key to `keys`, with the fixed ephemeral key.
    static func sealedLinkKey(to publicKey: [UInt8] = keys.publicKey) -> [UInt8] {
        try! SealedKey.seal(VectorCatalog.linkKey, to: publicKey, ephemeralSecretKey: ephemeralSecretKey)
    }

    struct Entry {
        var name: String
        var envelope: VectorCatalog.Entry
        var sealedKey: [UInt8]

        /// The envelope vector's lines, with the request's in place of `key:`.
        var file: VectorFile {
            let envelopeFile = envelope.file
            var fields: [(String, String)] = []
            for field in envelopeFile.fields where field.name != "key" {
                fields.append((field.name, field.value))
                if field.name == "description" {
                    fields += [
                        ("secret-key", RequestVectorCatalog.secretKey.base64URL),
                        ("public-key", Base64URL.encode(keys.publicKey)),
                        ("fill-token", RequestKeys.fillToken(publicKey: keys.publicKey).base64URL),
                        ("answer-token", keys.answerToken.base64URL),
                        ("sealed-key", Base64URL.encode(sealedKey)),
                    ]
                }
            }
            return VectorFile(fields: fields, body: envelopeFile.body)
        }
    }

    static var entries: [Entry] {
        let text = VectorCatalog.success(
            "", "an answer: the text 'the migration password is 5up3r-s3cret', its link key sealed to the requester",
            content: Array("the migration password is 5up3r-s3cret".utf8), metadata: .text())
        let file = VectorCatalog.success(
            "", "an answer with a password: a file, its link key sealed to the requester",
            content: VectorCatalog.content(70_000), metadata: try! .file(name: "db.env", size: 70_000),
            withPassword: true)
        var flipped = sealedLinkKey()
        flipped[50] ^= 0x01
        var otherTag = sealedLinkKey()
        otherTag[33] ^= 0x80
        let otherRequester = try! RequestKeyPair(secretKey: otherSecretKey)
        func refused(_ description: String) -> VectorCatalog.Entry {
            var entry = text
            entry.description = description
            entry.expect = "error bad-sealed-key"
            return entry
        }
        return [
            Entry(name: "request-text-answer", envelope: text, sealedKey: sealedLinkKey()),
            Entry(name: "request-file-answer-with-password", envelope: file, sealedKey: sealedLinkKey()),
            Entry(
                name: "request-sealed-key-flipped",
                envelope: refused("one bit of the sealed key's ciphertext flipped: it must not open"), sealedKey: flipped),
            Entry(
                name: "request-sealed-key-flipped-tag",
                envelope: refused("one bit of the sealed key's tag flipped: it must not open"), sealedKey: otherTag),
            Entry(
                name: "request-sealed-key-other-requester",
                envelope: refused("the link key sealed to another requester's public key"),
                sealedKey: sealedLinkKey(to: otherRequester.publicKey)),
            Entry(
                name: "request-sealed-key-short",
                envelope: refused("a sealed key one byte short (79 bytes)"), sealedKey: Array(sealedLinkKey().dropLast())),
        ]
    }
}
