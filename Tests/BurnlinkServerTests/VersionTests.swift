import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import Testing

@Suite("version")
struct VersionTests {
    @Test("both programs print the one version, and CHANGELOG.md's newest entry names it")
    func oneVersion() async throws {
        for binary in [Binaries.cli.path, Binaries.server.path] {
            let printed = try await ChildProcess.run(binary, ["--version"])
            #expect(printed.status == 0, "\(printed)")
            #expect(printed.out == BurnlinkVersion.current + "\n", "\(binary): \(printed)")
        }
        #expect(BurnlinkVersion.current.wholeMatch(of: /\d+\.\d+\.\d+/) != nil)
        let changelog = try String(
            contentsOf: Binaries.packageRoot.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let newest = try #require(changelog.split(separator: "\n").first { $0.hasPrefix("## ") })
        #expect(newest.hasPrefix("## \(BurnlinkVersion.current) "), "\(newest)")
    }
}
