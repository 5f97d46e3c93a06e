import Testing

@testable import BurnlinkServer

@Suite("time zone kept loaded for log timestamps")
struct LocalTimeZoneTests {
    @Test("the system's zone file when TZ is unset; an operator's TZ, even empty, is left alone")
    func operatorZoneWins() {
        #expect(LocalTimeZone.zoneToSet(current: nil) == ":/etc/localtime")
        #expect(LocalTimeZone.zoneToSet(current: "Europe/Paris") == nil)
        #expect(LocalTimeZone.zoneToSet(current: "") == nil)
    }
}
