import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TTLKV

@main
struct TTLKVBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttlkv-bench",
        abstract: "Abuses TTLKV's stores and measures latency percentiles with HdrHistogram.",
        subcommands: [Compare.self, Run.self, Soak.self],
        defaultSubcommand: Compare.self
    )
}

/// The knobs every command shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Keys to preload.") var keys = 10_000_000
    @Option(help: "Worker threads (more than cores is allowed: that is part of the abuse). Default: cores.")
    var threads: Int?
    @Option(help: "Measured seconds per phase.") var duration = 10.0
    @Option(help: "Warm-up seconds before each measured phase.") var warmup = 2.0
    @Option(help: "Operation mix in percent (run only).") var mix = "get=90,set=10,delete=0"
    @Option(help: "Key distribution: uniform or zipf:<s> (run only).") var distribution = "uniform"
    @Option(help: "Key size in bytes (at least 16).") var keySize = 16
    @Option(help: "Value size in bytes, fixed or a range (16-64).") var valueSize = "32"
    @Option(help: "Share of sets that carry a TTL.") var ttlFraction = 0.5
    @Option(help: "TTL range in seconds for those sets.") var ttl = "600-1200"
    @Option(help: "Open loop: total operations per second, latency measured from each operation's intended start. Default: closed loop.")
    var rate: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Keys that reach their deadline in the same tick in the expiry storm.") var stormKeys = 1_000_000
    @Option(help: "Seconds of churn.") var churnSeconds = 60
    @Option(help: "New short-TTL keys inserted per second during churn.") var churnRate = 100_000
    @Option(help: "Write .hgrm files, results.json and SVG charts into this directory.") var output: String?

    func validate() throws {
        guard keys > 0, (threads ?? 1) > 0, duration > 0, warmup >= 0 else { throw ValidationError("counts and durations must be positive") }
        guard keySize >= 16 else { throw ValidationError("--key-size must be at least 16") }
        guard parseRange(valueSize) != nil, parseRange(ttl).map({ $0.lowerBound > 0 }) == true else {
            throw ValidationError("--value-size and --ttl take N or N-M")
        }
        guard OperationMix(argument: mix) != nil else { throw ValidationError("--mix must look like get=90,set=10,delete=0 and sum to 100") }
        guard KeyDistribution(argument: distribution) != nil else { throw ValidationError("--distribution is uniform or zipf:<s>") }
        guard (0...1).contains(ttlFraction), churnSeconds > 0, churnRate > 0 else { throw ValidationError("bad churn or TTL settings") }
    }

    var settings: BenchSettings {
        BenchSettings(
            keys: keys, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
            warmupSeconds: warmup, durationSeconds: duration, keySize: keySize, valueSizes: valueSize,
            ttlFraction: ttlFraction, ttlSeconds: ttl, rate: rate, seed: seed,
            stormKeys: min(stormKeys, keys), churnSeconds: churnSeconds, churnRate: churnRate
        )
    }

    /// The arguments that reproduce these options in a child process.
    var arguments: [String] {
        var args = ["--keys", "\(keys)", "--duration", "\(duration)", "--warmup", "\(warmup)", "--key-size", "\(keySize)",
                    "--value-size", valueSize, "--ttl-fraction", "\(ttlFraction)", "--ttl", ttl, "--seed", "\(seed)",
                    "--storm-keys", "\(stormKeys)", "--churn-seconds", "\(churnSeconds)", "--churn-rate", "\(churnRate)",
                    "--mix", mix, "--distribution", distribution]
        if let threads { args += ["--threads", "\(threads)"] }
        if let rate { args += ["--rate", "\(rate)"] }
        if let output { args += ["--output", output] }
        return args
    }
}

/// The stores the driver can measure.
enum StoreChoice: String, ExpressibleByArgument, CaseIterable {
    case ck, native, null
}

