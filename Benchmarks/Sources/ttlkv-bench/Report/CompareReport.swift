import Foundation
import Histogram

/// Everything `compare` measured, as written to results.json.
struct CompareReport: Codable {
    var settings: BenchSettings
    var cores: Int
    var clockReadNanoseconds: Double
    var nullStoreOpsPerSecond: Double
    /// Seconds waited for a quiet machine before each scenario.
    var quietWaits: [QuietWait]
    var seconds: Double
    var preload: Comparison
    var memory: [MemoryReport]
    var phases: [Comparison]
    var batched: BatchedComparison
    var storm: StormComparison
    var eviction: EvictionReport
    var churn: ChurnComparison

    var stores: [String] { preload.stores }
}

struct QuietWait: Codable {
    var scenario: String
    var seconds: Double
}

/// The expiry storm: the three windows compared, and the lag.
struct StormComparison: Codable {
    var keys: Int
    var windows: [Comparison]
    /// Lag percentiles and time to remove every key, per store per round.
    var lag: [MetricComparison]
    var missedDeadlines: Int
    /// Rounds in which not every storm key was removed within 20 s.
    var unfinished: Int
}

/// A long churn's window on one store.
struct ChurnWindow: Codable {
    var label: String
    /// Replacements of the table's contents covered, e.g. "2-4".
    var replaced: String
    var insertsPerSecond: Double
    var insert: LatencySummary?
    var get: LatencySummary?
    var sample: ChurnSample
}

/// The long churn: per window, both stores, and each store's verdict.
struct ChurnComparison: Codable {
    var liveKeys: Int
    var rate: Double
    var ttlSeconds: Double
    var sliceSeconds: Double
    var replacements: Int
    var readers: Int
    /// The windows after the fill, compared as rounds.
    var summary: Comparison
    /// Per store: the fill, then the windows.
    var windows: [[ChurnWindow]]
    /// Per store.
    var trends: [Trend]
}


// MARK: Sections

extension CompareReport {
    /// Every part of the report, in order.
    var sections: [Section] {
        var sections = [comparisonSection(preload)]
        sections.append(memorySection)
        sections += phases.map(comparisonSection)
        sections.append(batchedSection)
        sections += storm.windows.map(comparisonSection)
        sections.append(stormLagSection)
        sections += evictionSections
        sections.append(churnSection)
        sections.append(callsSection)
        return sections
    }

    /// The header: settings, the driver's own cost, how rounds were run.
    var header: String {
        let s = settings
        var out = "TTLKV benchmark: \(s.keys) keys (\(s.keySize)-byte keys, \(s.valueSizes)-byte values), \(cores) cores, "
        out += "\(s.threads) threads (\(s.threads * s.oversubscription) when oversubscribed)\n"
        out += "interleaved: each store in its own long-lived process, preloaded once; per scenario \(s.rounds) rounds of "
        out += String(format: "%.1f s warm-up + %.1f s measured", s.warmupSeconds, s.durationSeconds)
        out += " on each store, back to back, alternating which goes first\n"
        out += String(format: "clock read: %.1f ns (inside every latency); driver ceiling (null store, read-heavy, %d threads): %.1f M ops/s\n",
                      clockReadNanoseconds, s.threads, nullStoreOpsPerSecond / 1e6)
        out += "reading the tables: \(stores[0]) and \(stores[1]) are medians over the rounds (latency in µs); "
        out += "\(stores[0])/\(stores[1]) is the median of the rounds' ratios and range their min-max; "
        out += "a call is made only when the whole range lies on one side of 1 (for a rate offered to both, open loop and the churn's inserts: "
        out += "only when a store fell more than 2% behind in every round)"
        out += String(format: " (with %d rounds a metric with no real difference gets one by chance %.0f%% of the time)\n",
                      s.rounds, 100 * pow(0.5, Double(s.rounds - 1)))
        out += String(format: "quiet machine: waited for %.1f s without a scheduling stall over 3 ms before each scenario: ", s.quietSeconds)
        out += quietWaits.map { String(format: "%@ %.1f s", $0.scenario, $0.seconds) }.joined(separator: ", ")
        out += String(format: "\ntotal %.0f s\n", seconds)
        return out
    }

    var text: String { header + sections.map(\.text).joined() }

