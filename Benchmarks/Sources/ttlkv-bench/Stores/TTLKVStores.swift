import Histogram
import TTLKV

// The only code in the driver that calls TTLKV's API: what it uses of the
// two stores is listed in `TTLKVBackend`, and one adapter serves both.

/// The part of TTLKV's stores that the driver uses.
protocol TTLKVBackend: KeyValueStore {
    init(configuration: StoreConfiguration) throws
    var statistics: StoreStatistics { get }
    func close()
}

/// `Store`: the C core on Concurrency Kit.
extension Store: TTLKVBackend {}

/// `NativeStore`: the same API on Swift's standard library alone.
extension NativeStore: TTLKVBackend {}

/// A store that would not open: the child says so to the driver, which
/// can then report the scenario as not measured on that store.
struct StoreOpenError: Error, CustomStringConvertible {
    var description: String
}

/// A TTLKV store as the driver sees it.
struct TTLKVStore<Backend: TTLKVBackend>: BenchStore {
    let store: Backend

    init(_ sizing: StoreSizing) throws {
        var configuration = StoreConfiguration(capacity: sizing.capacity)
        configuration.maximumKeySize = sizing.maximumKeySize
        configuration.maximumValueSize = sizing.maximumValueSize
        configuration.maximumBytes = sizing.maximumBytes
        do {
            store = try Backend(configuration: configuration)
        } catch {
            throw StoreOpenError(description: "\(Backend.self) refused its configuration: \(error)")
        }
    }

    /// A get as a caller that needs the bytes does it: copied out of the
    /// store inside the zero-copy read.
    @inline(__always)
    func get(_ key: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        let found: Void? = try? store.withValue(forKey: key) { value in
            output.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: min(value.count, output.count))
        }
        return found != nil
    }

    /// A batch as a caller that needs the bytes does it: each value copied
    /// out inside the zero-copy batch.
    @inline(__always)
    func getMany(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, into outputs: UnsafeMutableRawBufferPointer,
                 stride: Int) -> Int {
        var found = 0
        try? store.withValues(forKeys: keys) { offset, value in
            (outputs.baseAddress! + offset * stride).copyMemory(from: value.baseAddress!, byteCount: min(value.count, stride))
            found += 1
        }
        return found
    }

    @inline(__always)
    func set(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, ttl: Duration?) -> Bool {
        (try? store.set(value, forKey: key, ttl: ttl)) != nil
    }

    @inline(__always)
    func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        (try? store.removeValue(forKey: key)) != nil
    }

    var snapshot: StoreSnapshot {
        let statistics = store.statistics
        return StoreSnapshot(entries: statistics.entries, pendingRecords: statistics.pendingExpiryRecords,
                             deferredFrees: statistics.deferredFrees, expiryLag: statistics.expiryLag,
                             evicted: statistics.evicted, usedBytes: statistics.usedBytes)
    }

    func close() { store.close() }
}
