// The standard scenarios, run on two stores in interleaved rounds. Each
// store lives in its own child process for the whole run (one pair for the
// main table, one pair for the long churn), so no store pays for the
// other's allocations, and the driver alternates short rounds between
// them: in each round both stores run the same work back to back, the
// first store first in even rounds and the second first in odd ones, so
// that a slow drift of the machine favours neither. Load from elsewhere
// lands on a round or two, and shows as a wider range instead of as a
// false ratio.
//
// The long churn's slices follow a timetable instead: see ChurnSchedule.swift.
import Foundation

final class Interleaver {
    let settings: BenchSettings
    let stores: [StoreChoice] = [.ck, .native]
    private(set) var quietWaits: [QuietWait] = []
    private let started = nanoseconds()

    init(settings: BenchSettings) {
        self.settings = settings
    }

    var names: [String] { stores.map(\.rawValue) }

    /// Every scenario, in order.
    func run() throws -> CompareReport {
        let clock = clockReadCost()
        let ceiling = nullRun(settings.spec(mix: OperationMix(get: 90, set: 10, delete: 0)), seconds: 2).opsPerSecond
        let main = try stores.map { try StoreChild($0, settings: settings, sizing: settings.sizing) }
        let preload = try preloadRounds(main)
        let memory = try main.map { try $0.call(.memory, MemoryReport.self) }
        let phases = try phaseScenarios(main)
        let batched = try batchedRounds(main)
        let storm = try stormRounds(main, preload: preload)
        let eviction = try evictionScenarios(main, memory: memory)
        for child in main { try child.quit() }
        let churn = try longChurn()
        StatusLine.clear()
        return CompareReport(
            settings: settings, cores: cores, clockReadNanoseconds: clock, nullStoreOpsPerSecond: ceiling,
            quietWaits: quietWaits, seconds: elapsed, preload: preload, memory: memory, phases: phases,
            batched: batched, storm: storm, eviction: eviction, churn: churn
        )
    }

    private var elapsed: Double { Double(nanoseconds() - started) / 1e9 }

    /// Waits for a quiet machine and says which scenario starts.
    func begin(_ scenario: String) {
        let waited = waitForQuiet(seconds: settings.quietSeconds)
        quietWaits.append(QuietWait(scenario: scenario, seconds: waited))
        StatusLine.clear()
        writeError(String(format: "[%3.0f s] %@\n", elapsed, scenario))
    }

    /// `count` rounds; in round r each child runs `command(r)`.
    func rounds<Value: Codable>(_ children: [StoreChild], count: Int, _ label: String,
                                        _ command: (Int) -> ChildCommand) throws -> [[Value]] {
        var results = children.map { _ in [Value]() }
        for round in 0..<count {
            for i in roundOrder(round, stores: children.count) {
                StatusLine.show("\(label): round \(round + 1)/\(count), \(children[i].store.rawValue)")
                results[i].append(try children[i].call(command(round), Value.self))
            }
        }
        return results
    }

    /// A phase in this process on the null store: what the driver alone
    /// does with `spec`.
    private func nullRun(_ spec: PhaseSpec, seconds: Double) -> (opsPerSecond: Double, window: WindowResult) {
        var quick = settings
        quick.durationSeconds = seconds
        let window = StoreBench(store: NullStore(), settings: quick, name: "null").phase(spec, label: "driver alone")
        let ops = window.histograms.values.reduce(0) { $0 + Double($1.histogram.totalCount) }
        return (ops / window.seconds, window)
    }

    private func preloadRounds(_ children: [StoreChild]) throws -> Comparison {
        begin("preload")
        let (keys, count) = (settings.keys, settings.rounds)
        let results: [[WindowResult]] = try rounds(children, count: count, "preload") { round in
            .preload(from: round * keys / count, to: (round + 1) * keys / count)
        }
        return Comparison(name: "preload", detail: "\(keys) puts from \(settings.threads) threads, in \(count) chunks: each chunk is a round",
                          stores: names, results: results)
    }

    private func phase(_ children: [StoreChild], _ name: String, _ detail: String, _ spec: PhaseSpec) throws -> Comparison {
        begin(name)
        let results: [[WindowResult]] = try rounds(children, count: settings.rounds, name) { _ in .phase(spec: spec, label: name) }
        let loop = spec.rate.map { String(format: "open loop at %.0f ops/s", $0) } ?? "closed loop"
        return Comparison(name: name, detail: "\(detail); \(spec.threads) threads, \(loop)", stores: names, results: results,
                          offered: spec.rate == nil ? [] : Set(Operation.allCases.map(\.name)))
    }

