import Histogram
import Testing
@testable import ttlkv_bench

@Suite struct ChurnScheduleTests {
    @Test func keysExpireInTheirOwnStoresSliceTwoTurnsLater() {
        let s = ChurnSchedule(liveKeys: 200_000, rate: 200_000, replacements: 20)
        #expect(s.sliceSeconds == 0.5)
        // Live count = rate x the store's active time within one TTL
        // (it is active every other slice).
        #expect(Double(s.ttlMilliseconds) / 1000 == 4 * s.sliceSeconds)
        #expect(200_000 * s.sliceSeconds * 2 == 200_000)
        // Slice k belongs to store k % 2 and ends at (k + 1) x slice; a
        // TTL later is exactly four slices on, the same store's slice.
        let ttl = UInt64(s.ttlMilliseconds) * 1_000_000
        #expect(s.end(ofSlice: 3) + ttl == s.end(ofSlice: 7))
    }

    @Test func windowsCoverEverySliceAfterTheFillOnce() {
        for replacements in [5, 7, 10, 20, 23] {
            let s = ChurnSchedule(liveKeys: 1000, rate: 1000, replacements: replacements)
            #expect(s.slicesPerStore == 2 * (replacements + 1))
            #expect(s.windows.count == min(10, replacements))
            #expect(s.windows.first?.lowerBound == 2)
            #expect(s.windows.last?.upperBound == s.slicesPerStore)
            #expect(zip(s.windows, s.windows.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(s.windows.allSatisfy { $0.count >= 2 && $0.count % 2 == 0 })
            #expect(s.replaced.first?.lowerBound == 1 && s.replaced.last?.upperBound == replacements)
        }
    }
}

/// Runs one small storm on each store, in this process.
private struct OneStorm: StoreUser {
    let settings: BenchSettings
    let lead: Double

    func use<S: BenchStore>(_ store: S) throws -> (StormRound, Int) {
        defer { store.close() }
        let bench = StoreBench(store: store, settings: settings, name: "test")
        _ = bench.preload(0..<settings.keys)
        let round = bench.storm(StormRequest(stormKeys: settings.stormKeys, leadSeconds: lead,
                                             load: settings.spec(mix: OperationMix(get: 90, set: 10, delete: 0)),
                                             warmupSeconds: 0.05, afterSeconds: 0.1))
        return (round, store.snapshot.entries)
    }
}

@Suite struct StormTests {
    /// With a lead of 0 every key is written past the deadline (a setup
    /// too slow for its lead): the round must still end once all are gone.
    @Test(arguments: [StoreChoice.ck, .native], [0.3, 0])
    func everyStormKeyExpiresAndIsCounted(store: StoreChoice, lead: Double) throws {
        let settings = BenchSettings(
            keys: 20_000, threads: 2, warmupSeconds: 0.05, durationSeconds: 0.1, rounds: 3, keySize: 16, valueSizes: "32",
            ttlFraction: 0.5, ttlSeconds: "600-1200", rate: nil, seed: 1, oversubscription: 8, stormKeys: 5_000,
            churnKeys: 1000, churnRate: 1000, churnReplacements: 5, quietSeconds: 0)
        let (round, entries) = try store.open(settings.sizing, for: OneStorm(settings: settings, lead: lead))
        #expect(entries == settings.keys - settings.stormKeys)
        #expect(round.reclaimSeconds < 5)
        #expect(round.lagMilliseconds.histogram.totalCount == UInt64(settings.stormKeys))
        #expect(round.windows.count == 3)
        #expect(round.missedDeadline == (lead == 0))
    }

    @Test func theLeadLeavesRoomToWriteTheKeysTwiceThenWarmUpThenMeasure() {
        #expect(stormLead(stormKeys: 1_000_000, putsPerSecond: 2_000_000, warmupSeconds: 0.5) == 2.5)
    }

    @Test func lagOfOneRoundIsTheDifferenceOfTwoSnapshots() {
        // The store's histogram starts small and grows as larger lags come.
        var lag = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        let empty = lag
        _ = lag.record(50, count: 10)
        let before = lag
        _ = lag.record(50, count: 5)
        _ = lag.record(900_000, count: 2)
        let round = subtract(lag, before)
        #expect(round.totalCount == 7)
        #expect(round.countForValue(50) == 5)
        #expect(round.valueAtPercentile(100) >= 900_000)
        #expect(subtract(lag, empty).totalCount == 17)
    }

    @Test func stormKeysWrittenPastTheDeadlineGetAMillisecond() {
        #expect(timeToLive(until: 5_000_000_000, now: 1_000_000_000) == .seconds(4))
        #expect(timeToLive(until: 5_000_000_000, now: 4_999_500_000) == .milliseconds(1))
        #expect(timeToLive(until: 5_000_000_000, now: 9_000_000_000) == .milliseconds(1))
    }
}

/// Windows whose insert latency, entries and memory are given.
func windows(insert: [UInt64], entries: [Int]? = nil, resident: [Int]? = nil) -> [ChurnSlice] {
    insert.indices.map { i in
        ChurnSlice(window: window("insert", nanoseconds: insert[i]),
                   sample: ChurnSample(entries: entries?[i] ?? 1000, pendingRecords: 1000, deferredFrees: 0,
                                       residentBytes: resident?[i] ?? 1 << 20, inserted: 1000 * i))
    }
}

@Suite struct TrendTests {
    @Test func steadyIsFlat() {
        let trend = Trend(windows(insert: Array(repeating: 500, count: 9)), ops: ["insert"])
        #expect(trend.flat)
        #expect(trend.checks.map(\.name) == ["insert p50", "insert p99.9", "entries", "pending records", "RSS"])
    }

    @Test func slowerLastThirdIsNotFlat() {
        // The first third may settle in; only the last against the middle counts.
        let trend = Trend(windows(insert: [5000, 5000, 500, 500, 800, 1600]), ops: ["insert"])
        #expect(!trend.flat)
        #expect(trend.checks.first { $0.name == "insert p99.9" }!.ratio > 2)
        #expect(trend.firstToLast.first { $0.name == "insert p50" }!.ratio < 0.5)
    }

    @Test func growingMemoryIsNotFlat() {
        let trend = Trend(windows(insert: Array(repeating: 500, count: 6), resident: [10, 10, 10, 10, 20, 20].map { $0 << 20 }),
                          ops: ["insert"])
        #expect(!trend.flat)
        #expect(trend.checks.filter { $0.ratio > trend.limit }.map(\.name) == ["RSS"])
    }

    @Test func slicesMergeIntoOneWindow() {
        let merged = ChurnSlice(merging: windows(insert: [100, 200, 300]))
        #expect(merged.window.seconds == 3)
        #expect(merged.window.histograms["insert"]!.histogram.totalCount == 3000)
        #expect(merged.sample.inserted == 2000)
    }
}
