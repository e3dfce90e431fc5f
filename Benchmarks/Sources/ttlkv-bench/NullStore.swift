import Histogram
import TTLKV

/// A store that stores nothing: the driver run against it shows how many
/// operations per second the driver itself can issue.
final class NullStore: KeyValueStore {
    func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws {}

    func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool { true }

    func withValue<Result>(forKey key: some StoreBytes, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
        nil
    }

    func removeValue(forKey key: some StoreBytes) throws -> Bool { false }

    func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? { nil }

    func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool { false }

    func persist(_ key: some StoreBytes) throws -> Bool { false }

    var count: Int { 0 }

    var statistics: StoreStatistics {
        StoreStatistics(
            entries: 0, bytes: 0, expired: 0, deferredFrees: 0, tableSlots: 0, tableGrows: 0, shards: 0,
            pendingExpiryRecords: 0, keysExpiredByWorker: 0,
            expiryLag: Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        )
    }

    func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) {}

    func close() {}
}