    private func phaseScenarios(_ children: [StoreChild]) throws -> [Comparison] {
        let readHeavy = OperationMix(get: 90, set: 10, delete: 0), even = OperationMix(get: 50, set: 50, delete: 0)
        var phases = [
            try phase(children, "read-heavy", "90% get, 10% set, uniform keys", settings.spec(mix: readHeavy)),
            try phase(children, "skewed", "90% get, 10% set, zipf 0.99 keys", settings.spec(mix: readHeavy, distribution: .zipf(0.99))),
            try phase(children, "write-heavy", "50% get, 50% set, uniform keys", settings.spec(mix: even)),
        ]
        let threads = cores * settings.oversubscription
        for (name, mix) in [("read-heavy", readHeavy), ("50/50", even)] {
            let detail = "\(mix.summary), uniform keys, \(settings.oversubscription) threads per core"
            let closed = try phase(children, "oversubscribed \(name), closed loop", detail, settings.spec(mix: mix, threads: threads))
            // A rate both stores can nominally carry: half of what the
            // slower one did closed-loop (unless --rate says otherwise).
            let carried = closed.stores.indices.map { store in
                (0..<closed.rounds).map { round in closed.ops.reduce(0) { $0 + $1.rounds[store][round].opsPerSecond } }
            }
            let rate = settings.rate ?? (0.5 * (carried.map(median).min() ?? 1)).rounded()
            let spec = settings.spec(mix: mix, threads: threads, rate: rate)
            var open = try phase(children, "oversubscribed \(name), open loop", detail, spec)
            let alone = nullRun(spec, seconds: settings.durationSeconds).window
            open.notes.append(String(format: "target %.0f ops/s (%@); the driver alone (null store) at this rate: ", rate,
                                     settings.rate == nil ? "half the slower store's closed-loop median" : "--rate")
                + alone.histograms.keys.sorted().map { op in
                    let s = LatencySummary(alone.histograms[op]!.histogram)
                    return "\(op) p50 \(micros(Double(s.p50))), p99 \(micros(Double(s.p99))), p99.9 \(micros(Double(s.p999))) µs"
                }.joined(separator: "; "))
            phases += [closed, open]
        }
        return phases
    }

