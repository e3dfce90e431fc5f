// The eviction scenario's part of the report: the budget and the fill, the
// read-heavy mix with and without a budget (against issue 19's targets),
// the cache-aside rounds, and the hit ratio by cache size beside
// libCacheSim's LRU and S3FIFO.
import Foundation

/// Issue 19's targets for a store under a budget against itself without
/// one: ops/s at least this share...
let budgetThroughputTarget = 0.9
/// ...and p99.9 at most this many times as high.
let budgetTailTarget = 1.5

extension EvictionReport {
    /// Every comparison of the scenario (for the calls and .hgrm files).
    var comparisons: [Comparison] {
        underBudget + (cacheAside.comparison.map { [$0] } ?? [])
    }

    /// "ck: not yet measured: ..." for each store that refused a budget.
    var notMeasuredNotes: [String] {
        notMeasured.keys.sorted().map { "\($0): not yet measured: \(notMeasured[$0]!)" }
    }
}

extension Comparison {
    /// The budgeted store against the unbounded one, by issue 19's targets:
    /// get ops/s (the mix is fixed, so every operation's rate moves with
    /// it) and each operation's p99.9, medians of the rounds' ratios.
    var targetVerdict: String {
        func metric(_ op: String, _ name: String) -> MetricComparison? {
            ops.first { $0.op == op }?.metrics.first { $0.metric == name }
        }
        var parts: [String] = []
        if let rate = metric("get", "ops/s") {
            parts.append("ops/s \(times(rate.ratio)) (\(timesRange(rate.low, rate.high))), target >= \(times(budgetThroughputTarget)): "
                         + (rate.ratio >= budgetThroughputTarget ? "met" : "NOT MET"))
        }
        for op in ["get", "set"] {
            guard let tail = metric(op, "p99.9") else { continue }
            parts.append("\(op) p99.9 \(times(tail.ratio)) (\(timesRange(tail.low, tail.high))), target <= \(times(budgetTailTarget)): "
                         + (tail.ratio <= budgetTailTarget ? "met" : "NOT MET"))
        }
        return "budget/unbounded against issue 19's targets (medians of the rounds' ratios): " + parts.joined(separator: "; ")
    }
}

extension CompareReport {
    var evictionSections: [Section] {
        var sections = [budgetSection]
        for comparison in eviction.underBudget {
            var section = comparisonSection(comparison)
            section.notes.append(comparison.targetVerdict)
            sections.append(section)
        }
        sections.append(cacheAsideSection)
        sections.append(curveSection)
        return sections
    }

    private var budgetSection: Section {
        let e = eviction
        let rows = e.fills.keys.sorted().map { store -> [String] in
            let c = e.fills[store]!
            return [store, "\(c.entries)", percent(Double(c.entries) / Double(max(settings.keys, 1))), "\(c.evicted)",
                    mebibytes(c.usedBytes)]
        }
        return Section(
            title: "eviction: the budget",
            detail: "one byte budget for both stores: \(e.budgetRule); each store's budgeted child was filled with every key",
            tables: [Table(caption: "after the fill", header: ["store", "entries", "of the keys", "evicted", "budgeted bytes"], rows: rows)],
            notes: e.notMeasuredNotes)
    }

