// SVG charts for the report, drawn by hand (no dependency): every chart has
// a logarithmic y axis (latency, or a ratio whose 2x and 0.5x lie equally
// far from 1), and an x axis that is either percentile, laid out as
// HdrHistogram's plotter does (each step right is ten times rarer), or a
// run's windows in order.
import Foundation

/// One line of a chart, with an optional shaded band (a range over rounds).
struct ChartSeries {
    var label: String
    var color: String
    var dashed = false
    /// (x, y) in data units.
    var points: [(Double, Double)]
    /// (x, low, high) in data units.
    var band: [(Double, Double, Double)] = []
}

/// A chart with a log y axis.
struct SVGChart {
    var title: String
    var xLabel: String
    /// x axis ticks, in data units, with labels.
    var xTicks: [(Double, String)]
    var xRange: ClosedRange<Double>
    /// y axis ticks, in data units, with labels.
    var yTicks: [(Double, String)]
    var yRange: ClosedRange<Double>
    var series: [ChartSeries]
    /// A horizontal line drawn bold (1.0 on a ratio chart), with a note.
    var reference: (Double, String)? = nil
    /// Whether the y axis is logarithmic (a linear one for ratios of 0 to 1).
    var logY = true

    static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

    var svg: String {
        let (width, height, left, right, top, bottom) = (720.0, 400.0, 70.0, 160.0, 40.0, 50.0)
        let (ly0, ly1) = (log10(max(yRange.lowerBound, 1e-12)), log10(max(yRange.upperBound, 1e-12)))
        func x(_ v: Double) -> Double {
            left + (width - left - right) * (v - xRange.lowerBound) / max(xRange.upperBound - xRange.lowerBound, 1e-9)
        }
        func y(_ v: Double) -> Double {
            guard logY else {
                let lv = min(max(v, yRange.lowerBound), yRange.upperBound)
                return top + (height - top - bottom) * (1 - (lv - yRange.lowerBound) / max(yRange.upperBound - yRange.lowerBound, 1e-9))
            }
            let lv = min(max(log10(max(v, 1e-12)), ly0), ly1)
            return top + (height - top - bottom) * (1 - (lv - ly0) / max(ly1 - ly0, 1e-9))
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="24" font-size="15">\(escapeXML(title))</text>

        """
        for (v, label) in xTicks {
            svg += "<line x1=\"\(f(x(v)))\" y1=\"\(top)\" x2=\"\(f(x(v)))\" y2=\"\(height - bottom)\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(x(v)))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(escapeXML(label))</text>\n"
        }
        for (v, label) in yTicks where yRange.contains(v) {
            svg += "<line x1=\"\(left)\" y1=\"\(f(y(v)))\" x2=\"\(width - right)\" y2=\"\(f(y(v)))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(escapeXML(label))</text>\n"
        }
        if let (v, note) = reference {
            svg += "<line x1=\"\(left)\" y1=\"\(f(y(v)))\" x2=\"\(width - right)\" y2=\"\(f(y(v)))\" stroke=\"#444\" stroke-width=\"1.5\"/>"
            svg += "<text x=\"\(left + 6)\" y=\"\(f(y(v) + 16))\" fill=\"#444\">\(escapeXML(note))</text>\n"
        }
        svg += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">\(escapeXML(xLabel))</text>\n"
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            if !s.band.isEmpty {
                let upper = s.band.map { "\(f(x($0.0))),\(f(y($0.2)))" }
                let lower = s.band.reversed().map { "\(f(x($0.0))),\(f(y($0.1)))" }
                svg += "<polygon fill=\"\(s.color)\" fill-opacity=\"0.18\" stroke=\"none\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
            }
            let points = s.points.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash) points=\"\(points)\"/>\n"
            let legendY = top + 20 * Double(i)
            svg += "<line x1=\"\(width - right + 12)\" y1=\"\(legendY)\" x2=\"\(width - right + 36)\" y2=\"\(legendY)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
            svg += "<text x=\"\(width - right + 42)\" y=\"\(legendY + 4)\">\(escapeXML(s.label))</text>\n"
        }
        return svg + "</svg>\n"
    }
}

/// Percentile as the x of a percentile chart: log10(1 / (1 - p)).
func percentileX(_ percentile: Double) -> Double {
    log10(1 / (1 - min(percentile, 99.999) / 100))
}

let percentileTicks: [(Double, String)] = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].enumerated().map {
    (Double($0.offset), $0.element)
}

/// Decade ticks labelled in ns, µs, ms and s, covering `values` (ns).
func latencyAxis(_ values: [Double]) -> (ClosedRange<Double>, [(Double, String)]) {
    let positive = values.filter { $0 > 0 }
    let low = floor(log10(positive.min() ?? 10)), high = max(ceil(log10(positive.max() ?? 1e6)), low + 1)
    let ticks = stride(from: low, through: high, by: 1).map { decade -> (Double, String) in
        let v = pow(10, decade)
        let label = decade < 3 ? "\(Int(v)) ns" : decade < 6 ? "\(Int(v / 1e3)) µs" : decade < 9 ? "\(Int(v / 1e6)) ms" : "\(Int(v / 1e9)) s"
        return (v, label)
    }
    return (pow(10, low)...pow(10, high), ticks)
}

/// Latency by percentile: one line per store and operation.
func latencyChart(title: String, series: [(label: String, curve: [[Double]])]) -> String {
    let (yRange, yTicks) = latencyAxis(series.flatMap { $0.curve.map { $0[1] } })
    return SVGChart(
        title: title, xLabel: "percentile", xTicks: percentileTicks, xRange: 0...5, yTicks: yTicks, yRange: yRange,
        series: series.map { s in
            ChartSeries(label: s.label, color: storeColor(s.label), dashed: isDashed(s.label),
                        points: s.curve.map { (percentileX($0[0]), max($0[1], 1)) })
        }
    ).svg
}

/// The first store's latency over the second's by percentile: per
/// operation the median over rounds, and the rounds' range shaded.
func ratioChart(title: String, stores: [String], ops: [(op: String, points: [RatioPoint])]) -> String {
    let values = ops.flatMap { $0.points.flatMap { [$0.low, $0.high] } }
    let low = min(0.5, values.min() ?? 1), high = max(2, values.max() ?? 1)
    let candidates: [Double] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    return SVGChart(
        title: title, xLabel: "percentile", xTicks: percentileTicks, xRange: 0...5,
        yTicks: candidates.map { ($0, times($0)) }, yRange: (low / 1.1)...(high * 1.1),
        series: ops.enumerated().map { i, op in
            ChartSeries(label: "\(op.op) \(stores[0])/\(stores[1])", color: SVGChart.colors[2 + i % 4],
                        points: op.points.map { (percentileX($0.percentile), $0.ratio) },
                        band: op.points.map { (percentileX($0.percentile), $0.low, $0.high) })
        },
        reference: (1, "below 1: \(stores[0]) faster; above: \(stores[1]) faster")
    ).svg
}

/// A figure over a run's windows: one line per store and figure.
func trendChart(title: String, windows: Int, series: [(label: String, values: [Double])]) -> String {
    let (yRange, yTicks) = latencyAxis(series.flatMap(\.values))
    let step = max(1, windows / 10)
    return SVGChart(
        title: title, xLabel: "window", xTicks: stride(from: 1, through: windows, by: step).map { (Double($0), "\($0)") },
        xRange: 1...Double(max(windows, 2)), yTicks: yTicks, yRange: yRange,
        series: series.map { s in
            ChartSeries(label: s.label, color: storeColor(s.label), dashed: isDashed(s.label),
                        points: s.values.enumerated().map { (Double($0.offset + 1), max($0.element, 1)) })
        }
    ).svg
}

/// Keys per second by batch size, both axes logarithmic: each store's
/// batches (the median over rounds, the rounds' range shaded) and, dashed,
/// its loop of single gets.
func batchThroughputChart(_ batched: BatchedComparison) -> String {
    let batches = batched.modes.filter { !$0.mode.isLoop }
    let loop = batched.modes.first { $0.mode.isLoop }
    let x = { (keys: Int) in log2(Double(keys)) }
    let xs = batches.map { x($0.mode.keys) }
    let (yRange, yTicks) = throughputAxis(batched.modes.flatMap { $0.rounds.flatMap { $0.map(\.opsPerSecond) } })
    let series = batched.stores.indices.flatMap { s -> [ChartSeries] in
        let store = batched.stores[s]
        var lines = [ChartSeries(
            label: "\(store) batches", color: storeColor(store),
            points: batches.map { (x($0.mode.keys), $0.metrics[0].medians[s]) },
            band: batches.map { m in
                let values = m.rounds[s].map(\.opsPerSecond)
                return (x(m.mode.keys), values.min() ?? 0, values.max() ?? 0)
            })]
        if let loop, let first = xs.first, let last = xs.last {
            let keys = loop.metrics[0].medians[s]
            lines.append(ChartSeries(label: "\(store) \(loop.mode.label)", color: storeColor(store), dashed: true,
                                     points: [(first, keys), (last, keys)]))
        }
        return lines
    }
    return SVGChart(
        title: "batched reads: keys per second by batch size", xLabel: "keys per batch",
        xTicks: batches.map { (x($0.mode.keys), "\($0.mode.keys)") }, xRange: (xs.min() ?? 0)...(xs.max() ?? 1),
        yTicks: yTicks, yRange: yRange, series: series
    ).svg
}

/// Ticks at 1, 2 and 5 of each decade, labelled in millions per second,
/// covering `values` (per second).
func throughputAxis(_ values: [Double]) -> (ClosedRange<Double>, [(Double, String)]) {
    let positive = values.filter { $0 > 0 }
    let low = floor(log10(positive.min() ?? 1e5)), high = max(ceil(log10(positive.max() ?? 1e7)), low + 1)
    let ticks = stride(from: low, to: high, by: 1).flatMap { decade in [1.0, 2, 5].map { $0 * pow(10, decade) } } + [pow(10, high)]
    return (pow(10, low)...pow(10, high), ticks.map { v in (v, v >= 1e6 ? "\(String(format: "%g", v / 1e6)) M" : "\(String(format: "%g", v / 1e3)) k") })
}

/// Hit ratio by cache size (objects held as a share of the trace's
/// distinct keys), both axes linear: each store's replays, and dashed,
/// libCacheSim's LRU and S3FIFO on the same trace.
func hitRatioChart(_ curve: HitRatioCurve) -> String {
    let footprint = Double(max(curve.footprint, 1))
    let stores = curve.points.map(\.store).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    var series = stores.map { store in
        ChartSeries(label: store, color: storeColor(store), points: curve.points.filter { $0.store == store }
            .map { (100 * Double($0.result.peakEntries) / footprint, $0.result.hitRatio) }.sorted { $0.0 < $1.0 })
    }
    for (i, policy) in curve.reference.keys.sorted().enumerated() {
        series.append(ChartSeries(label: "libCacheSim \(policy)", color: SVGChart.colors[2 + i % 4], dashed: true,
                                  points: curve.reference[policy]!.map { (100 * $0[0] / footprint, $0[1]) }))
    }
    let all = series.flatMap { $0.points.map(\.1) }
    let low = max(0, ((all.min() ?? 0) * 10).rounded(.down) / 10)
    return SVGChart(
        title: "hit ratio by cache size: zipf \(curve.exponent), \(curve.footprint) distinct keys, cache-aside",
        xLabel: "cache size: objects held, % of the distinct keys", xTicks: stride(from: 0, through: 100, by: 10).map { (Double($0), "\($0)%") },
        xRange: 0...100, yTicks: stride(from: 0, through: 10, by: 1).map { (Double($0) / 10, String(format: "%.1f", Double($0) / 10)) },
        yRange: low...1, series: series, logY: false
    ).svg
}

/// ck in blue, native in orange, anything else green.
func storeColor(_ label: String) -> String {
    label.hasPrefix("ck") ? SVGChart.colors[0] : label.hasPrefix("native") ? SVGChart.colors[1] : SVGChart.colors[2]
}

/// Gets are drawn solid, writes dashed.
func isDashed(_ label: String) -> Bool { !label.contains(" get") }

/// `text` safe inside XML or HTML.
func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
