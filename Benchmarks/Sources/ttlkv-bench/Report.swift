import Foundation

/// Everything `compare` measured, as written to results.json.
struct CompareReport: Codable {
    var settings: BenchSettings
    var clockReadNanoseconds: Double
    var nullStoreOpsPerSecond: Double
    var isolation: String
    var stores: [StoreReport]
}

private func micros(_ ns: UInt64) -> String {
    let us = Double(ns) / 1000
    return us >= 1000 ? String(format: "%.0f", us) : us >= 100 ? String(format: "%.1f", us) : String(format: "%.2f", us)
}

private func millions(_ x: Double) -> String { String(format: "%.2f M", x / 1e6) }

private func pad(_ s: String, _ width: Int, right: Bool = true) -> String {
    s.count >= width ? s : right ? String(repeating: " ", count: width - s.count) + s : s + String(repeating: " ", count: width - s.count)
}

private func ratio(_ a: Double, _ b: Double) -> String {
    b > 0 ? String(format: "%.2fx", a / b) : "-"
}

/// A table of ops/s and latency percentiles (µs), per operation and store,
/// with the first store's figures divided by the second's.
func latencyTable(_ title: String, _ rows: [(store: String, phase: PhaseReport)]) -> String {
    var out = "\n== \(title) ==\n"
    out += pad("op", 7, right: false) + pad("store", 8, right: false) + pad("ops/s", 10)
    for h in ["p50", "p90", "p99", "p99.9", "p99.99", "max"] { out += pad(h, 9) }
    out += "   (latency in µs)\n"
    let ops = Operation.allCases.map(\.name).filter { op in rows.contains { $0.phase.latency[op] != nil } }
    for op in ops {
        var summaries: [LatencySummary] = []
        for row in rows {
            guard let s = row.phase.latency[op] else { continue }
            summaries.append(s)
            let share = Double(s.count) / Double(max(1, row.phase.latency.values.reduce(0) { $0 + $1.count }))
            out += pad(op, 7, right: false) + pad(row.store, 8, right: false) + pad(millions(row.phase.opsPerSecond * share), 10)
            for v in [s.p50, s.p90, s.p99, s.p999, s.p9999, s.max] { out += pad(micros(v), 9) }
            out += "\n"
        }
        if summaries.count == 2, rows.count == 2 {
            let (a, b) = (summaries[0], summaries[1])
            out += pad("", 7) + pad("\(rows[0].store)/\(rows[1].store)", 8, right: false) + pad(ratio(rows[0].phase.opsPerSecond, rows[1].phase.opsPerSecond), 10)
            for (x, y) in [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99), (a.p999, b.p999), (a.p9999, b.p9999), (a.max, b.max)] {
                out += pad(ratio(Double(x), Double(y)), 9)
            }
            out += "\n"
        }
    }
    for row in rows where row.phase.failures > 0 {
        out += "  \(row.store): \(row.phase.failures) operations failed\n"
    }
    return out
}

/// The whole human-readable report.
func renderReport(_ report: CompareReport) -> String {
    let s = report.settings
    var out = "TTLKV benchmark: \(s.keys) keys (\(s.keySize)-byte keys, \(s.valueSizes)-byte values), \(s.threads) threads, "
    out += String(format: "%.0f s per phase after %.0f s warm-up", s.durationSeconds, s.warmupSeconds)
    out += s.rate.map { String(format: ", open loop at %.0f ops/s", $0) } ?? ", closed loop"
    out += "\n" + String(format: "clock read: %.1f ns (inside every latency); driver ceiling (null store, read-heavy): %.1f M ops/s\n",
                         report.clockReadNanoseconds, report.nullStoreOpsPerSecond / 1e6)
    out += "isolation: \(report.isolation)\n"
    let stores = report.stores
    out += latencyTable("preload (\(s.keys) puts)", stores.map { ($0.store, $0.preload) })
    for (i, phase) in stores[0].phases.enumerated() {
        out += latencyTable(phase.name, stores.map { ($0.store, $0.phases[i]) })
    }
    out += "\n== memory (after preload) ==\n"
    for r in stores {
        out += String(format: "%@  %.1f resident bytes per entry (raw key+value %.0f, overhead %.1f)\n",
                      pad(r.store, 7, right: false), r.memory.residentBytesPerEntry, r.memory.rawBytesPerEntry, r.memory.overheadBytesPerEntry)
    }
    for (i, name) in ["before", "during", "after"].enumerated() {
        out += latencyTable("expiry storm: \(name) (\(stores[0].storm.keys) keys due in one tick, read-heavy load)",
                            stores.map { ($0.store, $0.storm.windows[i]) })
    }
    out += "\nexpiry storm: lag from deadline to removal (ms) and time until all were reclaimed\n"
    for r in stores {
        let lag = r.storm.lagMilliseconds
        out += String(format: "%@  p50 %llu  p99 %llu  p99.9 %llu  max %llu ms; all %d removed %.2f s after the deadline; get p99.9 during/before %@\n",
                      pad(r.store, 7, right: false), lag.p50, lag.p99, lag.p999, lag.max, r.storm.keys, r.storm.reclaimSeconds,
                      ratio(Double(r.storm.windows[1].latency["get"]?.p999 ?? 0), Double(r.storm.windows[0].latency["get"]?.p999 ?? 0)))
    }
    out += "\n== churn (\(s.churnRate) new keys/s, TTL 1-5 s, next to read load) ==\n"
    for r in stores {
        let c = r.churn
        let last = c.samples.last
        out += String(format: "%@  entries %d, pending records %d, RSS %.0f MiB at the end; growth middle->last third: entries %+.1f%%, RSS %+.1f%%, pending %+.1f%% -> %@\n",
                      pad(r.store, 7, right: false), last?.entries ?? 0, last?.pendingRecords ?? 0,
                      Double(last?.residentBytes ?? 0) / 1048576, c.entriesGrowthPercent, c.residentGrowthPercent,
                      c.pendingGrowthPercent, c.levelledOff ? "levels off" : "STILL GROWING")
    }
    return out
}

