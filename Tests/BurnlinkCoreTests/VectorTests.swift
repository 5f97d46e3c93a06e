import Foundation
import Testing

@testable import BurnlinkCore

/// Decodes a vector's envelope the way a client would: KDF parameters first, then the
/// stream fed in uneven pieces. Returns metadata and content, or throws the Core error.
func openVector(_ vector: VectorFile) throws -> (InnerMetadata, [UInt8]) {
    let key = try #require(Base64URL.decodeSecret(vector.require("key"), count: 32))
    var passwordKey: SecretBytes?
    if let password = vector["password"] {
        let parameters = try KDFParameters(encoded: vector.require("kdf"))
        passwordKey = try parameters.deriveKey(password: KDFParameters.passwordBytes(password))
    }
    let opener = EnvelopeOpener(linkKey: key, passwordKey: passwordKey)
    var content: [UInt8] = []
    var offset = 0
    var piece = 1
    while offset < vector.body.count {
        let end = min(offset + piece, vector.body.count)
        content += try opener.update(vector.body[offset..<end])
        offset = end
        piece = piece * 7 + 3  // 1, 10, 73, 514, ...: crosses every boundary kind
    }
    content += try opener.finish()
    return (try #require(opener.metadata), content)
}

@Suite("Known-answer vectors")
struct VectorTests {
    @Test("envelope vector decodes to its expected outcome", arguments: Vectors.names(prefix: "envelope-"))
    func envelopeVector(name: String) throws {
        let vector = try Vectors.load(name)
        let key = try #require(Base64URL.decodeSecret(vector.require("key"), count: 32))
        #expect(KeySchedule.claimToken(linkKey: key).base64URL == vector["claim-token"])

        let expect = try vector.require("expect")
        if expect == "success" {
            let (metadata, content) = try openVector(vector)
            #expect((metadata.kind == .text ? "text" : "file") == vector["kind"])
            #expect(metadata.fileName == vector["name"])
            #expect(metadata.contentSize.map(String.init) ?? "none" == vector["size"])
            #expect(String(content.count) == vector["content-length"])
            #expect(hexString(BurnlinkCrypto.SHA256.hash(content)) == vector["content-sha256"])
            if let proof = vector["password-proof"], let password = vector["password"] {
                let parameters = try KDFParameters(encoded: vector.require("kdf"))
                let passwordKey = try parameters.deriveKey(password: KDFParameters.passwordBytes(password))
                #expect(KeySchedule.passwordProof(linkKey: key, passwordKey: passwordKey).base64URL == proof)
            }
        } else {
            let code = try #require(expect.split(separator: " ").last.map(String.init))
            #expect(expect == "error \(code)")
            do {
                _ = try openVector(vector)
                Issue.record("\(name) opened, but \(expect) was expected")
            } catch let error as BurnlinkError {
                #expect(error.code == code, "\(name): \(error)")
            }
        }
    }

    @Test("the files match what the catalog builds, byte for byte")
    func vectorsAreUpToDate() throws {
        let entries = VectorCatalog.entries
        if ProcessInfo.processInfo.environment["BURNLINK_WRITE_VECTORS"] == "1" {
            for stale in Vectors.names(prefix: "envelope-") {
                try FileManager.default.removeItem(at: Vectors.directory.appendingPathComponent(stale))
            }
            for entry in entries {
                try Data(entry.file.serialized()).write(to: Vectors.directory.appendingPathComponent(entry.name + ".vector"))
            }
        }
        #expect(Vectors.names(prefix: "envelope-") == entries.map { $0.name + ".vector" }.sorted())
        for entry in entries {
            let onDisk = try Vectors.load(entry.name + ".vector")
            #expect(onDisk == entry.file, "\(entry.name) differs from what the catalog builds")
        }
        #expect(entries.filter { $0.expect == "success" }.count >= 8)
        #expect(entries.count >= 40)
    }

    @Test("HKDF-SHA-256 matches RFC 5869", arguments: Vectors.names(prefix: "hkdf-"))
    func hkdf(name: String) throws {
        let vector = try Vectors.load(name)
        let ikm = try hexBytes(vector.require("ikm"))
        let salt = try hexBytes(vector.require("salt"))
        let info = try hexBytes(vector.require("info"))
        let length = try #require(Int(vector.require("length")))
        let prk = BurnlinkCrypto.HKDF.extract(salt: salt, ikm: [ikm])
        #expect(hexString(prk.bytes) == vector["prk"])
        let okm = BurnlinkCrypto.HKDF.derive(
            salt: salt, ikm: [Array(ikm.prefix(5)), Array(ikm.dropFirst(5))], info: info, length: length)
        #expect(hexString(okm.bytes) == vector["okm"])
    }

    @Test("there are RFC 5869 vectors to check")
    func hkdfVectorsPresent() {
        #expect(Vectors.names(prefix: "hkdf-").count == 3)
    }

    @Test("secretbox matches libsodium's own known answer")
    func secretbox() throws {
        let vector = try Vectors.load("secretbox-libsodium-easy.vector")
        let key = SecretBytes(copying: try hexBytes(vector.require("key")))
        let nonce = try hexBytes(vector.require("nonce"))
        let message = try hexBytes(vector.require("message"))
        let expected = try hexBytes(vector.require("box"))
        var box = [UInt8](repeating: 0, count: message.count + Envelope.tagCount)
        box.withUnsafeMutableBytes { out in
            message.withUnsafeBytes { _ = SecretBox.seal($0, nonce: nonce, key: key, into: out.baseAddress!) }
        }
        #expect(box == expected)
        var opened = [UInt8](repeating: 0, count: message.count)
        let count = opened.withUnsafeMutableBytes { out in
            box.withUnsafeBytes { SecretBox.open($0, nonce: nonce, key: key, into: out.baseAddress!) }
        }
        #expect(count == message.count)
        #expect(opened == message)
        box[20] ^= 1
        let tampered = opened.withUnsafeMutableBytes { out in
            box.withUnsafeBytes { SecretBox.open($0, nonce: nonce, key: key, into: out.baseAddress!) }
        }
        #expect(tampered == nil)
    }
}
