import Foundation
import Histogram
import Testing
@testable import ttlkv_bench

private let settings = BenchSettings(
    keys: 40_000, threads: 2, warmupSeconds: 0.05, durationSeconds: 0.3, rounds: 3, keySize: 16, valueSizes: "32",
    ttlFraction: 0.5, ttlSeconds: "600-1200", rate: nil, seed: 7, oversubscription: 8, stormKeys: 1000,
    churnKeys: 1000, churnRate: 1000, churnReplacements: 5, quietSeconds: 0)

/// Cache-aside rounds' work on one store: the keys preloaded, then one
/// cache-aside round of zipf gets.
private struct CacheAsideRound: StoreUser {
    func use<S: BenchStore>(_ store: S) throws -> (WindowResult, StoreCounters) {
        defer { store.close() }
        let bench = StoreBench(store: store, settings: settings, name: "test")
        var spec = settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0), distribution: .zipf(0.99))
        spec.cacheAside = true
        _ = bench.preload(0..<settings.keys)
        return (bench.phase(spec, label: "cache-aside"), bench.counters)
    }
}

/// One replay of `trace` on a fresh store.
private struct Replay: StoreUser {
    let trace: [UInt64]

    func use<S: BenchStore>(_ store: S) throws -> ReplayResult {
        defer { store.close() }
        return StoreBench(store: store, settings: settings, name: "test").replay(trace)
    }
}

@Suite struct EvictionTests {
    @Test func theTraceIsLibCacheSimsOracleGeneralFormat() throws {
        let path = NSTemporaryDirectory() + "ttlkv-bench-test-trace-\(getpid()).bin"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let keys: [UInt64] = [0, 5, 2, 5, 1_000_000_000_000]
        try OracleTrace.write(keys, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.count == 24 * keys.count)
        // Record 1: time 0, id 6 (key + 1), size 1, next access -1.
        let record = [UInt8](data[24..<48])
        #expect(record[0..<4] == [0, 0, 0, 0])
        #expect(record[4..<12] == [6, 0, 0, 0, 0, 0, 0, 0])
        #expect(record[12..<16] == [1, 0, 0, 0])
        #expect(record[16..<24] == [255, 255, 255, 255, 255, 255, 255, 255])
        #expect(try OracleTrace.read(path) == keys)
    }

    @Test func theBudgetIsTheShareOfTheDataInWholeMebibytes() {
        // 1M keys of 100 B: 50,000,000 B is 47.7 MiB, rounded up to 48.
        #expect(evictionBudget(keys: 1_000_000, bytesPerEntry: 100, fraction: 0.5) == 48 << 20)
        #expect(evictionBudget(keys: 10, bytesPerEntry: 100, fraction: 0.5) == 1 << 20)
        let sizing = budgetSizing(settings, budget: 48 << 20, bytesPerEntry: 100)
        #expect(sizing.maximumBytes == 48 << 20)
        #expect(sizing.capacity == (48 << 20) / 100 / 4)
    }

    @Test func aCacheAsideWindowsHitRatioIsGetsThatWereNotFollowedByASet() {
        var gets = makeHistogram(), sets = makeHistogram()
        _ = gets.record(100, count: 1000)
        _ = sets.record(300, count: 250)
        #expect(hitRatio(WindowResult(seconds: 1, failures: 0, histograms: ["get": gets, "set": sets])) == 0.75)
        #expect(hitRatio(WindowResult(seconds: 1, failures: 0, histograms: ["get": gets])) == 1)
    }

    /// The live rounds' cache-aside: every miss sets its key, so the store
    /// under a budget of a third of the data keeps evicting, stays within
    /// it, and serves the popular keys, on both stores.
    @Test(arguments: [StoreChoice.ck, .native])
    func cacheAsideUnderABudgetSetsEveryMissAndEvicts(store: StoreChoice) throws {
        let budget = 2 << 20
        let (window, counters) = try store.open(budgetSizing(settings, budget: budget, bytesPerEntry: 150), for: CacheAsideRound())
        let gets = window.histograms["get"]!.histogram.totalCount, sets = window.histograms["set"]?.histogram.totalCount ?? 0
        #expect(window.failures == 0)
        #expect(sets > 0 && sets < gets)
        #expect(hitRatio(window) > 0.3 && hitRatio(window) < 1)
        #expect(counters.evicted > 0)
        #expect(counters.usedBytes > 0 && counters.usedBytes <= budget)
        #expect(counters.entries < settings.keys)
    }

    /// The replay counts a hit for every get of a key already set, so with
    /// room for everything its hits are the requests minus the distinct
    /// keys; under a budget it misses more and evicts.
    @Test func theReplayMissesOnlyFirstRequestsWhenEverythingFits() throws {
        let trace = zipfTrace(keys: 50_000, requests: 150_000, exponent: 0.99, seed: 1)
        let distinct = Set(trace).count
        let roomy = try StoreChoice.native.open(budgetSizing(settings, budget: 64 << 20, bytesPerEntry: 150), for: Replay(trace: trace))
        #expect(roomy.gets == trace.count)
        #expect(roomy.hits == trace.count - distinct)
        #expect(roomy.counters.evicted == 0 && roomy.counters.entries == distinct && roomy.peakEntries == distinct)
        let tight = try StoreChoice.native.open(budgetSizing(settings, budget: 2 << 20, bytesPerEntry: 150), for: Replay(trace: trace))
        #expect(tight.hits < roomy.hits && tight.hits > 0)
        #expect(tight.counters.evicted > 0 && tight.refused == 0)
        #expect(tight.peakEntries > 0 && tight.peakEntries < distinct)
    }
}
