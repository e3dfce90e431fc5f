import CTTLKV

/// The TTLKV store: the C core on Concurrency Kit, with an expiry worker.
///
/// Lookups take no lock and never wait for writers or for expiry; writes
/// lock one shard of many, briefly; a dedicated thread
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
public final class Store: ManagedStore {
    @usableFromInline let core: CStore
    @usableFromInline let worker: ExpiryWorker
    @usableFromInline let reads = HitCounters()

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
        worker.shutDown(removingEntries: false)
    }

    public var now: StoreClock.Instant {
        StoreClock.Instant(milliseconds: core.now())
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

    @inlinable @discardableResult
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
        let found = try Self.found(status)
        reads.record(hit: found)
        if let failure { throw failure }
        return result
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: some StoreBytes) throws -> Bool {
        try worker.checkRunning()
        return try Self.found(key.withStoreBytes { core.delete($0) })
    }

    public func removeAll() throws {
        try worker.checkRunning()
        try core.removeAll()
    }

    public func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? {
        try worker.checkRunning()
        var remaining: UInt64 = 0
        let status = key.withStoreBytes { ttlkv_ttl(core.pointer, $0.baseAddress, $0.count, &remaining) }
        guard try Self.found(status) else { return nil }
        return remaining == TTLKV_NO_EXPIRY ? .never : .remaining(.milliseconds(Int64(remaining)))
    }

    @discardableResult
    public func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool {
        guard ttl > .zero else { return try removeValue(forKey: key) }
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
        try Self.found(key.withStoreBytes { ttlkv_set_ttl(core.pointer, $0.baseAddress, $0.count, milliseconds) })
    }

    /// Whether a keyed call found a live entry; a key too long to be stored
    /// is simply not there. Throws for any other failure.
    @inlinable @inline(__always)
    static func found(_ status: ttlkv_status) throws -> Bool {
        if status == TTLKV_OK { return true }
        if status == TTLKV_NOT_FOUND || status == TTLKV_KEY_TOO_LARGE { return false }
        throw StoreError(status)
    }

    public var count: Int {
        worker.isStopped ? 0 : Int(ttlkv_count(core.pointer))
    }

    public func scanKeys(
        from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws -> ScanCursor? {
        try worker.checkRunning()
        return try core.scan(from: cursor, count: count, body)
    }

    public var statistics: StoreStatistics {
        var raw = ttlkv_stats()
        ttlkv_stats_get(core.pointer, &raw)
        var stats = StoreStatistics()
        stats.entries = Int(raw.entries)
        stats.bytes = Int(raw.bytes)
        stats.expired = Int(raw.expired)
        stats.deferredFrees = Int(raw.deferred_frees)
        stats.tableSlots = Int(raw.table_slots)
        stats.tableGrows = Int(raw.table_grows)
        stats.shards = Int(raw.shards)
        worker.addStatistics(to: &stats, reads: reads)
        return stats
    }

    public func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) throws -> ExpiryListenerToken {
        try worker.listeners.add(ExpiryListeners.Listener(receive: listener))
    }

    public var expiryEvents: AsyncStream<ExpiryEvent> {
        worker.listeners.makeStream()
    }

    public func close() {
        worker.shutDown(removingEntries: true)
    }
}
