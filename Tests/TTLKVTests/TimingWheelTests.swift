import Testing
@_spi(Benchmarks) @testable import TTLKV

/// Deterministic tests of the timing wheel: no threads, no clock but the
/// numbers passed to `advance(to:)`.
@Suite struct TimingWheelTests {
    static let resolution: UInt64 = 10

    /// A test's short key name (at most 8 bytes) as a record's handle, and
    /// back: the wheel only carries handles.
    static func handle(_ key: String) -> UInt64 {
        precondition(key.utf8.count <= 8)
        return key.utf8.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    static func name(_ handle: UInt64) -> String {
        String(decoding: (0..<8).map { UInt8(truncatingIfNeeded: handle >> (8 * $0)) }.filter { $0 != 0 }, as: UTF8.self)
    }

    /// Keys of every record `advance(to:)` makes due, and their deadlines.
    static func fire(_ wheel: inout TimingWheel, at now: UInt64) -> [(key: String, deadline: UInt64)] {
        wheel.advance(to: now)
        var fired: [(String, UInt64)] = []
        _ = wheel.takeDue(limit: .max) { handle, deadline in
            fired.append((name(handle), deadline))
            return nil
        }
        return fired
    }

    static func schedule(_ wheel: inout TimingWheel, _ key: String, _ deadline: UInt64) {
        wheel.schedule(handle: handle(key), deadline: deadline)
    }

    /// A record fires at the end of its deadline's tick: never before the
    /// deadline, at most one tick after it.
    static let delays: [UInt64] = [
        5, 10, 639, 640, 641,                    // level 0 and its edge
        1_927, 40_950,                           // level 1
        40_961, 2_000_000,                       // level 2
        7_864_320, 167_772_169,                  // levels 3 and 4
    ]

    @Test(arguments: delays)
    func firesNeitherEarlyNorLate(after delay: UInt64) {
        let start: UInt64 = 1_000_003
        var wheel = TimingWheel(resolution: Self.resolution, now: start)
        let deadline = start + delay
        Self.schedule(&wheel, "k", deadline)
        #expect(Self.fire(&wheel, at: deadline - 1).isEmpty)
        #expect(wheel.count == 1)
        let due = (deadline / Self.resolution + 1) * Self.resolution
        #expect(wheel.nextWakeMilliseconds() == due)
        #expect(Self.fire(&wheel, at: due - 1).isEmpty)
        let fired = Self.fire(&wheel, at: due)
        #expect(fired.map(\.key) == ["k"])
        #expect(fired.first?.deadline == deadline)
        #expect(wheel.count == 0)
        #expect(wheel.nextWakeMilliseconds() == nil)
    }

    @Test func recordsAtEveryLevelCascadeInDeadlineOrder() {
        var wheel = TimingWheel(resolution: 1, now: 0)
        let deadlines: [UInt64] = [3, 70, 5_000, 300_000, 20_000_000, 1_100_000_000, 2_000_000_000]
        for (i, d) in deadlines.enumerated().reversed() { Self.schedule(&wheel, "r\(i)", d) }
        var order: [String] = []
        var now: UInt64 = 0
        while let wake = wheel.nextWakeMilliseconds() {
            #expect(wake > now)
            now = wake
            for record in Self.fire(&wheel, at: now) {
                #expect(record.deadline < now && now <= record.deadline + 1)
                order.append(record.key)
            }
        }
        #expect(order == deadlines.indices.map { "r\($0)" })
    }

    @Test func deadlinesNowAndInThePastAreDueAtOnce() {
        var wheel = TimingWheel(resolution: Self.resolution, now: 5_000)
        Self.schedule(&wheel, "past", 10)
        Self.schedule(&wheel, "now", 4_999)
        #expect(wheel.hasDue)
        #expect(wheel.nextWakeMilliseconds() == 5_000)
        #expect(Self.fire(&wheel, at: 5_000).map(\.key) == ["past", "now"])
    }

    @Test func horizonAndFarBeyond() {
        let start: UInt64 = 0
        var wheel = TimingWheel(resolution: Self.resolution, now: start)
        let horizon = TimingWheel.horizonTicks * Self.resolution
        let hundredYears: UInt64 = 3_155_760_000_000
        Self.schedule(&wheel, "horizon", horizon - 1)
        Self.schedule(&wheel, "beyond", horizon * 3 + 12_345)
        Self.schedule(&wheel, "century", hundredYears)
        #expect(Self.fire(&wheel, at: horizon - 2).isEmpty)
        #expect(Self.fire(&wheel, at: horizon + Self.resolution).map(\.key) == ["horizon"])
        #expect(Self.fire(&wheel, at: horizon * 3 + 12_339).isEmpty)
        #expect(Self.fire(&wheel, at: horizon * 3 + 12_350).map(\.key) == ["beyond"])
        #expect(Self.fire(&wheel, at: hundredYears - 1).isEmpty)
        #expect(Self.fire(&wheel, at: hundredYears + Self.resolution).map(\.key) == ["century"])
        #expect(wheel.count == 0)
    }

    /// The worker's pattern: records keep arriving while the wheel advances
    /// one tick at a time; every record fires, none early, none late.
    @Test func tickByTickAdvanceFiresEveryRecord() {
        var wheel = TimingWheel(resolution: Self.resolution, now: 1_000_000)
        var now: UInt64 = 1_000_000
        var random = SystemRandomNumberGenerator()
        var scheduled = 0, fired = 0, wrong = 0
        for step in 0..<3_000 {
            if step < 800 {
                for _ in 0..<20 {
                    Self.schedule(&wheel, "k", now + 1 + UInt64.random(in: 0..<5_000, using: &random))
                    scheduled += 1
                }
            }
            now += Self.resolution
            wheel.advance(to: now)
            _ = wheel.takeDue(limit: .max) { _, deadline in
                fired += 1
                if deadline >= now || now - deadline > Self.resolution { wrong += 1 }
                return nil
            }
        }
        #expect(fired == scheduled)
        #expect(wrong == 0)
        #expect(wheel.count == 0)
    }

    @Test func skipsEmptyTicksInOneStep() {
        var wheel = TimingWheel(resolution: Self.resolution, now: 0)
        Self.schedule(&wheel, "a", 1_000_000)
        wheel.advance(to: 999_990)
        #expect(wheel.nextTick == 99_999)
        #expect(Self.fire(&wheel, at: 1_000_010).map(\.key) == ["a"])
    }

    @Test func budgetCarriesTheRestOverAndReschedulesKeepCount() {
        var wheel = TimingWheel(resolution: 1, now: 0)
        for i in 0..<1_000 { Self.schedule(&wheel, "k\(i)", 5) }
        wheel.advance(to: 6)
        var seen: [String] = []
        let first = wheel.takeDue(limit: 300) { handle, _ in
            seen.append(Self.name(handle))
            return nil
        }
        #expect(first == 300)
        #expect(wheel.count == 700)
        #expect(wheel.hasDue)
        // The next 700 ask to be looked at again later: they stay counted.
        let second = wheel.takeDue(limit: .max) { handle, _ in
            seen.append(Self.name(handle))
            return 50
        }
        #expect(second == 700)
        #expect(seen == (0..<1_000).map { "k\($0)" })
        #expect(wheel.count == 700)
        #expect(!wheel.hasDue)
        #expect(Self.fire(&wheel, at: 50).isEmpty)
        #expect(Self.fire(&wheel, at: 51).count == 700)
        #expect(wheel.count == 0)
    }

    @Test func shouldStopEndsARoundEarly() {
        var wheel = TimingWheel(resolution: 1, now: 0)
        for i in 0..<1_000 { Self.schedule(&wheel, "k\(i)", 1) }
        wheel.advance(to: 2)
        let taken = wheel.takeDue(limit: .max, shouldStop: { true }) { _, _ in nil }
        #expect(taken == 64)   // asked before every batch but the first
        #expect(wheel.count == 936)
    }

    /// The expiry worker's form: batches of at most `batchSize`, in order,
    /// never past the limit, across the due queue's arenas; a record given
    /// a later deadline stays counted and fires then.
    @Test func batchesKeepOrderSizeAndLimit() {
        var wheel = TimingWheel(resolution: 1, now: 0)
        for i in 0..<150 { Self.schedule(&wheel, "a\(i)", 3) }
        for i in 0..<100 { Self.schedule(&wheel, "b\(i)", 4) }   // a second arena
        wheel.advance(to: 5)
        var sizes: [Int] = [], seen: [String] = []
        let taken = wheel.takeDue(limit: 240, batchSize: 64) { handles, deadlines, later in
            sizes.append(handles.count)
            for i in handles.indices {
                let key = Self.name(handles[i])
                seen.append(key)
                #expect(deadlines[i] == (key.hasPrefix("a") ? 3 : 4))
                #expect(later[i] == 0)
                if i % 2 == 0 { later[i] = 9 }
            }
        }
        #expect(taken == 240)
        #expect(sizes == [64, 64, 22, 64, 26])
        #expect(seen == (0..<150).map { "a\($0)" } + (0..<90).map { "b\($0)" })
        #expect(wheel.count == 10 + 120)   // 10 left due, 120 rescheduled
        #expect(Self.fire(&wheel, at: 9).map(\.key) == (90..<100).map { "b\($0)" })
        #expect(Self.fire(&wheel, at: 10).count == 120)
        #expect(wheel.count == 0)
    }

    /// The wheel keeps no copy of a key: 100,000 pending records take 16
    /// bytes each, plus what their arrays hold in reserve.
    @Test func aPendingRecordCostsSixteenBytesWhateverItsKey() {
        var wheel = TimingWheel(resolution: 1, now: 0)
        for i in 0..<100_000 { wheel.schedule(handle: UInt64(i) &* 0x9E37_79B9_7F4A_7C15, deadline: 500) }
        #expect(MemoryLayout<WheelRecord>.stride == 16)
        #expect(wheel.allocatedBytes >= 100_000 * 16)
        #expect(wheel.allocatedBytes <= 100_000 * 16 * 2)
    }
}
