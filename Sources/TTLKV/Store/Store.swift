import CTTLKV

/// The TTLKV store: the C core on Concurrency Kit, with an expiry worker.
///
/// Lookups take no lock and never wait for writers or for expiry; writes
/// lock one shard of many for a few hundred nanoseconds; a dedicated thread
/// removes keys whose time to live has passed. Everything preallocated for
/// ``StoreConfiguration/capacity`` entries never pays for a table resize.
///
/// ```swift
/// let store = try Store(capacity: 10_000_000)
/// try store.set("v", forKey: "k", ttl: .seconds(5))
/// try store.withValue(forKey: "k") { bytes in bytes.count }   // 1, no copy
/// ```
///
/// The generic methods are inlinable so that they specialize in the caller
/// for its key and value types; each hands raw buffers to one non-generic
/// method that makes the C call.
public final class Store: KeyValueStore {
    @usableFromInline let core: CStore
    @usableFromInline let worker: ExpiryWorker

    /// A store built from `configuration`; its expiry worker starts now.
    public init(configuration: StoreConfiguration) throws {
        let configuration = try configuration.validated()
        core = try CStore(configuration: configuration)
        worker = try ExpiryWorker(backend: core, configuration: configuration)
    }

    /// A store preallocated for `capacity` entries, with default settings.
    public convenience init(capacity: Int = 1024) throws {
        try self.init(configuration: StoreConfiguration(capacity: capacity))
    }

    deinit {
        worker.stop()
    }

    @inlinable
    public func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws {
        try worker.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        let status = key.withStoreBytes { key in
            value.withStoreBytes { value in core.put(key, value, ms, ifAbsent: false) }
        }
        try check(status)
        if ms != 0 { worker.noteDeadline(afterMilliseconds: ms) }
    }

    @inlinable
    public func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool {
        try worker.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        let status = key.withStoreBytes { key in
            value.withStoreBytes { value in core.put(key, value, ms, ifAbsent: true) }
        }
        if status == TTLKV_EXISTS { return false }
        try check(status)
        if ms != 0 { worker.noteDeadline(afterMilliseconds: ms) }
        return true
    }

    @inlinable
    public func withValue<Result>(
        forKey key: some StoreBytes,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result? {
        try worker.checkRunning()
        var result: Result?
        var failure: (any Error)?
        let status = key.withStoreBytes { key in
            core.read(key) { value in
                do { result = try body(value) } catch { failure = error }
            }
        }
        if let failure { throw failure }
        if status == TTLKV_NOT_FOUND { return nil }
        try check(status)
        return result
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: some StoreBytes) throws -> Bool {
        try worker.checkRunning()
        let status = key.withStoreBytes { core.delete($0) }
        if status == TTLKV_NOT_FOUND { return false }
        try check(status)
        return true
    }

    public func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? {
        try worker.checkRunning()
        var remaining: UInt64 = 0
        let status = key.withStoreBytes { ttlkv_ttl(core.pointer, $0.baseAddress, $0.count, &remaining) }
        if status == TTLKV_NOT_FOUND { return nil }
        try check(status)
        return remaining == TTLKV_NO_EXPIRY ? .never : .remaining(.milliseconds(Int64(remaining)))
    }

    @discardableResult
    public func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool {
        try worker.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        guard try setTTL(key, milliseconds: ms) else { return false }
        worker.noteDeadline(afterMilliseconds: ms)
        return true
    }

    @discardableResult
    public func persist(_ key: some StoreBytes) throws -> Bool {
        try worker.checkRunning()
        return try setTTL(key, milliseconds: 0)
    }

    private func setTTL(_ key: some StoreBytes, milliseconds: UInt64) throws -> Bool {
        let status = key.withStoreBytes { ttlkv_set_ttl(core.pointer, $0.baseAddress, $0.count, milliseconds) }
        if status == TTLKV_NOT_FOUND { return false }
        try check(status)
        return true
    }

    public var count: Int {
        Int(ttlkv_count(core.pointer))
    }

    public var statistics: StoreStatistics {
        var stats = ttlkv_stats()
        ttlkv_stats_get(core.pointer, &stats)
        return StoreStatistics(
            entries: Int(stats.entries),
            bytes: Int(stats.bytes),
            expired: Int(stats.expired),
            deferredFrees: Int(stats.deferred_frees),
            tableSlots: Int(stats.table_slots),
            tableGrows: Int(stats.table_grows),
            shards: Int(stats.shards),
            pendingExpiryRecords: worker.pendingRecords,
            keysExpiredByWorker: worker.keysExpired,
            expiryLag: worker.lagHistogram
        )
    }

    public func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) {
        worker.addListener(listener)
    }

    public func close() {
        worker.stop()
    }
}
