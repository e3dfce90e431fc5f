// How batched rounds become a comparison. Per mode (a batch size, or the
// loop of single gets), each store's keys per second and whole-batch
// latency are compared across stores as in Comparison.swift (medians over
// rounds, the range of the rounds' ratios, a call only when every round
// agrees), and each store's keys per second is set against its own loop of
// single gets from the same round: the speed-up that batching buys.

/// One mode of the batched reads, both stores, every round.
struct BatchModeComparison: Codable {
    var mode: BatchMode
    /// Per store, per round; `opsPerSecond` is keys per second.
    var rounds: [[OpRound]]
    /// keys/s, then the batch latency percentiles: first store / second.
    var metrics: [MetricComparison]
    /// Per store: keys/s over the loop's in the same round (nil for the
    /// loop itself).
    var overLoop: [RatioRange]?
    /// Per store, every round's histogram merged.
    var merged: [LatencySummary]
}

/// The median and range of rounds' ratios.
struct RatioRange: Codable {
    var ratio: Double
    var low: Double
    var high: Double

    init(_ ratios: [Double]) {
        (ratio, low, high) = (median(ratios), ratios.min() ?? 1, ratios.max() ?? 1)
    }
}

/// The batched reads on two stores in interleaved rounds.
struct BatchedComparison: Codable {
    var name = "batched reads"
    var detail: String
    var stores: [String]
    var rounds: Int
    var modes: [BatchModeComparison]

    static let metrics = [Metric(name: "keys/s", higherIsBetter: true) { $0.opsPerSecond }] + Metric.all.dropFirst()

    /// Compares `results[store][round][mode]`, the windows of `modes`.
    init(detail: String, stores: [String], modes: [BatchMode], results: [[[WindowResult]]]) {
        self.detail = detail
        self.stores = stores
        let rounds = results.map(\.count).min() ?? 0
        self.rounds = rounds
        let figures: [[[OpRound]]] = modes.indices.map { m in
            results.map { storeRounds in
                storeRounds.prefix(rounds).map { windows in
                    let histogram = windows[m].histograms["get"]?.histogram ?? makeHistogram()
                    return OpRound(opsPerSecond: Double(histogram.totalCount) * Double(modes[m].keys) / max(windows[m].seconds, 1e-9),
                                   latency: LatencySummary(histogram))
                }
            }
        }
        let loop = modes.firstIndex(where: \.isLoop)
        self.modes = modes.indices.map { m in
            BatchModeComparison(
                mode: modes[m], rounds: figures[m],
                metrics: Self.metrics.map { metric in
                    MetricComparison(metric: metric.name, higherIsBetter: metric.higherIsBetter,
                                     rounds: figures[m].map { $0.map(metric.value) }, stores: stores)
                },
                overLoop: loop.flatMap { loop in
                    modes[m].isLoop ? nil : stores.indices.map { s in
                        RatioRange(zip(figures[m][s], figures[loop][s]).map { $0.opsPerSecond / max($1.opsPerSecond, 1e-9) })
                    }
                },
                merged: results.map { storeRounds in
                    var all = makeHistogram()
                    for windows in storeRounds.prefix(rounds) {
                        if let histogram = windows[m].histograms["get"]?.histogram { all.add(histogram) }
                    }
                    return LatencySummary(all)
                })
        }
    }
}
