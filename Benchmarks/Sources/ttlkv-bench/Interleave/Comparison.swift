// How interleaved rounds become a comparison. Each round measures both
// stores back to back, so their ratio in that round is taken under the
// same conditions; the table shows, per metric, each store's median over
// the rounds and the median, minimum and maximum of the rounds' ratios.
// A difference is called only when every round's ratio lies on the same
// side of 1.0: with 5 rounds and no real difference that happens by chance
// 2 x 0.5^5 = 6% of the time, with 3 rounds 25%. Where the load is offered
// at a fixed rate (an open loop, the churn's inserter) both stores carry
// the same throughput unless one falls behind, so there ops/s is called
// only when a store falls more than 2% behind in every round.
import Histogram

/// One store's measurement of one operation in one round.
struct OpRound: Codable {
    var opsPerSecond: Double
    var latency: LatencySummary
}

/// A metric of the tables: throughput or a latency percentile.
struct Metric: Sendable {
    var name: String
    var higherIsBetter: Bool
    var value: @Sendable (OpRound) -> Double

    static let all: [Metric] = [
        Metric(name: "ops/s", higherIsBetter: true) { $0.opsPerSecond },
        Metric(name: "p50", higherIsBetter: false) { Double($0.latency.p50) },
        Metric(name: "p90", higherIsBetter: false) { Double($0.latency.p90) },
        Metric(name: "p99", higherIsBetter: false) { Double($0.latency.p99) },
        Metric(name: "p99.9", higherIsBetter: false) { Double($0.latency.p999) },
        Metric(name: "p99.99", higherIsBetter: false) { Double($0.latency.p9999) },
        Metric(name: "max", higherIsBetter: false) { Double($0.latency.max) },
    ]
}

/// Medians, the ratio's range over rounds, and the call, for one metric.
struct MetricComparison: Codable {
    var metric: String
    /// Each store's median over the rounds.
    var medians: [Double]
    /// Median, lowest and highest of the rounds' ratios (first / second).
    var ratio: Double
    var low: Double
    var high: Double
    var call: String
}

extension MetricComparison {
    /// Compares `rounds[store][round]` of one figure.
    init(metric: String, higherIsBetter: Bool, rounds: [[Double]], stores: [String], tolerance: Double = 0) {
        let ratios = zip(rounds[0], rounds[1]).map { $0 / max($1, 1e-9) }
        let low = ratios.min() ?? 1, high = ratios.max() ?? 1
        self.init(metric: metric, medians: rounds.map(median), ratio: median(ratios), low: low, high: high,
                  call: Comparison.call(low: low, high: high, higherIsBetter: higherIsBetter, stores: stores, tolerance: tolerance))
    }
}

/// The ratio's median and range at one percentile.
struct RatioPoint: Codable {
    var percentile: Double
    var ratio: Double
    var low: Double
    var high: Double
}

/// One operation of a scenario, both stores, every round.
struct OpComparison: Codable {
    var op: String
    /// Per store, per round.
    var rounds: [[OpRound]]
    var metrics: [MetricComparison]
    var ratioByPercentile: [RatioPoint]
    /// Per store, every round's histogram merged: for the latency chart.
    var merged: [LatencySummary]
}

/// One scenario (or one window of it) compared across stores.
struct Comparison: Codable {
    var name: String
    var detail: String
    var stores: [String]
    var rounds: Int
    var ops: [OpComparison]
    /// Operations issued at a fixed rate (their ops/s is called only when
    /// a store falls behind).
    var offered: [String]
    var notes: [String] = []

    /// Per store, every round's histogram merged, per operation (kept for
    /// the .hgrm files, not written to results.json).
    var histograms: [String: [Histogram<UInt64>]] = [:]

    private enum CodingKeys: String, CodingKey {
        case name, detail, stores, rounds, ops, offered, notes
    }

    /// Compares `results[store][round]` (windows of the same scenario,
    /// round r of each store measured back to back); `offered` names the
    /// operations issued at a fixed rate.
    init(name: String, detail: String, stores: [String], results: [[WindowResult]], offered: Set<String> = []) {
        self.name = name
        self.detail = detail
        self.stores = stores
        rounds = results.map(\.count).min() ?? 0
        self.offered = offered.sorted()
        ops = []
        for op in Operation.allCases.map(\.name) + ["insert"] {
            // The rounds in which every store ran this operation.
            let usable = (0..<rounds).filter { round in results.allSatisfy { $0[round].histograms[op] != nil } }
            guard !usable.isEmpty else { continue }
            var perStore: [[OpRound]] = []
            var merged: [Histogram<UInt64>] = []
            var histogramsByRound: [[Histogram<UInt64>]] = []
            for storeResults in results {
                var all = makeHistogram()
                var storeRounds: [OpRound] = []
                var storeHistograms: [Histogram<UInt64>] = []
                for round in usable {
                    let window = storeResults[round]
                    let histogram = window.histograms[op]!.histogram
                    all.add(histogram)
                    storeHistograms.append(histogram)
                    storeRounds.append(OpRound(opsPerSecond: Double(histogram.totalCount) / max(window.seconds, 1e-9),
                                               latency: LatencySummary(histogram)))
                }
                perStore.append(storeRounds)
                merged.append(all)
                histogramsByRound.append(storeHistograms)
            }
            histograms[op] = merged
            ops.append(OpComparison(
                op: op, rounds: perStore,
                metrics: Metric.all.map {
                    Self.compare($0, perStore, stores, tolerance: offered.contains(op) && $0.name == "ops/s" ? 0.02 : 0)
                },
                ratioByPercentile: Self.ratioCurve(histogramsByRound),
                merged: merged.map(LatencySummary.init)
            ))
        }
    }

    /// The call for a metric whose rounds' ratios (first / second) span
    /// low...high: made only when the whole range lies beyond 1 by more
    /// than `tolerance`.
    static func call(low: Double, high: Double, higherIsBetter: Bool, stores: [String], tolerance: Double = 0) -> String {
        if low > 1 + tolerance { return "\(higherIsBetter ? stores[0] : stores[1]) faster" }
        if high < 1 - tolerance { return "\(higherIsBetter ? stores[1] : stores[0]) faster" }
        return "no call"
    }

    private static func compare(_ metric: Metric, _ rounds: [[OpRound]], _ stores: [String], tolerance: Double) -> MetricComparison {
        MetricComparison(metric: metric.name, higherIsBetter: metric.higherIsBetter,
                         rounds: rounds.map { $0.map(metric.value) }, stores: stores, tolerance: tolerance)
    }

    static let ratioPercentiles: [Double] = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999]

    /// The first store's latency over the second's at each percentile:
    /// median and range over rounds.
    private static func ratioCurve(_ histograms: [[Histogram<UInt64>]]) -> [RatioPoint] {
        ratioPercentiles.map { percentile in
            let ratios = zip(histograms[0], histograms[1]).map { first, second in
                Double(first.valueAtPercentile(percentile)) / Double(max(second.valueAtPercentile(percentile), 1))
            }
            return RatioPoint(percentile: percentile, ratio: median(ratios), low: ratios.min() ?? 1, high: ratios.max() ?? 1)
        }
    }
}
