// The eviction scenario: both stores under one byte budget, half of what
// the data takes in the leaner store without one (the memory scenario's
// resident bytes per entry, times the keys, over two).
//
// 1. Each store gets a budgeted child beside its unbounded one, filled
//    with every key (so it evicts from the start).
// 2. Read-heavy under a budget: the read-heavy mix (90% get, 10% set,
//    uniform keys) on the budgeted store and on the unbounded one of the
//    same kind, in interleaved rounds: what eviction costs a store.
// 3. Cache-aside: Zipf 0.99 gets with a set after each miss, a separate
//    call, on the budgeted stores in interleaved rounds: hit ratio, ops/s
//    and latency side by side.
// 4. Hit ratio by cache size: one trace (Zipf 0.99, fixed seed) replayed
//    cache-aside from one thread on a fresh store per budget, and by
//    libCacheSim's LRU and S3FIFO at the same object counts (through
//    Benchmarks/Eviction/curve.py, on the very same trace file).
//
// A store that refuses a budget (Store before the C core's budget was
// wired to it) is reported as not measured, with its error; the rest runs.
import Foundation
import Histogram

/// Everything the eviction scenario measured, as written to results.json.
struct EvictionReport: Codable {
    var budget: Int
    /// Bytes per entry the budget was sized from, and from which store.
    var bytesPerEntry: Double
    var budgetRule: String
    /// Stores that would not open under a budget, and why.
    var notMeasured: [String: String]
    /// Per store that opened: the fill of every key into its budgeted store.
    var fills: [String: StoreCounters]
    /// Per store: the read-heavy mix with a budget against without one.
    var underBudget: [Comparison]
    var cacheAside: CacheAsideResult
    var curve: HitRatioCurve
}

/// The cache-aside rounds on the budgeted stores.
struct CacheAsideResult: Codable {
    var detail: String
    var stores: [String]
    /// Both stores compared (when both opened).
    var comparison: Comparison?
    /// Per store, per round: gets that hit.
    var hitRatios: [[Double]]
    /// Per store: hit ratio compared across stores (when both opened).
    var hitRatio: MetricComparison?
    /// Per store: entries held, evictions and bytes after the rounds.
    var counters: [StoreCounters]
    /// Per store: evictions during the measured rounds.
    var evictedInRounds: [Int]
    /// Per store: every round merged (the table when one store ran alone).
    var merged: [WindowResult]
}

/// One store's replay of the curve's trace under one budget.
struct CurvePoint: Codable {
    var store: String
    var budget: Int
    var result: ReplayResult
}

/// Hit ratio by cache size: the stores' replays and libCacheSim's.
struct HitRatioCurve: Codable {
    var keys: Int
    var requests: Int
    /// Distinct keys in the trace.
    var footprint: Int
    var exponent: Double
    var points: [CurvePoint]
    /// libCacheSim's hit ratio per policy, at object counts: [objects, hit ratio].
    var reference: [String: [[Double]]]
    /// Why libCacheSim's curves are missing, if they are.
    var referenceError: String?
    var notMeasured: [String: String]
}

/// The cache sizes of the curve, as fractions of what the trace's distinct
/// keys take.
/// Budgets under 4 MiB are left out: a store with a budget splits it among
/// shards, and a few hundred KiB per shard is more bookkeeping than cache.
let curveFractions: [Double] = [0.05, 0.1, 0.2, 0.35, 0.5, 0.75]
let smallestCurveBudget = 4 << 20
/// libCacheSim's cache sizes beside them, as fractions of the footprint
/// (at a store's own object count, the report interpolates between them).
let referenceFractions: [Double] = [0.05, 0.1, 0.25, 0.5, 0.75, 1]
let evictionZipf = 0.99
let readHeavyMix = OperationMix(get: 90, set: 10, delete: 0)

