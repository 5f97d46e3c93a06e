import Testing

@testable import BurnlinkServer

@Suite("SQLite checkpoint pacing")
struct CheckpointPacingTests {
    @Test("slow checkpoints halve the wait down to the shortest; quick ones let it grow back to the longest")
    func followsCheckpointTimes() {
        var pacing = CheckpointPacing(longest: .milliseconds(50), shortest: .milliseconds(2), slow: .milliseconds(2))
        #expect(pacing.wait == .milliseconds(50))

        pacing.checkpointTook(.milliseconds(30))
        #expect(pacing.wait == .milliseconds(25))
        for _ in 0..<10 { pacing.checkpointTook(.milliseconds(9)) }
        #expect(pacing.wait == .milliseconds(2))

        // Between half of `slow` and `slow`: the wait holds.
        pacing.checkpointTook(.microseconds(1500))
        #expect(pacing.wait == .milliseconds(2))

        pacing.checkpointTook(.microseconds(400))
        #expect(pacing.wait == .microseconds(2500))
        for _ in 0..<30 { pacing.checkpointTook(.microseconds(400)) }
        #expect(pacing.wait == .milliseconds(50))
    }

    @Test("the wait never leaves its bounds")
    func staysWithinBounds() {
        var pacing = CheckpointPacing(longest: .milliseconds(50), shortest: .milliseconds(5), slow: .milliseconds(4))
        for took in [1, 90, 90, 90, 90, 90, 90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40] {
            pacing.checkpointTook(.milliseconds(took))
            #expect(pacing.wait >= .milliseconds(5) && pacing.wait <= .milliseconds(50))
        }
    }
}
