// The eviction scenario's pieces on one store: a byte budget sized from
// the data, and a cache-aside replay of a recorded trace.
//
// Cache-aside is how a cache in front of a database is used: a get, and on
// a miss the caller fetches the value elsewhere and sets it, a separate
// call. The live rounds do this from every worker thread (PhaseSpec's
// `cacheAside`); the replay does it from one thread over a trace written in
// libCacheSim's oracleGeneral format, so that libCacheSim's LRU and S3FIFO
// (Benchmarks/Eviction/curve.py) replay exactly the same requests.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The byte budget that holds `fraction` of `keys` entries of
/// `bytesPerEntry` each (what the data takes in a store without a budget),
/// rounded up to a MiB and at least the 1 MiB a store accepts.
func evictionBudget(keys: Int, bytesPerEntry: Double, fraction: Double) -> Int {
    let bytes = Double(keys) * bytesPerEntry * fraction
    return max(1, Int((bytes / Double(1 << 20)).rounded(.up))) << 20
}

/// A store opened under `budget` bytes: sized for a quarter of the entries
/// of `bytesPerEntry` that fit (its tables are charged to the budget, so a
/// table preallocated for more than fits would take the room of entries;
/// past the capacity tables grow, charged too).
func budgetSizing(_ settings: BenchSettings, budget: Int, bytesPerEntry: Double) -> StoreSizing {
    var sizing = settings.sizing(capacity: max(1024, Int(Double(budget) / bytesPerEntry / 4)))
    sizing.maximumBytes = budget
    return sizing
}

/// A store's counters that the eviction scenario reports.
struct StoreCounters: Codable {
    var entries: Int
    var evicted: Int
    var usedBytes: Int
}

/// One single-threaded cache-aside replay of a trace on one store.
struct ReplayResult: Codable {
    var gets: Int
    var hits: Int
    /// Sets after misses that the store refused.
    var refused: Int
    var seconds: Double
    /// The most entries held at a sample (every 4096 requests): the cache's
    /// size in objects once full (its count dips below that while the
    /// expiry worker has not yet drained the evictions it logged, which
    /// are charged to the budget too).
    var peakEntries: Int
    /// At the end of the replay.
    var counters: StoreCounters

    var hitRatio: Double { Double(hits) / Double(max(gets, 1)) }
}

/// Requests over key numbers 0..<keys, Zipf-distributed (rank r is key r),
/// from a fixed seed: the trace the hit-ratio curve replays.
func zipfTrace(keys: Int, requests: Int, exponent: Double, seed: UInt64) -> [UInt64] {
    var random = FastRandom(seed: seed ^ 0x7ACE)
    let zipf = ZipfSampler(count: UInt64(keys), exponent: exponent)
    return (0..<requests).map { _ in zipf.next(&random) }
}

/// libCacheSim's oracleGeneral trace: 24-byte little-endian records of
/// (u32 time, u64 object id, u32 size, i64 next access). Ids are key
/// numbers + 1 (libCacheSim treats 0 specially); every size is 1, so that
/// its cache sizes count objects; next access is -1 (unknown).
enum OracleTrace {
    static let recordSize = 24

    static func write(_ keys: [UInt64], to path: String) throws {
        var data = Data(capacity: keys.count * recordSize)
        for (i, key) in keys.enumerated() {
            withUnsafeBytes(of: UInt32(i / 1000).littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: (key + 1).littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(1).littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: Int64(-1).littleEndian) { data.append(contentsOf: $0) }
        }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// The key numbers of a trace `write` wrote.
    static func read(_ path: String) throws -> [UInt64] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count % recordSize == 0 else { throw BenchError("\(path): not an oracleGeneral trace (\(data.count) bytes)") }
        return data.withUnsafeBytes { raw in
            (0..<data.count / recordSize).map { raw.loadUnaligned(fromByteOffset: $0 * recordSize + 4, as: UInt64.self).littleEndian - 1 }
        }
    }
}

extension StoreBench {
    /// Replays `keys` cache-aside from this thread: a get per request, and
    /// a set (no TTL) of the key after each miss.
    func replay(_ keys: [UInt64]) -> ReplayResult {
        let key = KeyBuffer(size: settings.keySize)
        let values = ValueSource(sizes: settings.valueRange)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(settings.valueRange.upperBound, 1), alignment: 8)
        defer { key.deallocate(); values.deallocate(); output.deallocate() }
        var random = FastRandom(seed: settings.seed ^ 0x4E91)
        var (hits, refused) = (0, 0)
        var peak = 0
        let start = nanoseconds()
        for (i, index) in keys.enumerated() {
            if i & 4095 == 4095 { peak = max(peak, store.snapshot.entries) }
            let bytes = key.set(index)
            if store.get(bytes, into: output) {
                hits += 1
            } else if !store.set(values.value(&random), forKey: bytes, ttl: nil) {
                refused += 1
            }
        }
        let seconds = Double(nanoseconds() - start) / 1e9
        let end = counters
        return ReplayResult(gets: keys.count, hits: hits, refused: refused, seconds: seconds,
                            peakEntries: max(peak, end.entries), counters: end)
    }

    var counters: StoreCounters {
        let snapshot = store.snapshot
        return StoreCounters(entries: snapshot.entries, evicted: snapshot.evicted, usedBytes: snapshot.usedBytes)
    }
}
