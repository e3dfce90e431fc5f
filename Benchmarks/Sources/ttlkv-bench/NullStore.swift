import TTLKV

/// A store that stores nothing: the driver run against it shows how many
/// operations per second the driver itself can issue.
final class NullStore: ManagedStore {
    func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws {}

    func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool { true }

    func withValue<Result>(forKey key: some StoreBytes, _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result? {
        nil
    }

    func removeValue(forKey key: some StoreBytes) throws -> Bool { false }

    func removeAll() throws {}

    func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? { nil }

    func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool { false }

    func persist(_ key: some StoreBytes) throws -> Bool { false }

    var count: Int { 0 }

    func scanKeys(from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws -> ScanCursor? {
        nil
    }

    var now: StoreClock.Instant { StoreClock.Instant(sinceOrigin: .zero) }

    var statistics: StoreStatistics { StoreStatistics() }

    func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) throws -> ExpiryListenerToken {
        ExpiryListenerToken {}
    }

    var expiryEvents: AsyncStream<ExpiryEvent> { AsyncStream { $0.finish() } }

    func close() {}
}
