import Foundation
import Testing

@testable import BurnlinkClient

/// A failure after the claim, with the session still open, tells the user the secret is
/// held: and keeps what the failure itself advised.
@Suite("the hint of a failure that leaves the secret held")
struct HeldHintTests {
    let until = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("an output failure with a hint of its own keeps it before the held advice")
    func outputHintKept() throws {
        let synced = ClientError.other(
            "syncing the directory of out.bin failed: Input/output error",
            hint: "out.bin is written, but may not survive a crash of this machine")
        let hint = try #require(ClientError.held(synced, until: until).hint)
        #expect(
            hint.hasPrefix("out.bin is written, but may not survive a crash of this machine; the secret is held for you until "))
        #expect(hint.hasSuffix("run the same command again, with another --output if this one cannot be written"))
    }

    @Test("an output failure without a hint gets the held advice alone; a network one the plain re-run")
    func heldAdviceAlone() throws {
        let written = try #require(ClientError.held(.other("writing out.bin failed: No space left on device"), until: until).hint)
        #expect(written.hasPrefix("the secret is held for you until "))
        #expect(written.hasSuffix("with another --output if this one cannot be written"))
        let cut = try #require(ClientError.held(.network("the connection was cut"), until: until).hint)
        #expect(cut.hasPrefix("the secret is held for you until ") && cut.hasSuffix("; run the same command again"))
    }
}