extension Interleaver {
    func evictionScenarios(_ main: [StoreChild], memory: [MemoryReport]) throws -> EvictionReport {
        let measured = zip(stores, memory).filter { $0.1.residentBytesPerEntry > 0 }
        let leanest = measured.min { $0.1.residentBytesPerEntry < $1.1.residentBytesPerEntry }
        let bytesPerEntry = leanest?.1.residentBytesPerEntry ?? settings.rawBytesPerEntry + 64
        let budget = evictionBudget(keys: settings.keys, bytesPerEntry: bytesPerEntry, fraction: 0.5)
        let rule = String(format: "half of what the %d keys take in %@ without a budget (%.1f resident bytes per entry, the memory scenario): %@",
                          settings.keys, leanest?.0.rawValue ?? "a store", bytesPerEntry, mebibytes(budget))
        let sizing = budgetSizing(settings, budget: budget, bytesPerEntry: bytesPerEntry)

        begin("eviction: fill")
        var notMeasured: [String: String] = [:]
        var pairs: [(budgeted: StoreChild, unbounded: StoreChild)] = []
        for (store, unbounded) in zip(stores, main) {
            do {
                pairs.append((try StoreChild(store, settings: settings, sizing: sizing), unbounded))
            } catch {
                notMeasured[store.rawValue] = "\(error)"
            }
        }
        var fills: [String: StoreCounters] = [:]
        for pair in pairs {
            StatusLine.show("eviction: filling \(pair.budgeted.store.rawValue)")
            try pair.budgeted.call(.preload(from: 0, to: settings.keys), WindowResult.self)
            fills[pair.budgeted.store.rawValue] = try pair.budgeted.call(.counters, StoreCounters.self)
        }

        var underBudget: [Comparison] = []
        for pair in pairs {
            let name = "read-heavy under a budget: \(pair.budgeted.store.rawValue)"
            begin(name)
            let spec = settings.spec(mix: readHeavyMix)
            let results: [[WindowResult]] = try rounds([pair.budgeted, pair.unbounded], count: settings.rounds, name) { round in
                .phase(spec: spec.reseeded(round), label: name)
            }
            underBudget.append(Comparison(
                name: name, detail: "90% get, 10% set, uniform keys, \(spec.threads) threads, closed loop; \(pair.budgeted.store.rawValue) "
                    + "under a budget of \(mebibytes(budget)) (budget) against the same store without one (unbounded), both holding "
                    + "the same \(settings.keys) keys before (the budgeted one keeps what fits)",
                stores: ["budget", "unbounded"], results: results))
        }

        let cacheAside = try cacheAsideRounds(pairs.map(\.budgeted), budget: budget)
        for pair in pairs { try pair.budgeted.quit() }
        let curve = try hitRatioCurve(bytesPerEntry: bytesPerEntry)
        return EvictionReport(budget: budget, bytesPerEntry: bytesPerEntry, budgetRule: rule, notMeasured: notMeasured, fills: fills,
                              underBudget: underBudget, cacheAside: cacheAside, curve: curve)
    }

    /// Cache-aside on the budgeted stores: a round of it unmeasured first
    /// (the fill left the keys written last, not the popular ones), then
    /// interleaved rounds.
    private func cacheAsideRounds(_ children: [StoreChild], budget: Int) throws -> CacheAsideResult {
        let name = "eviction: cache-aside"
        begin(name)
        var spec = settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0), distribution: .zipf(evictionZipf))
        spec.cacheAside = true
        for child in children {
            StatusLine.show("\(name): warming \(child.store.rawValue)")
            try child.call(.phase(spec: spec.reseeded(-1), label: "\(name) (warm-up)"), WindowResult.self)
        }
        let before = try children.map { try $0.call(.counters, StoreCounters.self) }
        let results: [[WindowResult]] = try rounds(children, count: settings.rounds, name) { round in
            .phase(spec: spec.reseeded(round), label: name)
        }
        let after = try children.map { try $0.call(.counters, StoreCounters.self) }
        let names = children.map(\.store.rawValue)
        let hitRatios = results.map { $0.map(hitRatio) }
        let detail = "gets of zipf \(evictionZipf) keys over \(settings.keys) keys, and after each miss a set of the key (a separate call, "
            + "timed as set; half with a TTL of \(settings.ttlSeconds) s); \(spec.threads) threads, closed loop; each store under a budget of "
            + "\(mebibytes(budget)); one unmeasured round on each store first"
        let both = children.count == 2
        return CacheAsideResult(
            detail: detail, stores: names,
            comparison: both ? Comparison(name: name, detail: detail, stores: names, results: results) : nil,
            hitRatios: hitRatios,
            hitRatio: both ? MetricComparison(metric: "hit ratio", higherIsBetter: true, rounds: hitRatios, stores: names) : nil,
            counters: after, evictedInRounds: zip(after, before).map { $0.evicted - $1.evicted },
            merged: results.map(mergeRounds))
    }

    /// The trace replayed on a fresh store per budget and store, the stores
    /// alternating, while libCacheSim replays it at its sizes (a process of
    /// its own, started first: it takes longer).
    private func hitRatioCurve(bytesPerEntry: Double) throws -> HitRatioCurve {
        begin("eviction: hit ratio by cache size")
        let keys = min(settings.traceKeys, settings.keys)
        let trace = zipfTrace(keys: keys, requests: settings.traceRequests, exponent: evictionZipf, seed: settings.seed)
        let footprint = Set(trace).count
        let path = NSTemporaryDirectory() + "ttlkv-bench-trace-\(getpid()).bin"
        try OracleTrace.write(trace, to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let libCacheSim = LibCacheSimRun(trace: path, sizes: Set(referenceFractions.map { max(1, Int(Double(footprint) * $0)) }).sorted())
        let budgets = Set(curveFractions.map { evictionBudget(keys: footprint, bytesPerEntry: bytesPerEntry, fraction: $0) })
            .filter { $0 >= smallestCurveBudget }.sorted()
        var points: [CurvePoint] = []
        var notMeasured: [String: String] = [:]
        for (b, budget) in budgets.enumerated() {
            for i in roundOrder(b, stores: stores.count) where notMeasured[stores[i].rawValue] == nil {
                let store = stores[i]
                StatusLine.show("hit ratio by cache size: \(mebibytes(budget)), \(store.rawValue)")
                let child: StoreChild
                do {
                    child = try StoreChild(store, settings: settings, sizing: budgetSizing(settings, budget: budget, bytesPerEntry: bytesPerEntry))
                } catch {
                    notMeasured[store.rawValue] = "\(error)"
                    continue
                }
                points.append(CurvePoint(store: store.rawValue, budget: budget, result: try child.call(.replay(path: path), ReplayResult.self)))
                try child.quit()
            }
        }
        StatusLine.show("hit ratio by cache size: waiting for libCacheSim")
        var reference: [String: [[Double]]] = [:]
        var referenceError: String?
        do {
            reference = try libCacheSim.result()
        } catch {
            referenceError = "\(error)"
        }
        return HitRatioCurve(keys: keys, requests: trace.count, footprint: footprint, exponent: evictionZipf, points: points,
                             reference: reference, referenceError: referenceError, notMeasured: notMeasured)
    }
}

