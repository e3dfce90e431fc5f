import Testing
@testable import TTLKV

/// The worker's per-round record of removals: events as recorded, and
/// what its buffers keep between rounds.
@Suite struct ExpiryReportTests {
    @Test func eventsKeepTheirKeysDeadlinesAndRemovalTimes() {
        var report = ExpiryReport()
        report.reserve(keys: 2)
        Array("first".utf8).withUnsafeBytes { report.append(key: $0, deadline: 10) }
        report.stamp(removedAt: 12, from: 0)
        Array("second".utf8).withUnsafeBytes { report.append(key: $0, deadline: 11, evicted: true) }
        report.stamp(removedAt: 15, from: 1)
        let events = report.events
        #expect(events.map { String(decoding: $0.key, as: UTF8.self) } == ["first", "second"])
        #expect(events.map(\.deadline) == [.init(milliseconds: 10), .init(milliseconds: 11)])
        #expect(events.map(\.removedAt) == [.init(milliseconds: 12), .init(milliseconds: 15)])
        #expect(events.map(\.cause) == [.expired, .evicted])
        report.removeAll()
        #expect(report.isEmpty && report.events.isEmpty)
    }

    /// A round's buffers are kept for the next round up to a bound; a mass
    /// expiry's, or one huge key's, are let go.
    @Test func aBigRoundsBuffersAreNotKept() {
        var report = ExpiryReport()
        func round(keys: Int, keyLength: Int) {
            let key = [UInt8](repeating: 7, count: keyLength)
            key.withUnsafeBytes { key in
                for _ in 0..<keys { report.append(key: key, deadline: 1) }
            }
            report.removeAll()
        }
        round(keys: 1000, keyLength: 16)
        let small = report.allocatedBytes
        #expect(small >= 1000 * 16)
        round(keys: 1000, keyLength: 16)
        #expect(report.allocatedBytes == small)
        round(keys: 1, keyLength: 8 << 20)
        #expect(report.allocatedBytes < 1 << 20)
        round(keys: 100_000, keyLength: 1)
        #expect(report.allocatedBytes < 1 << 20)
    }
}
