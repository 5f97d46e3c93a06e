import Testing

@testable import BurnlinkClient

@Suite("CLI start-up")
struct StartUpTests {
    @Test("the sample answer decoded in the background at start-up is one the client accepts")
    func sampleAnswerDecodes() throws {
        // If the response type changed and the sample no longer decoded, the warm-up would
        // fail silently (try?) and the send would pay for the first decode again.
        let answer = try APIClient.decodeSampleAnswer()
        #expect(answer.id == "pFeHrmPCRIl7oMl7gzV-Cw")
        #expect(answer.maxViews == 1)
        #expect(answer.publicURL == nil)
    }
}
