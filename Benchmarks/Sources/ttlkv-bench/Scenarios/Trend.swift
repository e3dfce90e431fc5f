// Whether a long run holds up: the windows of a churn or a soak, split in
// thirds. The first third includes the run's settling in (a table filling
// up, allocator pools growing), so the verdict compares the last third
// with the middle third: latencies from the thirds' merged histograms,
// memory and counts as the thirds' means. Flat means no figure of the last
// third exceeds the middle third's by more than the limit (getting faster
// or smaller is fine).
import Histogram

/// One figure of the middle third against the last.
struct TrendCheck: Codable {
    var name: String
    var middle: Double
    var last: Double
    var ratio: Double

    init(_ name: String, middle: Double, last: Double) {
        (self.name, self.middle, self.last) = (name, middle, last)
        ratio = middle > 0 ? last / middle : last > 0 ? .infinity : 1
    }
}

/// The verdict on a run's windows.
struct Trend: Codable {
    var checks: [TrendCheck]
    var limit: Double
    /// The last window against the first, for `ops`' p50 and p99.9.
    var firstToLast: [TrendCheck]

    var flat: Bool { checks.allSatisfy { $0.ratio <= limit } }

    /// Judges `windows` (in order) for the latencies of `ops` and the
    /// samples' memory and counts.
    init(_ windows: [ChurnSlice], ops: [String], limit: Double = 1.5) {
        self.limit = limit
        let third = windows.count / 3
        let middle = Array(windows[third..<(2 * third)]), last = Array(windows[(2 * third)...])
        checks = []
        firstToLast = []
        for op in ops {
            let (m, l) = (merged(middle, op), merged(last, op))
            let (first, final) = (merged(Array(windows.prefix(1)), op), merged(Array(windows.suffix(1)), op))
            for (label, percentile) in [("p50", 50.0), ("p99.9", 99.9)] {
                if m.totalCount > 0 && l.totalCount > 0 {
                    checks.append(TrendCheck("\(op) \(label)", middle: Double(m.valueAtPercentile(percentile)),
                                             last: Double(l.valueAtPercentile(percentile))))
                }
                if first.totalCount > 0 && final.totalCount > 0 {
                    firstToLast.append(TrendCheck("\(op) \(label)", middle: Double(first.valueAtPercentile(percentile)),
                                                  last: Double(final.valueAtPercentile(percentile))))
                }
            }
        }
        func mean(_ part: [ChurnSlice], _ value: (ChurnSample) -> Int) -> Double {
            part.isEmpty ? 0 : Double(part.map { value($0.sample) }.reduce(0, +)) / Double(part.count)
        }
        checks.append(TrendCheck("entries", middle: mean(middle) { $0.entries }, last: mean(last) { $0.entries }))
        checks.append(TrendCheck("pending records", middle: mean(middle) { $0.pendingRecords }, last: mean(last) { $0.pendingRecords }))
        checks.append(TrendCheck("RSS", middle: mean(middle) { $0.residentBytes }, last: mean(last) { $0.residentBytes }))
    }

    /// "insert p99.9 1.02x, ..., RSS 1.00x -> flat (limit 1.5x)".
    var summary: String {
        checks.map { "\($0.name) \(times($0.ratio))" }.joined(separator: ", ")
            + " -> " + (flat ? "flat" : "NOT FLAT") + " (limit \(times(limit)))"
    }
}

/// `op`'s histograms of `windows`, merged.
private func merged(_ windows: [ChurnSlice], _ op: String) -> Histogram<UInt64> {
    var all = makeHistogram()
    for window in windows {
        if let histogram = window.window.histograms[op] { all.add(histogram.histogram) }
    }
    return all
}

extension ChurnSlice {
    /// Consecutive slices as one window: histograms merged, seconds and
    /// failures added, the last sample kept.
    init(merging slices: [ChurnSlice]) {
        var histograms: [String: Histogram<UInt64>] = [:]
        for slice in slices {
            for (op, wire) in slice.window.histograms {
                histograms[op, default: makeHistogram()].add(wire.histogram)
            }
        }
        self.init(
            window: WindowResult(seconds: slices.reduce(0) { $0 + $1.window.seconds },
                                 failures: slices.reduce(0) { $0 + $1.window.failures }, histograms: histograms),
            sample: slices.last!.sample
        )
    }
}
