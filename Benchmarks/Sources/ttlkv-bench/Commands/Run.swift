import ArgumentParser
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one store on one scenario, in this process, with every knob exposed.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case phase, batched, storm, churn
    }

    @OptionGroup var options: BenchOptions
    @Option(help: "The store: ck, native or null (a store that does nothing: the driver's own ceiling).")
    var store: StoreChoice = .ck
    @Option(help: "phase (preload, then --mix over --distribution), batched (preload, then read-only batches of 1 to 64 keys and a loop of 16 single gets, --duration each), storm (preload, then one expiry storm) or churn (a store of --churn-keys live keys churned --churn-replacements times).")
    var scenario: Scenario = .phase

    func run() throws {
        let settings = options.settings
        let sizing = scenario == .churn ? settings.sizing(capacity: settings.churnKeys + settings.churnKeys / 10) : settings.sizing
        let baseline = residentBytes()
        print(try store.open(sizing, for: RunScenario(options: options, scenario: scenario, name: store.rawValue, baseline: baseline)))
    }
}

/// `run`'s work on the opened store; returns the text to print.
private struct RunScenario: StoreUser {
    let options: BenchOptions
    let scenario: Run.Scenario
    let name: String
    let baseline: Int

    func use<S: BenchStore>(_ store: S) throws -> String {
        defer { store.close() }
        let settings = options.settings
        let bench = StoreBench(store: store, settings: settings, name: name)
        switch scenario {
        case .phase:
            let preload = bench.preload(0..<settings.keys)
            var spec = settings.spec(mix: OperationMix(argument: options.mix)!, distribution: KeyDistribution(argument: options.distribution)!)
            spec.rate = settings.rate
            let label = "\(options.mix) \(options.distribution)"
            let loop = settings.rate.map { String(format: "open loop at %.0f ops/s", $0) } ?? "closed loop"
            return singleStoreTable(preload, caption: "\(name): preload").text + "\n"
                + singleStoreTable(bench.phase(spec, label: label), caption: "\(name): \(label), \(spec.threads) threads, \(loop)").text
        case .batched:
            let preload = bench.preload(0..<settings.keys)
            let request = BatchedRequest(spec: settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0)), modes: BatchMode.standard,
                                         warmupSeconds: settings.warmupSeconds, windowSeconds: settings.durationSeconds)
            let windows = bench.batched(request)
            let table = Table(
                caption: "\(name): batched reads, \(settings.threads) threads, uniform keys (latency of a whole batch, µs)",
                header: ["mode", "keys/s", "p50", "p90", "p99", "p99.9", "max"],
                rows: zip(request.modes, windows).map { mode, window in
                    let histogram = window.histograms["get"]?.histogram ?? makeHistogram()
                    let s = LatencySummary(histogram)
                    return [mode.label, millions(Double(histogram.totalCount * UInt64(mode.keys)) / max(window.seconds, 1e-9))]
                        + [s.p50, s.p90, s.p99, s.p999, s.max].map { micros(Double($0)) }
                })
            return singleStoreTable(preload, caption: "\(name): preload").text + "\n" + table.text
        case .storm:
            let preload = bench.preload(0..<settings.keys)
            let puts = Double(preload.histograms["set"]?.histogram.totalCount ?? 0) / max(preload.seconds, 1e-9)
            let round = bench.storm(StormRequest(stormKeys: settings.stormKeys,
                                                 leadSeconds: stormLead(stormKeys: settings.stormKeys, putsPerSecond: puts,
                                                                       warmupSeconds: settings.warmupSeconds),
                                                 load: settings.spec(mix: OperationMix(get: 90, set: 10, delete: 0)),
                                                 warmupSeconds: settings.warmupSeconds, afterSeconds: settings.durationSeconds))
            let lag = LatencySummary(round.lagMilliseconds.histogram)
            return zip(["before", "during", "after"], round.windows).map { singleStoreTable($1, caption: "\(name): storm \($0)").text + "\n" }.joined()
                + String(format: "all %d storm keys removed %.2f s after their deadline; lag p50 %llu, p99 %llu, max %llu ms%@",
                         settings.stormKeys, round.reclaimSeconds, lag.p50, lag.p99, lag.max,
                         round.missedDeadline ? " (writing them took past the deadline)" : "")
        case .churn:
            // Slices back to back: each replaces the table's contents once.
            let seconds = Double(settings.churnKeys) / Double(settings.churnRate)
            let ttl = Int((seconds * 1000).rounded())
            let engine = ChurnEngine(
                bench: bench, churn: ChurnSettings(rate: Double(settings.churnRate), ttlMilliseconds: ttl...ttl, firstKey: 0),
                readers: settings.spec(mix: OperationMix(get: 100, set: 0, delete: 0), threads: max(1, settings.threads - 1)),
                readRecent: settings.churnKeys, baseline: baseline)
            let start = nanoseconds()
            let slices = (0...settings.churnReplacements).map { k in
                engine.slice(until: start + UInt64(Double(k + 1) * seconds * 1e9), label: "churn \(k)/\(settings.churnReplacements)")
            }
            let table = Table(caption: "\(name): churn of \(settings.churnKeys) live keys, \(settings.churnRate) new keys/s, TTL \(ttl) ms (µs, MiB)",
                              header: churnHeader("replaced"),
                              rows: slices.enumerated().map { churnRow($0 == 0 ? "fill" : "\($0)", $1) })
            return table.text + "last third / middle third: " + Trend(Array(slices.dropFirst()), ops: ["insert", "get"]).summary
        }
    }
}