/// A store opened for the preload plus room for the storm and churn.
func openStore(_ choice: StoreChoice, settings: BenchSettings) throws -> any ManagedStore {
    var configuration = StoreConfiguration(capacity: settings.keys + settings.keys / 10)
    configuration.maximumKeySize = max(settings.keySize, 16)
    configuration.maximumValueSize = max(settings.valueRange.upperBound, 1)
    switch choice {
    case .ck: return try Store(configuration: configuration)
    case .native: return try NativeStore(configuration: configuration)
    case .null: return NullStore()
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one store on one scenario with every knob exposed.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case all, phase, storm, churn
    }

    @OptionGroup var options: BenchOptions
    @Option(help: "The store: ck, native or null (a store that does nothing: the driver's own ceiling).")
    var store: StoreChoice = .ck
    @Option(help: "all (every standard scenario), phase (preload, then --mix over --distribution), storm, churn.")
    var scenario: Scenario = .phase
    @Flag(help: "Print a JSON report on stdout instead of tables (what compare reads).") var json = false

    func run() throws {
        let settings = options.settings
        let baseline = residentBytes()
        let opened = try openStore(store, settings: settings)
        let report = try runScenarios(on: opened, settings: settings, baseline: baseline)
        if json {
            FileHandle.standardOutput.write(try JSONEncoder().encode(report))
            return
        }
        print(report.text)
    }

    private func runScenarios(on opened: any ManagedStore, settings: BenchSettings, baseline: Int) throws -> RunReport {
        func go<S: ManagedStore>(_ s: S) -> RunReport {
            let scenarios = Scenarios(store: s, name: store.rawValue, settings: settings, output: options.output)
            switch scenario {
            case .all:
                return RunReport(store: scenarios.runAll(baseline: baseline))
            case .phase:
                let preload = scenarios.preload()
                let phase = scenarios.phase("\(options.mix) \(options.distribution)", mix: OperationMix(argument: options.mix)!,
                                            distribution: KeyDistribution(argument: options.distribution)!)
                return RunReport(text: latencyTable("preload", [(store.rawValue, preload)]) + latencyTable(phase.name, [(store.rawValue, phase)]))
            case .storm:
                _ = scenarios.preload()
                let storm = scenarios.storm()
                return RunReport(text: storm.windows.map { latencyTable("storm: \($0.name)", [(store.rawValue, $0)]) }.joined()
                    + String(format: "\nall %d storm keys removed %.2f s after their deadline; lag p99 %llu ms\n",
                             storm.keys, storm.reclaimSeconds, storm.lagMilliseconds.p99))
            case .churn:
                _ = scenarios.preload()
                let churn = scenarios.churn()
                return RunReport(text: churn.samples.map {
                    "\($0.second) s: entries \($0.entries), pending records \($0.pendingRecords), RSS \($0.residentBytes >> 20) MiB, deferred frees \($0.deferredFrees)"
                }.joined(separator: "\n") + "\nlevels off: \(churn.levelledOff)")
            }
        }
        switch opened {
        case let s as Store: return go(s)
        case let s as NativeStore: return go(s)
        case let s as NullStore: return go(s)
        default: throw ValidationError("unknown store")
        }
    }
}

/// What `run` prints: a full store report (for compare) or text.
struct RunReport: Codable {
    var store: StoreReport?
    var text = ""

    init(store: StoreReport) { self.store = store }
    init(text: String) { self.text = text }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every standard scenario on the ck store and the native store, side by side (what `make bench` runs).",
        discussion: """
        Each store runs in its own child process, one after the other, and the driver waits for a quiet machine \
        before each: after a process frees several GiB this VM stalls for 10-20 s, which would be charged to \
        whichever store ran next.
        """)

    @OptionGroup var options: BenchOptions

    func run() throws {
        let settings = options.settings
        let clock = clockReadCost()
        let ceiling = nullStoreCeiling(settings)
        var reports: [StoreReport] = []
        var waits: [String] = []
        for store in [StoreChoice.ck, .native] {
            let waited = waitForQuiet()
            waits.append(String(format: "%@ after %.1f s", store.rawValue, waited))
            writeError("running \(store.rawValue) in its own process...\n")
            reports.append(try runChild(store))
        }
        let report = CompareReport(
            settings: settings, clockReadNanoseconds: clock, nullStoreOpsPerSecond: ceiling,
            isolation: "each store in its own process; waited for 2 quiet seconds (no scheduling stall over 3 ms) before each: "
                + waits.joined(separator: ", "),
            stores: reports
        )
        print(renderReport(report))
        if let output = options.output {
            try writeOutputs(report, to: output)
            print("\nwrote results.json, .hgrm files and SVG charts to \(output)")
        }
    }

    private func runChild(_ store: StoreChoice) throws -> StoreReport {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["run", "--store", store.rawValue, "--scenario", "all", "--json"] + options.arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let report = try JSONDecoder().decode(RunReport.self, from: data).store else {
            throw ValidationError("the \(store.rawValue) run failed (status \(process.terminationStatus))")
        }
        return report
    }

    /// The read-heavy mix against a store that does nothing, for 3 seconds.
    private func nullStoreCeiling(_ settings: BenchSettings) -> Double {
        var quick = settings
        quick.warmupSeconds = 0.5
        quick.durationSeconds = 2
        let scenarios = Scenarios(store: NullStore(), name: "null", settings: quick, output: nil)
        return scenarios.phase("driver ceiling", mix: OperationMix(get: 90, set: 10, delete: 0), distribution: .uniform).opsPerSecond
    }
}