extension PhaseSpec {
    /// This phase with keys drawn from another seed for round `round` (the
    /// same for both stores of the round). A cache's rounds must not replay
    /// one key sequence: the second round would find every key the first
    /// one set, and hit where a real cache misses.
    func reseeded(_ round: Int) -> PhaseSpec {
        var spec = self
        spec.seed = seed &+ UInt64(bitPattern: Int64(round + 2)) &* 0x9E37_79B9_7F4A_7C15
        return spec
    }
}

/// Gets that hit in a cache-aside window: every miss is followed by one
/// set, so hits are gets minus sets.
func hitRatio(_ window: WindowResult) -> Double {
    let gets = Double(window.histograms["get"]?.histogram.totalCount ?? 0)
    let sets = Double(window.histograms["set"]?.histogram.totalCount ?? 0)
    return gets > 0 ? (gets - sets) / gets : 0
}

/// One store's rounds as one window: histograms merged, seconds summed.
func mergeRounds(_ rounds: [WindowResult]) -> WindowResult {
    var merged: [String: Histogram<UInt64>] = [:]
    for round in rounds {
        for (op, wire) in round.histograms { merged[op, default: makeHistogram()].add(wire.histogram) }
    }
    return WindowResult(seconds: rounds.reduce(0) { $0 + $1.seconds }, failures: rounds.reduce(0) { $0 + $1.failures }, histograms: merged)
}

/// "12.0 MiB".
func mebibytes(_ bytes: Int) -> String {
    String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
}

/// libCacheSim's LRU and S3FIFO hit ratios on a trace file at each of
/// `sizes` objects, from Benchmarks/Eviction/curve.py (Python 3 and the
/// PyPI package libcachesim), running in the background from init on.
final class LibCacheSimRun {
    private let process = Process()
    private let output = Pipe()
    /// Its standard error, in a file: a pipe left unread while the driver
    /// waits on standard output could fill up and stall it.
    private let errorPath: String
    private var launchError: Error?

    init(trace path: String, sizes: [Int]) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Eviction/curve.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, path] + sizes.map(String.init)
        process.standardOutput = output
        errorPath = path + ".err"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        do { try process.run() } catch { launchError = error }
    }

    /// Waits for the run: per policy, [objects, hit ratio] pairs.
    func result() throws -> [String: [[Double]]] {
        if let launchError { throw launchError }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: errorPath)
        guard process.terminationStatus == 0 else {
            throw BenchError("curve.py failed (status \(process.terminationStatus)): "
                             + (message.split(separator: "\n").last.map(String.init) ?? "no message"))
        }
        return try JSONDecoder().decode([String: [[Double]]].self, from: data)
    }
}
