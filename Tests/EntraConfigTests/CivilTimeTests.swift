import Foundation
import Testing
@testable import EntraConfig

/// Dates in profiles and certificates are read with timegm, not a Foundation calendar or formatter
/// (those load time zone data when made and trap when no descriptor is left).
@Suite("civil time")
struct CivilTimeTests {
    @Test("dates and times in UTC, as Foundation's Gregorian calendar reads them")
    func matchesCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for (y, m, d, h, mi, s) in [(1970, 1, 1, 0, 0, 0), (2000, 2, 29, 12, 30, 59), (2027, 3, 31, 0, 0, 0), (2049, 12, 31, 23, 59, 59),
                                    (1950, 6, 15, 1, 2, 3), (9999, 12, 31, 23, 59, 59)] {
            let expected = calendar.date(from: DateComponents(year: y, month: m, day: d, hour: h, minute: mi, second: s))!.timeIntervalSince1970
            #expect(CivilTime.utc(year: y, month: m, day: d, hour: h, minute: mi, second: s) == expected, "\(y)-\(m)-\(d)")
        }
    }

    @Test("a day that does not exist, or text that is not a date, is refused")
    func refused() {
        #expect(CivilTime.utc(year: 2027, month: 2, day: 29) == nil)
        #expect(CivilTime.utc(year: 2027, month: 13, day: 1) == nil)
        #expect(CivilTime.utc(date: "2027-03-31") == 1_806_451_200)
        #expect(CivilTime.utc(date: "2027-3-1") == CivilTime.utc(year: 2027, month: 3, day: 1))
        for text in ["", "2027-03", "2027-03-31T00:00", "27-03-31", "2027-02-30", "2027--31", "+027-03-31", "2027-03-3x", " 2027-03-31"] {
            #expect(CivilTime.utc(date: text) == nil, "\(text)")
        }
    }
}
