import Histogram
import TTLKV

/// What the driver needs of a store. The scenarios, workers and child
/// processes see stores only through this protocol; the adapters in
/// TTLKVStores.swift are the one place that calls into TTLKV, so that a
/// change of TTLKV's API touches one file of the driver.
protocol BenchStore: Sendable {
    /// Copies the live value of `key` into `output` (truncated to fit);
    /// returns whether there was one.
    func get(_ key: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool

    /// Looks `keys` up in one batch, copying each live value into its slot
    /// of `outputs` (slot i starts at `i * stride`; truncated to `stride`);
    /// returns how many had one.
    func getMany(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, into outputs: UnsafeMutableRawBufferPointer,
                 stride: Int) -> Int

    /// Stores `value` under `key`, expiring after `ttl` (nil: never);
    /// returns false if the store refused.
    func set(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, ttl: Duration?) -> Bool

    /// Removes `key`; returns false if the store refused (absent is fine).
    func remove(_ key: UnsafeRawBufferPointer) -> Bool

    /// Entries held (expired ones not yet removed included), expiry
    /// records pending, deferred frees, and the expiry worker's lag.
    var snapshot: StoreSnapshot { get }

    /// Stops the store's expiry worker.
    func close()
}

/// A store's counters at one moment.
struct StoreSnapshot {
    var entries: Int
    var pendingRecords: Int
    var deferredFrees: Int
    /// Deadline-to-removal lag of every key the worker removed, in ms.
    var expiryLag: Histogram<UInt64>
    /// Entries evicted to stay within the store's byte budget.
    var evicted = 0
    /// Bytes counted against the budget (0 without one).
    var usedBytes = 0
}

/// The stores the driver can measure.
enum StoreChoice: String, Codable, CaseIterable, Sendable {
    case ck, native, null
}

/// How a store is opened: sized for `capacity` entries, as a user who
/// knows the planned size would open it.
struct StoreSizing: Codable, Sendable {
    var capacity: Int
    var maximumKeySize: Int
    var maximumValueSize: Int
    /// The store's byte budget (`StoreConfiguration.maximumBytes`); nil:
    /// none.
    var maximumBytes: Int? = nil
}

/// Work to do with one store, generic so that it specializes for each
/// store type: the hot loops never call through an existential.
protocol StoreUser {
    associatedtype Result
    func use<S: BenchStore>(_ store: S) throws -> Result
}

extension StoreChoice {
    /// Opens this store sized by `sizing` and hands it to `user`.
    func open<U: StoreUser>(_ sizing: StoreSizing, for user: U) throws -> U.Result {
        switch self {
        case .ck: return try user.use(try TTLKVStore<Store>(sizing))
        case .native: return try user.use(try TTLKVStore<NativeStore>(sizing))
        case .null: return try user.use(NullStore())
        }
    }
}
