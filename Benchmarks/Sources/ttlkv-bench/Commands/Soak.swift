import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation

struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mixed load with churn of short-TTL keys on one store for many minutes; fails unless it stays flat.",
        discussion: """
        What `make soak MINUTES=N` runs. Preloads --keys, then runs get=80,set=15,delete=5 over them (half the sets \
        with a TTL in --ttl, default 1-5 s) next to --churn-rate new keys per second with TTLs of 1-5 s. Prints, per \
        window (a minute), insert and get p50/p99.9/max next to entries, pending expiry records and resident memory, \
        and fails unless the last third of the windows stays within 1.5x of the middle third in all of them (p50 \
        and p99.9 of the thirds' merged histograms; means of the rest).
        """)

    @OptionGroup var options: BenchOptions
    @Option(help: "The store: ck or native.") var store: StoreChoice = .ck
    @Option(help: "Minutes of load.") var minutes = 10
    @Option(help: "Seconds per window (one row of the table).") var windowSeconds = 60

    func validate() throws {
        guard store != .null else { throw ValidationError("soak runs ck or native") }
        guard windowSeconds > 0, minutes * 60 / windowSeconds >= 3 else {
            throw ValidationError("a verdict needs at least 3 windows: raise --minutes or lower --window-seconds")
        }
    }

    func run() throws {
        var settings = options.settings
        if options.ttl == "600-1200" { settings.ttlSeconds = "1-5" }
        // Room for the preload and for the churn's keys at their longest TTL.
        let planned = settings.keys + settings.churnRate * 5
        let baseline = residentBytes()
        let flat = try store.open(settings.sizing(capacity: planned + planned / 10),
                                  for: SoakRun(settings: settings, name: store.rawValue, windows: minutes * 60 / windowSeconds,
                                               windowSeconds: windowSeconds, baseline: baseline))
        if !flat { throw ExitCode.failure }
    }
}

/// The soak on the opened store; returns whether it stayed flat.
private struct SoakRun: StoreUser {
    let settings: BenchSettings
    let name: String
    let windows: Int
    let windowSeconds: Int
    let baseline: Int

    func use<S: BenchStore>(_ store: S) throws -> Bool {
        defer { store.close() }
        let bench = StoreBench(store: store, settings: settings, name: name)
        let preload = bench.preload(0..<settings.keys)
        let readers = settings.spec(mix: OperationMix(get: 80, set: 15, delete: 5), threads: max(1, settings.threads - 1))
        let engine = ChurnEngine(
            bench: bench, churn: ChurnSettings(rate: Double(settings.churnRate), ttlMilliseconds: 1000...5000,
                                               firstKey: UInt64(settings.keys) + 1_000_000_000),
            readers: readers, readRecent: nil, baseline: baseline)
        say("soak: \(name), \(windows * windowSeconds / 60) min, \(settings.keys) preloaded keys "
            + String(format: "(%.2f s), ", preload.seconds)
            + "\(settings.churnRate) new keys/s with a TTL of 1-5 s next to \(readers.mix.summary) over the preloaded keys "
            + "(TTL \(settings.ttlSeconds) s on half the sets) from \(readers.threads) thread\(readers.threads == 1 ? "" : "s"); "
            + "latency in µs, memory in MiB")
        let header = churnHeader(windowSeconds == 60 ? "minute" : "second")
        let layout = Table(header: header, rows: [])
        let widths = header.map { max($0.count, 8) }
        say(layout.line(header, widths: widths))
        let start = nanoseconds()
        var slices: [ChurnSlice] = []
        for window in 1...windows {
            let slice = engine.slice(until: start + UInt64(window * windowSeconds) * 1_000_000_000, label: "window \(window)/\(windows)")
            slices.append(slice)
            let label = windowSeconds == 60 ? "\(window)" : "\(window * windowSeconds)"
            say(layout.line(churnRow(label, slice), widths: widths))
        }
        let trend = Trend(slices, ops: ["insert", "get"])
        say("last third / middle third: \(trend.summary)")
        say(trend.flat ? "soak: passed: latencies and memory stay flat" : "soak: FAILED: something grows")
        return trend.flat
    }

    /// Prints a line at once, also when standard output is a pipe.
    private func say(_ line: String) {
        print(line)
        fflush(nil)
    }
}
