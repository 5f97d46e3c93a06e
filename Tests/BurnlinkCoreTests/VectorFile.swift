import BurnlinkCore
import Foundation

/// One known-answer file (docs/format.md section 4): `name: value` lines, an empty
/// line, then raw bytes.
struct VectorFile: Equatable {
    var fields: [(name: String, value: String)]
    var body: [UInt8]

    init(fields: [(String, String)], body: [UInt8] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
        self.body = body
    }

    subscript(name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    func require(_ name: String) throws -> String {
        guard let value = self[name] else { throw VectorError.missingField(name) }
        return value
    }

    func serialized() -> [UInt8] {
        let header = fields.map { $0.value.isEmpty ? "\($0.name):" : "\($0.name): \($0.value)" }
        return Array((header.joined(separator: "\n") + "\n\n").utf8) + body
    }

    static func parse(_ bytes: [UInt8]) throws -> VectorFile {
        let separator: [UInt8] = [0x0A, 0x0A]
        guard let split = bytes.firstRange(of: separator) else { throw VectorError.noHeaderEnd }
        let headerText = String(decoding: bytes[..<split.lowerBound], as: UTF8.self)
        var fields: [(String, String)] = []
        for line in headerText.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { throw VectorError.badLine(String(line)) }
            var value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
            fields.append((String(line[..<colon]), String(value)))
        }
        return VectorFile(fields: fields, body: Array(bytes[split.upperBound...]))
    }

    static func == (lhs: VectorFile, rhs: VectorFile) -> Bool {
        lhs.serialized() == rhs.serialized()
    }
}

enum VectorError: Error {
    case missingField(String)
    case noHeaderEnd
    case badLine(String)
    case badHex(String)
}

enum Vectors {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Vectors")

    static func names(prefix: String) -> [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return all.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".vector") }.sorted()
    }

    static func load(_ name: String) throws -> VectorFile {
        try VectorFile.parse(Array(Data(contentsOf: directory.appendingPathComponent(name))))
    }
}

func hexBytes(_ text: String) throws -> [UInt8] {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { throw VectorError.badHex(text) }
    return try stride(from: 0, to: chars.count, by: 2).map { index in
        guard let byte = UInt8(String(decoding: chars[index..<index + 2], as: UTF8.self), radix: 16) else {
            throw VectorError.badHex(text)
        }
        return byte
    }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

extension VectorFile: CustomStringConvertible {
    /// Short enough to read in a failed expectation: the header and a digest of the body.
    var description: String {
        let header = fields.map { "\($0.name): \($0.value)" }.joined(separator: "; ")
        return "[\(header); body \(body.count) bytes sha256 \(hexString(BurnlinkCrypto.SHA256.hash(body)))]"
    }
}
