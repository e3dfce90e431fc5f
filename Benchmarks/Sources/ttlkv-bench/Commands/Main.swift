import ArgumentParser
import Foundation

@main
struct TTLKVBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttlkv-bench",
        abstract: "Abuses TTLKV's stores and measures latency percentiles with HdrHistogram.",
        subcommands: [Compare.self, Run.self, Soak.self, SnapshotSpeed.self, Child.self],
        defaultSubcommand: Compare.self
    )
}

/// The knobs every command shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Keys to preload.") var keys = 10_000_000
    @Option(help: "Worker threads. Default: cores.") var threads: Int?
    @Option(help: "Measured seconds per round (run: per phase).") var duration = 2.0
    @Option(help: "Warm-up seconds before each measured round.") var warmup = 0.5
    @Option(help: "Rounds per scenario on each store (compare: at least 3).") var rounds = 5
    @Option(help: "Operation mix in percent (run only).") var mix = "get=90,set=10,delete=0"
    @Option(help: "Key distribution: uniform or zipf:<s> (run only).") var distribution = "uniform"
    @Option(help: "Key size in bytes (at least 16).") var keySize = 16
    @Option(help: "Value size in bytes, fixed or a range (16-64).") var valueSize = "32"
    @Option(help: "Share of sets that carry a TTL.") var ttlFraction = 0.5
    @Option(help: "TTL range in seconds for those sets.") var ttl = "600-1200"
    @Option(help: "Open loop: total operations per second, latency measured from each operation's intended start (compare: the oversubscribed open-loop scenarios' rate; default half of what the slower store carried closed-loop). Default for run: closed loop.")
    var rate: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Oversubscribed scenarios run this many threads per core.") var oversubscription = 8
    @Option(help: "Keys that reach their deadline in the same tick in the expiry storm.") var stormKeys = 1_000_000
    @Option(help: "Live keys in the long churn (a store of its own).") var churnKeys = 200_000
    @Option(help: "New keys per second in the long churn and the soak.") var churnRate = 200_000
    @Option(help: "Times the long churn replaces its table's contents after filling it (at least 5).")
    var churnReplacements = 20
    @Option(help: "Keys in the trace of the eviction scenario's hit-ratio curve (at most --keys).") var traceKeys = 1_000_000
    @Option(help: "Requests in that trace (Zipf 0.99), each replayed cache-aside on a fresh store per cache size.")
    var traceRequests = 1_000_000
    @Option(help: "Seconds without a scheduling stall to wait for before each scenario (at most 10 s of waiting).")
    var quiet = 2.0
    @Option(help: "Write index.html, results.json, SVG charts and .hgrm files into this directory.") var output: String?

    func validate() throws {
        guard keys > 0, (threads ?? 1) > 0, duration > 0, warmup >= 0, rounds > 0, oversubscription > 0, quiet >= 0 else {
            throw ValidationError("counts and durations must be positive")
        }
        guard keySize >= 16 else { throw ValidationError("--key-size must be at least 16") }
        guard parseRange(valueSize) != nil, parseRange(ttl).map({ $0.lowerBound > 0 }) == true else {
            throw ValidationError("--value-size and --ttl take N or N-M")
        }
        guard OperationMix(argument: mix) != nil else { throw ValidationError("--mix must look like get=90,set=10,delete=0 and sum to 100") }
        guard KeyDistribution(argument: distribution) != nil else { throw ValidationError("--distribution is uniform or zipf:<s>") }
        guard (0...1).contains(ttlFraction), (rate ?? 1) > 0, stormKeys > 0, churnKeys > 0, churnRate > 0 else {
            throw ValidationError("bad TTL, rate, storm or churn settings")
        }
        guard traceKeys > 0, traceRequests > 0 else { throw ValidationError("--trace-keys and --trace-requests must be positive") }
        guard churnReplacements >= 5 else { throw ValidationError("--churn-replacements must be at least 5") }
    }

    var settings: BenchSettings {
        BenchSettings(
            keys: keys, threads: threads ?? cores, warmupSeconds: warmup, durationSeconds: duration, rounds: rounds,
            keySize: keySize, valueSizes: valueSize, ttlFraction: ttlFraction, ttlSeconds: ttl, rate: rate, seed: seed,
            oversubscription: oversubscription, stormKeys: min(stormKeys, keys), churnKeys: churnKeys, churnRate: churnRate,
            churnReplacements: churnReplacements, quietSeconds: quiet, traceKeys: min(traceKeys, keys), traceRequests: traceRequests
        )
    }
}

/// Cores this process may run on.
var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

extension StoreChoice: ExpressibleByArgument {}

/// Runs one store for `compare`: commands on standard input, replies on
/// standard output (see ChildProtocol.swift).
struct Child: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serves one store to `compare` over a pipe (internal).", shouldDisplay: false)

    @Option(help: "The store: ck or native.") var store: StoreChoice

    func run() throws {
        let commands = LineReader(STDIN_FILENO)
        guard let line = commands.readLine(),
              case .open(let settings, let sizing) = try JSONDecoder().decode(ChildCommand.self, from: line)
        else { throw BenchError("a child's first command must be open") }
        let baseline = residentBytes()
        do {
            try store.open(sizing, for: ChildSession(settings: settings, name: store.rawValue, commands: commands, baseline: baseline))
        } catch let error as StoreOpenError {
            try writeLine(ChildReply<Done>(error: error.description))
        }
    }
}

/// Waits until the machine has been quiet (no 1 ms sleep overshooting by
/// more than 3 ms) for `seconds` in a row, at most 10 s (on a busy machine
/// waiting does not help, and interleaving copes); returns seconds waited.
func waitForQuiet(seconds: Double) -> Double {
    let start = nanoseconds()
    var quietSince = nanoseconds()
    while nanoseconds() - start < 10_000_000_000 {
        let before = nanoseconds()
        usleep(1000)
        if nanoseconds() - before > 4_000_000 { quietSince = nanoseconds() }
        if Double(nanoseconds() - quietSince) / 1e9 >= seconds { break }
    }
    return Double(nanoseconds() - start) / 1e9
}
