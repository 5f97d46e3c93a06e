import Foundation
import Testing

@testable import BurnlinkCore

@Suite("Requests: link, keys, sealed key")
struct RequestTests {
    @Test("a request link round-trips and carries only the public key")
    func linkRoundTrip() throws {
        let keys = RequestKeyPair.generate()
        let id = SecretID.random()
        let text = "https://burn.example.com:8443/r/\(id.encoded)#\(Base64URL.encode(keys.publicKey))"
        let link = try RequestLink(parsing: text)
        #expect(link.formatted == text)
        #expect(link.id == id)
        #expect(link.publicKey == keys.publicKey)
        #expect(link.serverURL == "https://burn.example.com:8443")
        #expect(LinkKind.of(text) == .request)
    }

    @Test("each kind of link is refused where the other belongs, as a wrong path")
    func kindsAreKeptApart() throws {
        let id = SecretID.random().encoded
        let key = Base64URL.encode([UInt8](repeating: 7, count: 32))
        let secret = "https://h/s/\(id)#\(key)"
        let request = "https://h/r/\(id)#\(key)"
        #expect(throws: BurnlinkError.malformedLink(.wrongPath)) { try RequestLink(parsing: secret) }
        #expect(throws: BurnlinkError.malformedLink(.wrongPath)) { try Link(parsing: request) }
        #expect(LinkKind.of(secret) == .secret)
        // The kind shows through a damaged id or key too, so a user is told which link it is.
        #expect(LinkKind.of("https://h/r/short#\(key)") == .request)
        #expect(LinkKind.of("https://h/x/\(id)#\(key)") == nil)
        #expect(throws: BurnlinkError.malformedLink(.badKey)) { try RequestLink(parsing: "https://h/r/\(id)#short") }
        #expect(throws: BurnlinkError.malformedLink(.badID)) { try RequestLink(parsing: "https://h/r/abc#\(key)") }
        #expect(throws: BurnlinkError.malformedLink(.extraPathSegments)) {
            try RequestLink(parsing: "https://h/r/\(id)/#\(key)")
        }
    }

    @Test("a sealed link key opens only with the requester's key pair, and any change is refused")
    func sealedKey() throws {
        let keys = RequestKeyPair.generate()
        let linkKey = KeySchedule.newLinkKey()
        let sealed = try SealedKey.seal(linkKey, to: keys.publicKey)
        #expect(sealed.count == 80)
        #expect(try SealedKey.open(sealed, with: keys) == linkKey)
        // A fresh ephemeral key each time: two seals of one key differ.
        #expect(try SealedKey.seal(linkKey, to: keys.publicKey) != sealed)
        #expect(throws: BurnlinkError.badSealedKey) { try SealedKey.open(sealed, with: RequestKeyPair.generate()) }
        for index in sealed.indices {
            var changed = sealed
            changed[index] ^= 0x04
            #expect(throws: BurnlinkError.badSealedKey) { try SealedKey.open(changed, with: keys) }
        }
        #expect(throws: BurnlinkError.badSealedKey) { try SealedKey.open(Array(sealed.dropLast()), with: keys) }
        #expect(throws: BurnlinkError.badSealedKey) { try SealedKey.open(sealed + [0], with: keys) }
    }

    @Test("the spelled-out sealed box of format.md 6.3 is libsodium's crypto_box_seal")
    func sealedBoxConstruction() throws {
        let keys = RequestKeyPair.generate()
        let linkKey = KeySchedule.newLinkKey()
        let sealed = try SealedKey.seal(linkKey, to: keys.publicKey, ephemeralSecretKey: SecretBytes.random(count: 32))
        #expect(try SealedKey.open(sealed, with: keys) == linkKey)
    }

    @Test("the key pair: pk is X25519 of sk, and the tokens are the HKDFs of format.md 6.2")
    func keysAndTokens() throws {
        let keys = try RequestKeyPair(secretKey: SecretBytes(copying: [UInt8](repeating: 1, count: 32)))
        let again = try RequestKeyPair(secretKey: SecretBytes(copying: [UInt8](repeating: 1, count: 32)))
        #expect(keys.publicKey == again.publicKey)
        let fill = RequestKeys.fillToken(publicKey: keys.publicKey)
        #expect(
            fill.bytes
                == BurnlinkCrypto.HKDF.derive(
                    salt: [UInt8](), ikm: [keys.publicKey], info: Array("burnlink v1 request fill".utf8), length: 32
                ).bytes)
        #expect(keys.answerToken != fill)
        #expect(throws: BurnlinkError.self) { try RequestKeyPair(secretKey: SecretBytes.random(count: 31)) }
    }
}

@Suite("Request known-answer vectors")
struct RequestVectorTests {
    @Test("request vector decodes to its expected outcome", arguments: Vectors.names(prefix: "request-"))
    func requestVector(name: String) throws {
        var vector = try Vectors.load(name)
        let secretKey = try #require(Base64URL.decodeSecret(vector.require("secret-key"), count: 32))
        let keys = try RequestKeyPair(secretKey: secretKey)
        #expect(Base64URL.encode(keys.publicKey) == vector["public-key"])
        #expect(RequestKeys.fillToken(publicKey: keys.publicKey).base64URL == vector["fill-token"])
        #expect(keys.answerToken.base64URL == vector["answer-token"])
        let sealed = try #require(Base64URL.decode(vector.require("sealed-key")))
        let expect = try vector.require("expect")
        let linkKey: SecretBytes
        do {
            linkKey = try SealedKey.open(sealed, with: keys)
        } catch {
            #expect(expect == "error bad-sealed-key", "\(name): \(error)")
            return
        }
        #expect(expect == "success")
        #expect(KeySchedule.claimToken(linkKey: linkKey).base64URL == vector["claim-token"])
        vector.fields.append(("key", linkKey.base64URL))
        let (metadata, content) = try openVector(vector)
        #expect((metadata.kind == .text ? "text" : "file") == vector["kind"])
        #expect(metadata.fileName == vector["name"])
        #expect(String(content.count) == vector["content-length"])
        #expect(hexString(BurnlinkCrypto.SHA256.hash(content)) == vector["content-sha256"])
    }

    @Test("the request files match what the catalog builds, byte for byte")
    func requestVectorsAreUpToDate() throws {
        let entries = RequestVectorCatalog.entries
        if ProcessInfo.processInfo.environment["BURNLINK_WRITE_VECTORS"] == "1" {
            for stale in Vectors.names(prefix: "request-") {
                try FileManager.default.removeItem(at: Vectors.directory.appendingPathComponent(stale))
            }
            for entry in entries {
                try Data(entry.file.serialized()).write(to: Vectors.directory.appendingPathComponent(entry.name + ".vector"))
            }
        }
        #expect(Vectors.names(prefix: "request-") == entries.map { $0.name + ".vector" }.sorted())
        for entry in entries {
            let onDisk = try Vectors.load(entry.name + ".vector")
            #expect(onDisk == entry.file, "\(entry.name) differs from what the catalog builds")
        }
    }
}