    func comparisonSection(_ comparison: Comparison) -> Section {
        let stores = comparison.stores
        let tables = comparison.ops.map { op in
            Table(header: [op.op, stores[0], stores[1], "\(stores[0])/\(stores[1])", "range", "call"],
                  rows: op.metrics.map { m in
                      let format = m.metric == "ops/s" ? millions : micros
                      return [m.metric, format(m.medians[0]), format(m.medians[1]), times(m.ratio), timesRange(m.low, m.high), m.call]
                  })
        }
        var charts: [Chart] = []
        if !comparison.ops.isEmpty {
            charts.append(Chart(kind: "latency", svg: latencyChart(
                title: "\(comparison.name): latency by percentile (all rounds)",
                series: comparison.ops.flatMap { op in
                    stores.indices.map { (label: "\(stores[$0]) \(op.op)", curve: op.merged[$0].curve) }
                })))
            charts.append(Chart(kind: "ratio", svg: ratioChart(
                title: "\(comparison.name): \(stores[0])/\(stores[1]) latency by percentile",
                stores: stores, ops: comparison.ops.map { ($0.op, $0.ratioByPercentile) })))
        }
        return Section(title: comparison.name, detail: comparison.detail, tables: tables,
                       notes: comparison.notes, charts: charts)
    }

    private var memorySection: Section {
        Section(
            title: "memory after the preload",
            detail: "resident memory of each store's process above what it was before the store was opened, per entry (one measurement, not rounds)",
            tables: [Table(header: ["store", "bytes/entry", "raw key+value", "overhead"],
                           rows: zip(stores, memory).map { store, m in
                               [store, String(format: "%.1f", m.residentBytesPerEntry), String(format: "%.0f", m.rawBytesPerEntry),
                                String(format: "%.1f", m.overheadBytesPerEntry)]
                           })],
            notes: [])
    }

    private var batchedSection: Section {
        let b = batched
        let (first, second) = (stores[0], stores[1])
        func ranged(_ r: RatioRange?) -> [String] { r.map { [times($0.ratio), timesRange($0.low, $0.high)] } ?? ["-", "-"] }
        let throughput = Table(
            caption: "keys per second (medians over rounds)",
            header: ["keys/s", first, second, "\(first)/\(second)", "range", "call", "\(first)/loop", "range", "\(second)/loop", "range"],
            rows: b.modes.map { m in
                let keys = m.metrics[0]
                return [m.mode.label, millions(keys.medians[0]), millions(keys.medians[1]), times(keys.ratio), timesRange(keys.low, keys.high), keys.call]
                    + ranged(m.overLoop?[0]) + ranged(m.overLoop?[1])
            })
        let percentiles = ["p50", "p99", "p99.9", "max"]
        let latency = Table(
            caption: "latency of a whole batch (µs, medians over rounds)",
            header: ["batch"] + stores.flatMap { store in percentiles.map { $0 == "p50" ? "\(store) p50" : $0 } }
                + ["p99 \(first)/\(second)", "range", "call"],
            rows: b.modes.map { m in
                let metric = { (name: String) in m.metrics.first { $0.metric == name }! }
                let p99 = metric("p99")
                return [m.mode.label] + stores.indices.flatMap { s in percentiles.map { micros(metric($0).medians[s]) } }
                    + [times(p99.ratio), timesRange(p99.low, p99.high), p99.call]
            })
        let paired = b.modes.filter { $0.mode.keys == 16 }
        let charts = [
            Chart(kind: "throughput", svg: batchThroughputChart(b)),
            Chart(kind: "latency", svg: latencyChart(
                title: "batched reads: latency of a batch of 16 keys by percentile (all rounds)",
                series: paired.flatMap { m in stores.indices.map { (label: "\(stores[$0]) \(m.mode.isLoop ? "loop of 16" : "get_many of 16")", curve: m.merged[$0].curve) } })),
        ]
        return Section(title: b.name, detail: b.detail, tables: [throughput, latency], notes: [], charts: charts)
    }

    private var stormLagSection: Section {
        var notes = ["(lag in ms; the storm's keys are removed by each store's expiry worker)"]
        if storm.unfinished > 0 {
            notes.append("\(storm.unfinished) rounds did not see every storm key removed within 20 s")
        }
        if storm.missedDeadlines > 0 {
            notes.append("\(storm.missedDeadlines) rounds wrote their storm keys past the deadline: those storms were spread, not in one tick")
        }
        return Section(
            title: "expiry storm: lag from deadline to removal, and time until all were removed",
            detail: "\(storm.keys) keys due in one tick, \(settings.rounds) rounds",
            tables: [Table(header: ["", stores[0], stores[1], "\(stores[0])/\(stores[1])", "range", "call"],
                           rows: storm.lag.map { m in
                               let format = { (x: Double) in m.metric.hasSuffix("(s)") ? String(format: "%.2f", x) : String(format: "%.0f", x) }
                               return [m.metric, format(m.medians[0]), format(m.medians[1]), times(m.ratio), timesRange(m.low, m.high),
                                       m.call.replacingOccurrences(of: "faster", with: "sooner")]
                           })],
            notes: notes)
    }

