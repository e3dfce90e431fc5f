import ArgumentParser
import Foundation
import TTLKV

/// The process's user and system time so far, in seconds: on a shared
/// machine, what the work cost where wall time says how long it waited.
private func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// `ttlkv-bench snapshot`: how fast a ``Store`` writes a snapshot and opens
/// one, in keys per second, with the server benchmark's data (16-byte keys,
/// 32-byte values, every second key with a TTL of a day or more).
struct SnapshotSpeed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Times Store.writeSnapshot(to:) and Store(snapshotAt:) on --keys keys, --rounds times, interleaved.",
        discussion: """
        Fills one store (sized for the keys), then each round writes a snapshot of it and opens a new store from \
        that file (dropped again at once). Prints each round and the median and range of keys/s. One size per \
        process: a benchmark that frees gigabytes and measures on stalls (see the Concurrency Kit notes).
        """)

    @Option(help: "Keys in the store.") var keys = 1_000_000
    @Option(help: "Rounds (write, then load).") var rounds = 3
    @Option(help: "Folder for the snapshot file.") var directory = NSTemporaryDirectory()

    func run() throws {
        let store = try Store(configuration: StoreConfiguration(capacity: keys))
        var key = [UInt8](repeating: 0, count: 16), value = [UInt8](repeating: UInt8(ascii: "v"), count: 32)
        for i in 0..<keys {
            let digits = Array(String(format: "key:%012d", i).utf8)
            key.withUnsafeMutableBytes { $0.copyBytes(from: digits) }
            value[0] = UInt8(truncatingIfNeeded: i)
            try store.set(value, forKey: key, ttl: i % 2 == 0 ? .milliseconds(86_400_000 + i) : nil)
        }
        let path = (directory as NSString).appendingPathComponent("ttlkv-bench-\(getpid()).rdb")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var writes: [Double] = [], loads: [Double] = [], writeCPU: [Double] = [], loadCPU: [Double] = []
        for round in 1...rounds {
            var start = Date(), cpu = cpuSeconds()
            let written = try store.writeSnapshot(to: path)
            let write = Date().timeIntervalSince(start)
            writeCPU.append(Double(keys) / (cpuSeconds() - cpu))
            start = Date()
            cpu = cpuSeconds()
            let loaded = try Store(snapshotAt: path, configuration: StoreConfiguration(capacity: keys))
            let load = Date().timeIntervalSince(start)
            loadCPU.append(Double(keys) / (cpuSeconds() - cpu))
            guard written.entries == keys, loaded.count == keys else {
                throw ValidationError("round \(round): wrote \(written.entries), loaded \(loaded.count) of \(keys)")
            }
            writes.append(Double(keys) / write)
            loads.append(Double(keys) / load)
            print(String(format: "round %d: write %.2f s (%.2f M keys/s; %.2f per CPU second), load %.2f s (%.2f M keys/s; %.2f per CPU second), %d bytes",
                         round, write, writes.last! / 1e6, writeCPU.last! / 1e6, load, loads.last! / 1e6,
                         loadCPU.last! / 1e6, written.bytes))
        }
        func line(_ name: String, _ rates: [Double]) -> String {
            let sorted = rates.sorted()
            return String(format: "%@: median %.2f M keys/s (%.2f-%.2f)", name, sorted[sorted.count / 2] / 1e6,
                          sorted.first! / 1e6, sorted.last! / 1e6)
        }
        print("\(keys) keys: " + line("write", writes) + "; " + line("load", loads))
        print("per CPU second (the process's user + system time): " + line("write", writeCPU) + "; " + line("load", loadCPU))
        if let load = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) { print("load average: \(load)", terminator: "") }
    }
}
