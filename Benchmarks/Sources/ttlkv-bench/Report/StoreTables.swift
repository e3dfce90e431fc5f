// Tables of one store alone, for `run` and `soak`.

/// A window's operations: ops/s and latency percentiles (µs).
func singleStoreTable(_ window: WindowResult, caption: String? = nil) -> Table {
    let ops = (Operation.allCases.map(\.name) + ["insert"]).filter { window.histograms[$0] != nil }
    return Table(caption: caption, header: ["op", "ops/s", "p50", "p90", "p99", "p99.9", "p99.99", "max"], rows: ops.map { op in
        let histogram = window.histograms[op]!.histogram
        let s = LatencySummary(histogram)
        return [op, millions(Double(histogram.totalCount) / max(window.seconds, 1e-9))]
            + [s.p50, s.p90, s.p99, s.p999, s.p9999, s.max].map { micros(Double($0)) }
    })
}

/// The columns of a churn's per-window table (µs, MiB).
func churnHeader(_ window: String) -> [String] {
    [window, "insert p50", "p99.9", "max", "get p50", "p99.9", "max", "entries", "pending records", "RSS MiB"]
}

/// One window of a churn, under `churnHeader`.
func churnRow(_ label: String, _ slice: ChurnSlice) -> [String] {
    var row = [label]
    for op in ["insert", "get"] {
        if let wire = slice.window.histograms[op] {
            let s = LatencySummary(wire.histogram)
            row += [s.p50, s.p999, s.max].map { micros(Double($0)) }
        } else {
            row += ["-", "-", "-"]
        }
    }
    let sample = slice.sample
    return row + ["\(sample.entries)", "\(sample.pendingRecords)", "\(sample.residentBytes >> 20)"]
}
