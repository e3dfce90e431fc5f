/// A store with the same API as ``Store``, built from Swift's standard
/// library alone, for comparison.
///
/// It is the design a careful Swift programmer would pick: the table split
/// into shards, each a `Dictionary` reserved up front and guarded by a
/// `Mutex` from the `Synchronization` module; one allocation per entry
/// (key and value in a `ManagedBuffer`); keys hashed once with a per-store
/// seed through the standard `Hasher` (SipHash); and the same timing wheel,
/// expiry worker and expiry bookkeeping as ``Store``. Reads take the shard's
/// lock (a `Mutex` cannot be shared by readers), which is what the
/// comparison measures against the lock-free C core; so does a key
/// traversal, which gathers a whole shard's live keys under its lock.
///
/// Like ``Store``, its generic methods are inlinable front-ends over one
/// non-generic method each.
public final class NativeStore: ManagedStore {
    @usableFromInline let core: NativeCore
    @usableFromInline let worker: ExpiryWorker
    @usableFromInline let reads = HitCounters()

    /// A store built from `configuration`; its expiry worker starts now.
    public init(configuration: StoreConfiguration) throws {
        let configuration = try configuration.validated()
        core = NativeCore(configuration: configuration)
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
        _ = try key.withStoreBytes { key in
            try value.withStoreBytes { value in try core.put(key: key, value: value, ttl: ms, ifAbsent: false) }
        }
        if ms != 0 { worker.noteDeadline(afterMilliseconds: ms) }
    }

    @inlinable @discardableResult
    public func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool {
        try worker.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        let stored = try key.withStoreBytes { key in
            try value.withStoreBytes { value in try core.put(key: key, value: value, ttl: ms, ifAbsent: true) }
        }
        guard stored else { return false }
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
        let found = key.withStoreBytes { key in
            core.read(key: key) { value in
                do { result = try body(value) } catch { failure = error }
            }
        }
        reads.record(hit: found)
        if let failure { throw failure }
        return result
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: some StoreBytes) throws -> Bool {
        try worker.checkRunning()
        return key.withStoreBytes { core.remove(key: $0) }
    }

    public func removeAll() throws {
        try worker.checkRunning()
        core.removeAll()
    }

    public func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? {
        try worker.checkRunning()
        return core.timeToLive(key: key)
    }

    @discardableResult
    public func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool {
        guard ttl > .zero else { return try removeValue(forKey: key) }
        try worker.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        guard try core.setTTL(key: key, milliseconds: ms) else { return false }
        worker.noteDeadline(afterMilliseconds: ms)
        return true
    }

    @discardableResult
    public func persist(_ key: some StoreBytes) throws -> Bool {
        try worker.checkRunning()
        return try core.setTTL(key: key, milliseconds: 0)
    }

    public var count: Int {
        worker.isStopped ? 0 : core.count
    }

    public func scanKeys(
        from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws -> ScanCursor? {
        try worker.checkRunning()
        return try core.scan(from: cursor, count: count, body)
    }

    public var statistics: StoreStatistics {
        var stats = core.statistics
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

extension NativeStore {
    /// Hashes each chunk of 64 keys, then takes each shard's lock once for
    /// its keys, retaining the live entries; `body` sees them after every
    /// lock is dropped, so it may call the store.
    @inlinable
    public func withValues<Keys: Collection>(
        forKeys keys: Keys,
        _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws where Keys.Element: StoreBytes {
        try batchRead(keys, core: core, worker: worker, reads: reads, body)
    }

    /// Makes each chunk of 64 items' entries outside any lock, then takes
    /// each shard's lock once for its items.
    @inlinable
    public func set<Key: StoreBytes, Value: StoreBytes>(
        _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>
    ) throws {
        try batchPut(items, core: core, worker: worker)
    }

    /// Takes each shard's lock once per chunk of 64 keys for its keys.
    @inlinable @discardableResult
    public func removeValues<Keys: Collection>(forKeys keys: Keys) throws -> Int where Keys.Element: StoreBytes {
        try batchRemove(keys, core: core, worker: worker)
    }
}