/// An SVG chart of latency by percentile (both axes logarithmic), one line
/// per store and operation, in the style of HdrHistogram's plotter.
func latencyChart(title: String, series: [(label: String, curve: [[Double]])]) -> String {
    let (width, height, left, right, top, bottom) = (760.0, 440.0, 70.0, 170.0, 40.0, 50.0)
    let maxX = 5.0 // log10(1 / (1 - 0.99999))
    let values = series.flatMap { $0.curve.map { max($0[1], 1) } }
    let minY = floor(log10(values.min() ?? 10)), maxY = ceil(log10(values.max() ?? 1e6))
    func x(_ percentile: Double) -> Double {
        let p = min(percentile, 99.999) / 100
        return left + (width - left - right) * log10(1 / (1 - p)) / maxX
    }
    func y(_ ns: Double) -> Double {
        top + (height - top - bottom) * (1 - (log10(max(ns, 1)) - minY) / max(maxY - minY, 1))
    }
    var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(left)" y="24" font-size="15">\(title)</text>

    """
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].enumerated() {
        let px = left + (width - left - right) * Double(i) / maxX
        svg += "<line x1=\"\(px)\" y1=\"\(top)\" x2=\"\(px)\" y2=\"\(height - bottom)\" stroke=\"#ddd\"/>"
        svg += "<text x=\"\(px)\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(label)</text>\n"
    }
    var decade = minY
    while decade <= maxY {
        let py = y(pow(10, decade))
        let label = decade < 3 ? "\(Int(pow(10, decade))) ns" : decade < 6 ? "\(Int(pow(10, decade - 3))) µs" : "\(Int(pow(10, decade - 6))) ms"
        svg += "<line x1=\"\(left)\" y1=\"\(py)\" x2=\"\(width - right)\" y2=\"\(py)\" stroke=\"#ddd\"/>"
        svg += "<text x=\"\(left - 6)\" y=\"\(py + 4)\" text-anchor=\"end\">\(label)</text>\n"
        decade += 1
    }
    svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">percentile</text>\n"
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for (i, s) in series.enumerated() where !s.curve.isEmpty {
        let points = s.curve.map { "\(x($0[0])),\(y($0[1]))" }.joined(separator: " ")
        let color = colors[i % colors.count]
        svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
        let ly = top + 20 * Double(i)
        svg += "<line x1=\"\(width - right + 12)\" y1=\"\(ly)\" x2=\"\(width - right + 36)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
        svg += "<text x=\"\(width - right + 42)\" y=\"\(ly + 4)\">\(s.label)</text>\n"
    }
    return svg + "</svg>\n"
}

/// results.json and one chart per scenario into `directory`.
func writeOutputs(_ report: CompareReport, to directory: String) throws {
    let url = URL(fileURLWithPath: directory)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: url.appendingPathComponent("results.json"))
    var scenarios: [(String, [(String, PhaseReport)])] = [("preload", report.stores.map { ($0.store, $0.preload) })]
    for (i, phase) in report.stores[0].phases.enumerated() {
        scenarios.append((phase.name, report.stores.map { ($0.store, $0.phases[i]) }))
    }
    scenarios.append(("expiry-storm-during", report.stores.map { ($0.store, $0.storm.windows[1]) }))
    for (name, rows) in scenarios {
        let series = rows.flatMap { store, phase in
            phase.latency.keys.sorted().map { op in (label: "\(store) \(op)", curve: phase.latency[op]!.curve) }
        }
        try latencyChart(title: "\(name): latency by percentile", series: series)
            .write(to: url.appendingPathComponent("\(name).svg"), atomically: true, encoding: .utf8)
    }
}