    /// Read-only batches of every standard mode; a round on a store runs
    /// them all, half the usual warm-up first and half a measured round each.
    private func batchedRounds(_ children: [StoreChild]) throws -> BatchedComparison {
        begin("batched reads")
        let request = BatchedRequest(spec: settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0)), modes: BatchMode.standard,
                                     warmupSeconds: settings.warmupSeconds / 2, windowSeconds: settings.durationSeconds / 2)
        let results: [[[WindowResult]]] = try rounds(children, count: settings.rounds, "batched reads") { _ in .batched(request) }
        let detail = "read only, uniform keys, \(settings.threads) threads; in each round each store runs every mode for "
            + String(format: "%.1f s", request.windowSeconds) + " (after \(String(format: "%.2f s", request.warmupSeconds)) of warm-up): "
            + "batches of 1 to 64 keys through withValues(forKeys:), and a loop of 16 single gets (withValue) timed together as the baseline; "
            + "latency is that of a whole batch; x/loop is a store's keys/s over its own loop's in the same round"
        return BatchedComparison(detail: detail, stores: names, modes: request.modes, results: results)
    }

    private func stormRounds(_ children: [StoreChild], preload: Comparison) throws -> StormComparison {
        begin("expiry storm")
        // One lead for both stores, from the slower one's preload.
        let puts = preload.ops.first { $0.op == "set" }?.metrics.first { $0.metric == "ops/s" }?.medians.min() ?? 0
        let lead = stormLead(stormKeys: settings.stormKeys, putsPerSecond: puts, warmupSeconds: settings.warmupSeconds)
        let request = StormRequest(stormKeys: settings.stormKeys, leadSeconds: lead, load: settings.spec(mix: OperationMix(get: 90, set: 10, delete: 0)),
                                   warmupSeconds: settings.warmupSeconds, afterSeconds: max(0.5, settings.durationSeconds / 2))
        let results: [[StormRound]] = try rounds(children, count: settings.rounds, "expiry storm") { _ in .storm(request) }
        let detail = "\(settings.stormKeys) keys due in one tick, written from \(settings.threads) threads "
            + String(format: "%.1f s before their deadline; 90%% get, 10%% set over the other keys, %d threads", lead, settings.threads)
        let windows = ["before", "during", "after"].enumerated().map { w, label in
            Comparison(name: "expiry storm: \(label)", detail: detail, stores: names, results: results.map { $0.map { $0.windows[w] } })
        }
        let lags = results.map { $0.map { LatencySummary($0.lagMilliseconds.histogram) } }
        let lag: [MetricComparison] = [
            ("lag p50 (ms)", { (s: LatencySummary) in Double(s.p50) }), ("lag p99 (ms)", { Double($0.p99) }), ("lag max (ms)", { Double($0.max) }),
        ].map { metric, value in
            MetricComparison(metric: metric, higherIsBetter: false, rounds: lags.map { $0.map(value) }, stores: names)
        } + [MetricComparison(metric: "all removed after (s)", higherIsBetter: false,
                              rounds: results.map { $0.map(\.reclaimSeconds) }, stores: names)]
        return StormComparison(keys: settings.stormKeys, windows: windows, lag: lag,
                               missedDeadlines: results.joined().filter(\.missedDeadline).count,
                               unfinished: results.joined().filter { $0.reclaimSeconds >= 20 }.count)
    }

    private func longChurn() throws -> ChurnComparison {
        begin("long churn")
        let (live, rate, replacements) = (settings.churnKeys, Double(settings.churnRate), settings.churnReplacements)
        let schedule = ChurnSchedule(liveKeys: live, rate: rate, replacements: replacements)
        let ttl = schedule.ttlMilliseconds
        let readers = max(1, settings.threads - 1)
        let children = try stores.map { try StoreChild($0, settings: settings, sizing: settings.sizing(capacity: live + live / 10)) }
        for child in children {
            try child.call(.churnStart(churn: ChurnSettings(rate: rate, ttlMilliseconds: ttl...ttl, firstKey: 0),
                                       readers: settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0), threads: readers),
                                       readRecent: live), Done.self)
        }
        let start = nanoseconds() + 20_000_000
        var slices: [[ChurnSlice]] = children.map { _ in [] }
        for k in 0..<(children.count * schedule.slicesPerStore) {
            let i = k % children.count
            let label = "long churn: slice \(k / children.count + 1)/\(schedule.slicesPerStore)"
            StatusLine.show("\(label), \(children[i].store.rawValue)")
            slices[i].append(try children[i].call(.churnSlice(until: start + schedule.end(ofSlice: k), label: label), ChurnSlice.self))
        }
        for child in children { try child.quit() }
        let windows: [[ChurnWindowSlices]] = slices.map { own in
            [ChurnWindowSlices(label: "fill", replaced: "0", slice: ChurnSlice(merging: Array(own[0..<2])))]
                + zip(schedule.windows, schedule.replaced).enumerated().map { w, window in
                    ChurnWindowSlices(label: "\(w + 1)", replaced: window.1.count == 1 ? "\(window.1.lowerBound)"
                                                                                        : "\(window.1.lowerBound)-\(window.1.upperBound)",
                                      slice: ChurnSlice(merging: Array(own[window.0])))
                }
        }
        let detail = String(format: "%d live keys in a store of their own, %.0f new keys/s with a TTL of %.1f s, %d reader thread%@ (get, recent keys); "
                            + "contents replaced %d times after the fill, in slices of %.2f s alternating %@",
                            live, rate, Double(ttl) / 1000, readers, readers == 1 ? "" : "s", replacements, schedule.sliceSeconds,
                            names.joined(separator: ", "))
        let summary = Comparison(name: "long churn", detail: detail + "; the table below compares the \(schedule.windows.count) windows after the fill as rounds",
                                 stores: names, results: windows.map { $0.dropFirst().map { $0.slice.window } }, offered: ["insert"])
        return ChurnComparison(
            liveKeys: live, rate: rate, ttlSeconds: Double(ttl) / 1000, sliceSeconds: schedule.sliceSeconds,
            replacements: replacements, readers: readers, summary: summary,
            windows: windows.map { $0.map(\.summary) },
            trends: windows.map { Trend($0.dropFirst().map { $0.slice }, ops: ["insert", "get"]) }
        )
    }
}

/// Which store goes first in each round: in order in even rounds, reversed
/// in odd ones (ABBA), so that a drift of the machine across a scenario
/// favours neither.
func roundOrder(_ round: Int, stores: Int) -> [Int] {
    round % 2 == 0 ? Array(0..<stores) : (0..<stores).reversed()
}

/// A long churn's window on one store: its slices merged.
private struct ChurnWindowSlices {
    var label: String
    var replaced: String
    var slice: ChurnSlice

    var summary: ChurnWindow {
        let insert = slice.window.histograms["insert"]?.histogram, get = slice.window.histograms["get"]?.histogram
        return ChurnWindow(label: label, replaced: replaced,
                           insertsPerSecond: Double(insert?.totalCount ?? 0) / max(slice.window.seconds, 1e-9),
                           insert: insert.map(LatencySummary.init), get: get.map(LatencySummary.init), sample: slice.sample)
    }
}
