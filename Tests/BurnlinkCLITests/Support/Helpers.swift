import BurnlinkTestSupport
import Foundation
import Testing

/// The parts of a link the tests poke at.
struct ParsedLink {
    let server: String
    let id: String
    let key: String

    init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let slash = trimmed.range(of: "/s/"), let hash = trimmed.range(of: "#") else {
            throw CLITestFailure("not a link: \(trimmed)")
        }
        server = String(trimmed[..<slash.lowerBound])
        id = String(trimmed[slash.upperBound..<hash.lowerBound])
        key = String(trimmed[hash.upperBound...])
    }

    var text: String { "\(server)/s/\(id)#\(key)" }

    /// The secret's id as the SQLite blob literal's hex digits.
    var idHex: String { Self.hex(Self.base64URLDecode(id)) }

    static func base64URLDecode(_ text: String) -> Data {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64) ?? Data()
    }

    static func hex(_ data: Data) -> String { data.map { String(format: "%02X", $0) }.joined() }
}

/// `http://127.0.0.1:PORT/s/<22 base64url>#<43 base64url>`, and nothing else.
var linkPattern: Regex<Substring> { #/^http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$/# }

extension TestServer {
    /// `burnlink send ARGS` with `stdin`; expects exit 0 and returns the link(s) printed.
    func send(_ stdin: Data, _ arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> [String]
    {
        let result = try await CLI.run(["send"] + arguments, stdin: stdin, environment: environment)
        try #require(result.status == 0, "send failed: \(result)", sourceLocation: sourceLocation)
        return result.out.split(separator: "\n").map(String.init)
    }

    func send(_ text: String, _ arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> String
    {
        let links = try await send(Data(text.utf8), arguments, sourceLocation: sourceLocation)
        try #require(links.count == 1, "expected one link, got \(links)", sourceLocation: sourceLocation)
        return links[0]
    }

    /// `burnlink open` with the link on stdin.
    func open(_ link: String, _ arguments: [String] = [], directory: URL? = nil) async throws -> CLIResult {
        try await CLI.run(["open"] + arguments, stdin: link + "\n", environment: environment, directory: directory)
    }

    /// `burnlink send FILE ARGS` of `count` random bytes written to a file first; returns
    /// the bytes and the link(s).
    func sendRandomFile(
        count: Int, _ arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (content: Data, links: [String]) {
        let content = randomData(count: count)
        let source = directory.file("random.bin")
        try content.write(to: URL(fileURLWithPath: source))
        return (content, try await send(Data(), [source] + arguments, sourceLocation: sourceLocation))
    }

    /// Writes `text` to a fresh file in the server's temporary directory; returns its path.
    func writeFile(_ name: String, _ text: String) throws -> String {
        let path = directory.file(name)
        try Files.write(text, to: path)
        return path
    }
}

/// Checks the house style of a failure: exit code, `burnlink: error: ` first, a `hint:` line.
func expectFailure(
    _ result: CLIResult, exit code: Int32, mentioning words: [String] = [], hint: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == code, "\(result)", sourceLocation: sourceLocation)
    #expect(!result.timedOut, "\(result)", sourceLocation: sourceLocation)
    #expect(result.err.hasPrefix("burnlink: error: "), "\(result)", sourceLocation: sourceLocation)
    if hint {
        #expect(
            result.err.split(separator: "\n").contains { $0.hasPrefix("hint: ") }, "no hint line: \(result)",
            sourceLocation: sourceLocation)
    }
    for word in words {
        #expect(
            result.err.localizedCaseInsensitiveContains(word), "stderr lacks '\(word)': \(result)",
            sourceLocation: sourceLocation)
    }
    #expect(result.stdout.isEmpty, "a failure printed on stdout: \(result)", sourceLocation: sourceLocation)
}

/// The exact "gone" message: one message for read, expired, revoked and never existed.
let goneMessage = "burnlink: error: this secret is gone"

/// The `sqlite3` command-line tool, on the server's live database file.
enum SQLite {
    static let path = Binaries.onPath("sqlite3")

    static func query(_ database: String, _ sql: String) async throws -> String {
        guard let path else { throw CLITestFailure("sqlite3 is not installed") }
        let result = try await CLI.tool(path, ["-batch", "-cmd", ".timeout 5000", database, sql])
        guard result.status == 0 else { throw CLITestFailure("sqlite3 failed: \(result)") }
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