/// Waits until the machine has been quiet (no 1 ms sleep overshooting by
/// more than 3 ms) for two seconds in a row, at most 60 s; returns seconds.
func waitForQuiet() -> Double {
    let start = nanoseconds()
    var quietSince = nanoseconds()
    while nanoseconds() - start < 60_000_000_000 {
        let before = nanoseconds()
        usleep(1000)
        if nanoseconds() - before > 4_000_000 { quietSince = nanoseconds() }
        if nanoseconds() - quietSince > 2_000_000_000 { break }
    }
    return Double(nanoseconds() - start) / 1e9
}

struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mixed load with churn of short-TTL keys for many minutes; fails if memory, entries, pending records or deferred frees keep growing.",
        discussion: "What `make soak MINUTES=N` runs. Preloads --keys, then runs get=80,set=15,delete=5 over them (half the sets with a TTL in --ttl, default 1-5 s) next to --churn-rate new keys per second with TTLs of 1-5 s.")

    @OptionGroup var options: BenchOptions
    @Option(help: "The store: ck or native.") var store: StoreChoice = .ck
    @Option(help: "Minutes of load.") var minutes = 10

    func run() throws {
        var settings = options.settings
        settings.churnSeconds = minutes * 60
        if options.ttl == "600-1200" { settings.ttlSeconds = "1-5" }
        let baseline = residentBytes()
        let opened = try openStore(store, settings: settings)
        let report: ChurnReport
        func go<S: ManagedStore>(_ s: S) -> ChurnReport {
            let scenarios = Scenarios(store: s, name: store.rawValue, settings: settings, output: nil)
            _ = scenarios.preload()
            return scenarios.churn(mix: OperationMix(get: 80, set: 15, delete: 5))
        }
        switch opened {
        case let s as Store: report = go(s)
        case let s as NativeStore: report = go(s)
        default: throw ValidationError("soak runs ck or native")
        }
        let maxDeferred = report.samples.map(\.deferredFrees).max() ?? 0
        print("soak: \(store.rawValue), \(minutes) min, \(settings.keys) preloaded keys, \(settings.churnRate) new short-TTL keys/s, "
              + String(format: "%.2f M mixed ops/s", report.readsPerSecond / 1e6))
        print(" minute   entries   pending records   RSS MiB   deferred frees")
        for sample in report.samples where sample.second % 60 == 0 || sample.second == 1 {
            print(String(format: "%7.1f %9d %17d %9d %16d", Double(sample.second) / 60, sample.entries,
                         sample.pendingRecords, (sample.residentBytes - baseline) >> 20, sample.deferredFrees))
        }
        print(String(format: "growth middle third -> last third: entries %+.2f%%, RSS %+.2f%%, pending %+.2f%%; deferred frees peak %d",
                     report.entriesGrowthPercent, report.residentGrowthPercent, report.pendingGrowthPercent, maxDeferred))
        guard report.levelledOff else {
            print("soak: FAILED: something keeps growing")
            throw ExitCode.failure
        }
        print("soak: passed: entries, memory and pending records level off")
    }
}