    private var cacheAsideSection: Section {
        let c = eviction.cacheAside
        var section: Section
        if let comparison = c.comparison {
            section = comparisonSection(comparison)
        } else {
            section = Section(title: "eviction: cache-aside", detail: c.detail,
                              tables: zip(c.stores, c.merged).map { singleStoreTable($1, caption: "\($0) alone, every round merged") },
                              notes: [])
        }
        var rows = c.stores.indices.map { s -> [String] in
            let ratios = c.hitRatios[s]
            return [c.stores[s], String(format: "%.4f", median(ratios)),
                    String(format: "%.4f-%.4f", ratios.min() ?? 0, ratios.max() ?? 0), "\(c.counters[s].entries)",
                    percent(Double(c.counters[s].entries) / Double(max(settings.keys, 1))), "\(c.evictedInRounds[s])"]
        }
        if let m = c.hitRatio {
            rows.append(["\(c.stores[0])/\(c.stores[1])", times(m.ratio), timesRange(m.low, m.high), "", "", m.call == "no call" ? "no call"
                         : m.call.replacingOccurrences(of: "faster", with: "more hits")])
        }
        section.tables.insert(Table(caption: "hit ratio (gets that hit; median and range over the rounds)",
                                    header: ["store", "hit ratio", "range", "entries", "of the keys", "evicted in the rounds"], rows: rows), at: 0)
        section.notes += eviction.notMeasuredNotes
        return section
    }

    private var curveSection: Section {
        let curve = eviction.curve
        let footprint = Double(max(curve.footprint, 1))
        func interpolated(_ policy: String, at objects: Double) -> String {
            guard let points = curve.reference[policy], !points.isEmpty else { return "-" }
            // Outside libCacheSim's sizes there is nothing to interpolate.
            guard let upper = points.firstIndex(where: { $0[0] >= objects }), upper > 0 || points[0][0] == objects else { return "-" }
            guard upper > 0 else { return String(format: "%.4f", points[0][1]) }
            let (a, b) = (points[upper - 1], points[upper])
            return String(format: "%.4f", a[1] + (b[1] - a[1]) * (objects - a[0]) / max(b[0] - a[0], 1))
        }
        let rows = curve.points.sorted { ($0.budget, $0.store) < ($1.budget, $1.store) }.map { p -> [String] in
            let entries = Double(p.result.peakEntries)
            return [p.store, mebibytes(p.budget), "\(p.result.peakEntries)", percent(entries / footprint),
                    String(format: "%.4f", p.result.hitRatio), interpolated("LRU", at: entries), interpolated("S3FIFO", at: entries),
                    "\(p.result.refused)", times(Double(p.result.counters.usedBytes) / Double(p.budget))]
        }
        var notes = curve.referenceError.map { ["libCacheSim's curves are missing: \($0)"] } ?? []
        // A store that refuses sets misses where a cache would evict, and
        // one past its budget broke its promise: the table shows both.
        let refusing = curve.points.filter { $0.result.refused > 0 || $0.result.counters.usedBytes > $0.budget }
        if !refusing.isEmpty {
            notes.append("refused sets or bytes over the budget at: " + refusing.map { "\($0.store) \(mebibytes($0.budget))" }.joined(separator: ", "))
        }
        notes += curve.notMeasured.keys.sorted().map { "\($0): not yet measured: \(curve.notMeasured[$0]!)" }
        return Section(
            title: "eviction: hit ratio by cache size",
            detail: "one trace of \(curve.requests) gets of zipf \(curve.exponent) keys over \(curve.keys) keys (\(curve.footprint) distinct), "
                + "replayed cache-aside from one thread on a fresh store per budget (a set after each miss), and by libCacheSim's LRU and "
                + "S3FIFO (Benchmarks/Eviction/curve.py) on the same trace file at "
                + referenceFractions.map { percent($0) }.joined(separator: ", ") + " of the distinct keys; "
                + "at a store's own object count (the most entries it held, sampled every 4096 requests) their hit ratio is "
                + "interpolated between those sizes; budgets are shares of what the distinct keys take (bytes per entry as above)",
            tables: [Table(header: ["store", "budget", "entries", "of the distinct keys", "hit ratio", "LRU", "S3FIFO",
                                   "refused sets", "used/budget"], rows: rows)],
            notes: notes,
            charts: [Chart(kind: "hit-ratio", svg: hitRatioChart(curve))])
    }
}

/// "12.5%".
func percent(_ fraction: Double) -> String {
    String(format: "%.1f%%", 100 * fraction)
}
