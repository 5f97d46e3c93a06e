import BurnlinkTestSupport
import Foundation
import Testing

/// File names are bytes to the filesystem (NAME_MAX, 255 here) but characters to a sender:
/// a name that fits the sender's filesystem must still fit ours once the numbered and the
/// temporary names (`.NAME.burnlink-XXXXXXXX.part`, 24 bytes more) are built from it.
@Suite("output file names within NAME_MAX")
struct OutputNameTests {
    static let nameMax = 255
    static let temporaryOverhead = ".".utf8.count + ".burnlink-XXXXXXXX.part".utf8.count

    @Test(
        "a long sender name is cut by bytes, extension kept: saved with --output ., and numbered beside an existing one",
        arguments: [
            String(repeating: "é", count: 127),  // 254 bytes: fits NAME_MAX, not with the temporary name's 24
            String(String(repeating: "日本語の書類", count: 13).prefix(76)) + ".pdf",  // 76 characters × 3 bytes + ".pdf"
        ])
    func longSenderName(name: String) async throws {
        try await withServer { server in
            let downloads = server.directory.file("downloads")
            try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)
            let first = try await server.send("first copy", ["--name", name])
            let second = try await server.send("second copy", ["--name", name])

            for link in [first, second] {
                let opened = try await server.open(link, ["--output", "."], directory: URL(fileURLWithPath: downloads))
                #expect(opened.status == 0, "\(opened)")
            }
            let saved = Files.listing(downloads)
            #expect(saved.count == 2, "\(saved)")
            #expect(!saved.contains { $0.hasSuffix(".part") }, "\(saved)")
            for file in saved {
                #expect(file.utf8.count + Self.temporaryOverhead <= Self.nameMax, "\(file.utf8.count) bytes: \(file)")
                #expect(file.hasSuffix(".pdf") == name.hasSuffix(".pdf"), "\(file)")
                #expect(name.hasPrefix(file.prefix(10)), "not a cut of the sender's name: \(file)")
            }
            let numbered = try #require(saved.first { $0.contains(" (2)") }, "\(saved)")
            let plain = try #require(saved.first { !$0.contains(" (2)") }, "\(saved)")
            #expect(Files.contents(downloads + "/" + plain) == Data("first copy".utf8))
            #expect(Files.contents(downloads + "/" + numbered) == Data("second copy".utf8))
        }
    }

    @Test(
        "--output NAME too long for .NAME.burnlink-….part opens through a shorter temporary name; a NAME over NAME_MAX is refused before the claim"
    )
    func longOutputName() async throws {
        try await withServer { server in
            let content = randomData(count: 100_000)
            let source = server.directory.file("payload.bin")
            try content.write(to: URL(fileURLWithPath: source))
            let link = try await server.send(Data(), [source])[0]

            let tooLong = server.directory.file(String(repeating: "x", count: Self.nameMax + 1 - 4) + ".bin")
            let refused = try await server.open(link, ["--output", tooLong])
            expectFailure(refused, exit: 2, mentioning: ["too long", "256 bytes"])

            // The refusal spent nothing: the same link opens into a name of 250 bytes.
            let long = server.directory.file(String(repeating: "y", count: 246) + ".bin")
            let opened = try await server.open(link, ["--output", long])
            #expect(opened.status == 0, "\(opened)")
            #expect(Files.contents(long) == content)
            #expect(!Files.listing(server.directory.path).contains { $0.hasSuffix(".part") })
        }
    }
}
