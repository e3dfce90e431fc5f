import Histogram
import Testing
@testable import ttlkv_bench

/// A window in which `count` operations `op` each took `nanoseconds`,
/// over `seconds`.
func window(_ op: String = "get", nanoseconds: UInt64, count: UInt64 = 1000, seconds: Double = 1) -> WindowResult {
    var histogram = makeHistogram()
    _ = histogram.record(nanoseconds, count: count)
    return WindowResult(seconds: seconds, failures: 0, histograms: [op: histogram])
}

/// ck and native measured in rounds, ck first.
func compare(ck: [WindowResult], native: [WindowResult]) -> Comparison {
    Comparison(name: "test", detail: "", stores: ["ck", "native"], results: [ck, native])
}

extension Comparison {
    func metric(_ op: String, _ name: String) -> MetricComparison {
        ops.first { $0.op == op }!.metrics.first { $0.metric == name }!
    }
}

@Suite struct ComparisonTests {
    @Test func aDifferenceInEveryRoundIsCalled() {
        let c = compare(ck: (0..<3).map { _ in window(nanoseconds: 100) }, native: (0..<3).map { _ in window(nanoseconds: 200) })
        let p50 = c.metric("get", "p50")
        #expect(p50.medians == [100, 200])
        #expect(abs(p50.ratio - 0.5) < 0.01 && abs(p50.low - 0.5) < 0.01 && abs(p50.high - 0.5) < 0.01)
        #expect(p50.call == "ck faster")
        // Same throughput in every round: a ratio of exactly 1 is no call.
        #expect(c.metric("get", "ops/s").call == "no call")
    }

    @Test func oneRoundTheOtherWayMeansNoCall() {
        let c = compare(ck: [100, 100, 300].map { window(nanoseconds: $0) }, native: (0..<3).map { _ in window(nanoseconds: 200) })
        let p50 = c.metric("get", "p50")
        #expect(abs(p50.ratio - 0.5) < 0.01)
        #expect(abs(p50.high - 1.5) < 0.01)
        #expect(p50.call == "no call")
    }

    @Test func moreOperationsPerSecondIsFaster() {
        let c = compare(ck: (0..<3).map { _ in window(nanoseconds: 200, count: 1000) },
                        native: (0..<3).map { _ in window(nanoseconds: 100, count: 3000) })
        #expect(c.metric("get", "ops/s").call == "native faster")
        #expect(c.metric("get", "p99").call == "native faster")
        #expect(Comparison.call(low: 1.1, high: 1.3, higherIsBetter: true, stores: ["ck", "native"]) == "ck faster")
        #expect(Comparison.call(low: 1.1, high: 1.3, higherIsBetter: false, stores: ["ck", "native"]) == "native faster")
    }

    @Test func anOfferedRateIsCalledOnlyWhenAStoreFallsBehind() {
        // Both carried the offered rate, one a hair less in every round.
        let even = Comparison(name: "open", detail: "", stores: ["ck", "native"],
                              results: [(0..<3).map { _ in window(nanoseconds: 100, count: 999) },
                                        (0..<3).map { _ in window(nanoseconds: 100, count: 1000) }], offered: ["get"])
        #expect(even.metric("get", "ops/s").call == "no call")
        let behind = Comparison(name: "open", detail: "", stores: ["ck", "native"],
                                results: [(0..<3).map { _ in window(nanoseconds: 100, count: 900) },
                                          (0..<3).map { _ in window(nanoseconds: 100, count: 1000) }], offered: ["get"])
        #expect(behind.metric("get", "ops/s").call == "native faster")
        // Closed loop, the hair is a call.
        #expect(compare(ck: (0..<3).map { _ in window(nanoseconds: 100, count: 999) },
                        native: (0..<3).map { _ in window(nanoseconds: 100, count: 1000) }).metric("get", "ops/s").call == "native faster")
    }

    @Test func roundsWithoutTheOperationAreLeftOut() {
        var ck = (0..<3).map { _ in window(nanoseconds: 100) }
        ck[1] = window("set", nanoseconds: 100)
        let c = compare(ck: ck, native: (0..<3).map { _ in window(nanoseconds: 200) })
        #expect(c.ops.map(\.op) == ["get"])
        #expect(c.ops[0].rounds[0].count == 2)
    }

    @Test func ratioByPercentileHasARangePerPoint() {
        let c = compare(ck: [100, 150, 100].map { window(nanoseconds: $0) }, native: (0..<3).map { _ in window(nanoseconds: 100) })
        let points = c.ops[0].ratioByPercentile
        #expect(points.count == Comparison.ratioPercentiles.count)
        #expect(points.allSatisfy { $0.low <= $0.ratio && $0.ratio <= $0.high && abs($0.high - 1.5) < 0.01 })
    }

    @Test func medianOfOddEvenAndNone() {
        #expect(median([3, 1, 2]) == 2)
        #expect(median([4, 1, 3, 2]) == 2.5)
        #expect(median([]) == 0)
    }

    @Test func roundsAlternateWhichStoreGoesFirst() {
        #expect((0..<4).map { roundOrder($0, stores: 2) } == [[0, 1], [1, 0], [0, 1], [1, 0]])
    }
}

@Suite struct BatchedComparisonTests {
    /// A round of the batched reads on one store: per mode, `batches`
    /// batches of `nanoseconds` each in a window of 1 s.
    func round(_ batches: [UInt64], nanoseconds: UInt64 = 1000) -> [WindowResult] {
        batches.map { window(nanoseconds: nanoseconds, count: $0) }
    }

    @Test func keysPerSecondCountTheKeysOfEachBatch() {
        let modes = [BatchMode(keys: 16, isLoop: true), BatchMode(keys: 4, isLoop: false), BatchMode(keys: 16, isLoop: false)]
        // ck: the loop 1000 batches/s (16,000 keys/s), batches of 4 2000/s
        // (8,000 keys/s), of 16 3000/s (48,000 keys/s); native half as many.
        let c = BatchedComparison(detail: "", stores: ["ck", "native"], modes: modes,
                                  results: [(0..<3).map { _ in round([1000, 2000, 3000]) },
                                            (0..<3).map { _ in round([500, 1000, 1500]) }])
        #expect(c.modes.map(\.mode.label) == ["loop of 16", "batch of 4", "batch of 16"])
        #expect(c.modes.map { $0.metrics[0].medians[0] } == [16_000, 8_000, 48_000])
        #expect(c.modes.allSatisfy { $0.metrics[0].call == "ck faster" && abs($0.metrics[0].ratio - 2) < 1e-9 })
        #expect(c.modes[0].overLoop == nil)
        #expect(c.modes[1].overLoop!.map(\.ratio) == [0.5, 0.5])
        #expect(c.modes[2].overLoop!.map(\.ratio) == [3, 3])
        #expect(c.modes[2].metrics.map(\.metric) == ["keys/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"])
    }
}