    private var churnSection: Section {
        let c = churn
        let summary = comparisonSection(c.summary)
        var tables = summary.tables
        for op in ["insert", "get"] {
            var header = ["window", "replaced"]
            for store in stores { header += ["\(store) p50", "p99.9", "max"] }
            header.append("p99.9 \(stores[0])/\(stores[1])")
            let rows = c.windows[0].indices.map { w -> [String] in
                var row = [c.windows[0][w].label, c.windows[0][w].replaced]
                let summaries = c.windows.map { op == "insert" ? $0[w].insert : $0[w].get }
                for s in summaries {
                    row += s.map { [micros(Double($0.p50)), micros(Double($0.p999)), micros(Double($0.max))] } ?? ["-", "-", "-"]
                }
                if let a = summaries[0], let b = summaries[1] { row.append(times(Double(a.p999) / Double(max(b.p999, 1)))) } else { row.append("-") }
                return row
            }
            tables.append(Table(caption: "\(op) per window (µs)", header: header, rows: rows, labelColumns: 2))
        }
        var header = ["window"]
        for store in stores { header += ["\(store) entries", "pending", "RSS MiB", "inserts/s"] }
        tables.append(Table(caption: "state at the end of each window", header: header, rows: c.windows[0].indices.map { w in
            [c.windows[0][w].label] + c.windows.flatMap { windows -> [String] in
                let s = windows[w].sample
                return ["\(s.entries)", "\(s.pendingRecords)", "\(s.residentBytes >> 20)", String(format: "%.0f", windows[w].insertsPerSecond)]
            }
        }))
        var notes = zip(stores, c.trends).map { store, trend in
            "\(store): last window / first: " + trend.firstToLast.map { "\($0.name) \(times($0.ratio))" }.joined(separator: ", ")
        }
        notes += zip(stores, c.trends).map { "\($0): last third / middle third: \($1.summary)" }
        var charts = summary.charts
        let windowCount = c.windows[0].count - 1
        charts.append(Chart(kind: "trend", svg: trendChart(title: "long churn: p99.9 per window", windows: windowCount, series: ["insert", "get"].flatMap { op in
            stores.indices.map { s in
                (label: "\(stores[s]) \(op) p99.9", values: c.windows[s].dropFirst().map {
                    Double((op == "insert" ? $0.insert : $0.get)?.p999 ?? 0)
                })
            }
        })))
        return Section(title: c.summary.name, detail: c.summary.detail, tables: tables, notes: notes, charts: charts)
    }

    /// Every call of the report in one table: where each store is ahead.
    private var callsSection: Section {
        var rows: [[String]] = []
        func addCalls(_ scenario: String, _ op: String, _ metrics: [MetricComparison], stores: [String] = stores) {
            let called = metrics.filter { $0.call != "no call" }
            for store in stores {
                let names = called.filter { $0.call == "\(store) faster" }.map(\.metric)
                if !names.isEmpty { rows.append([scenario, op, "\(store) faster", names.joined(separator: ", ")]) }
            }
        }
        for comparison in [preload] + phases {
            for op in comparison.ops { addCalls(comparison.name, op.op, op.metrics) }
        }
        for mode in batched.modes { addCalls(batched.name, mode.mode.label, mode.metrics) }
        for comparison in storm.windows + eviction.comparisons + [churn.summary] {
            for op in comparison.ops { addCalls(comparison.name, op.op, op.metrics, stores: comparison.stores) }
        }
        return Section(title: "calls: where one store was ahead in every round",
                       detail: "metrics not listed got no call",
                       tables: [Table(header: ["scenario", "op", "call", "metrics"], rows: rows, labelColumns: 4)], notes: [])
    }
}

/// `name` as an HTML id: lower case, dashes for anything else.
func slug(_ name: String) -> String {
    String(name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
        .replacingOccurrences(of: "-+", with: "-", options: .regularExpression)
        .trimmingCharacters(in: CharacterSet(charactersIn: "-"))
}
