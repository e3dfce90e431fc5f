/*
 The front end of both stores, written once.

 ``Store`` and ``NativeStore`` are the same API over two cores: each is a
 thin class that builds its core and conforms to `_StoreFrontEnd`, whose
 extension below implements every member of ``ManagedStore`` over the
 ``StoreCore`` protocol. The front end does what does not depend on the
 core: it refuses calls once the store is closed, turns a TTL into
 milliseconds once (``ttlMilliseconds(_:)``), lends the core raw buffers
 of the caller's keys and values, counts hits and misses, and tells the
 expiry worker of new deadlines.

 The generic members are inlinable, so that they specialize in the caller
 for its key and value types; each hands raw buffers to one call of the
 core. `_StoreFrontEnd` and `_FrontEnd` are public only because inlinable
 code needs them; they are not API (hence the underscore, which also keeps
 them out of the documentation).
 */

/// Not API: the shared front end of ``Store`` and ``NativeStore``.
public protocol _StoreFrontEnd: ManagedStore {
    /// Not API: the store's core, worker and read counters.
    var _frontEnd: _FrontEnd { get }

    /// A store built from `configuration`; its expiry worker starts now.
    init(configuration: StoreConfiguration) throws
}

/// Not API: what the front end of a store works with. Stops the store's
/// expiry worker when the store goes away.
public final class _FrontEnd: Sendable {
    @usableFromInline let core: any StoreCore
    @usableFromInline let worker: ExpiryWorker
    @usableFromInline let reads = HitCounters()
    /// The store's clock, for converting to and from Unix time.
    let clock: StoreClock

    /// Starts the expiry worker of `core`.
    init(core: any StoreCore, configuration: StoreConfiguration) throws {
        self.core = core
        clock = configuration.clock
        worker = try ExpiryWorker(core: core, configuration: configuration)
    }

    deinit {
        worker.shutDown(removingEntries: false)
    }

    /// Throws ``StoreError/closed`` once the store is closed. Here rather
    /// than at the call sites, so that reading the worker's flag through
    /// this object costs no retain of the worker.
    @inlinable @inline(__always)
    func checkRunning() throws {
        try worker.checkRunning()
    }

    /// Tells the worker a key now expires `ttl` milliseconds from now (for
    /// the same reason as ``checkRunning()``, through this object).
    @inlinable @inline(__always)
    func noteDeadline(afterMilliseconds ttl: UInt64) {
        worker.noteDeadline(afterMilliseconds: ttl)
    }

    /// Waits for the worker to drain the record logs after a write they
    /// refused (for the same reason as ``checkRunning()``, through this
    /// object); false if it did not in time.
    @inlinable
    func awaitDrain() -> Bool {
        worker.awaitDrain()
    }

    /// Wakes the worker if the write's records asked for a drain (for the
    /// same reason as ``checkRunning()``, through this object).
    @inlinable @inline(__always)
    func noteWrite() {
        worker.noteWrite()
    }

    /// Runs `write`, and if it was refused with ``StoreError/outOfMemory``
    /// (changing nothing) while the records of evictions filled the room
    /// kept for them, once more after the worker drained them; then wakes
    /// the worker if the write's records asked for a drain.
    @inlinable
    func writeWaitingForDrain<Result>(_ write: () throws -> Result) throws -> Result {
        // Refused or not, the write may have filled its records' room.
        defer { noteWrite() }
        do {
            return try write()
        } catch let error as StoreError where error == .outOfMemory && awaitDrain() {
            return try write()
        }
    }
}

extension _StoreFrontEnd {
    /// A store preallocated for `capacity` entries, with default settings.
    public init(capacity: Int = 1024) throws {
        try self.init(configuration: StoreConfiguration(capacity: capacity))
    }

    public var now: StoreClock.Instant {
        StoreClock.Instant(milliseconds: _frontEnd.core.now())
    }

    @inlinable
    public func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws {
        try put(value, forKey: key, ttl: ttl, ifAbsent: false)
    }

    @inlinable @discardableResult
    public func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool {
        try put(value, forKey: key, ttl: ttl, ifAbsent: true)
    }

    @inlinable @discardableResult
    func put(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?, ifAbsent: Bool) throws -> Bool {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        let stored = try frontEnd.writeWaitingForDrain {
            try key.withStoreBytes { key in
                try value.withStoreBytes { value in try frontEnd.core.put(key, value, ttl: ms, ifAbsent: ifAbsent) }
            }
        }
        if stored && ms != 0 { frontEnd.noteDeadline(afterMilliseconds: ms) }
        return stored
    }

    @inlinable
    public func withValue<Result>(
        forKey key: some StoreBytes,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result? {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
        var result: Result?
        var failure: (any Error)?
        let found = try key.withStoreBytes { key in
            try frontEnd.core.read(key) { value in
                do { result = try body(value) } catch { failure = error }
            }
        }
        frontEnd.reads.record(hit: found)
        if let failure { throw failure }
        return result
    }

    @inlinable @discardableResult
    public func removeValue(forKey key: some StoreBytes) throws -> Bool {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
        return try key.withStoreBytes { try frontEnd.core.remove($0) }
    }

    public func removeAll() throws {
        try _frontEnd.checkRunning()
        try _frontEnd.core.removeAll()
    }

    @inlinable
    public func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive? {
        try _frontEnd.checkRunning()
        return try key.withStoreBytes { try _frontEnd.core.timeToLive($0) }
    }

    @inlinable @discardableResult
    public func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool {
        guard ttl > .zero else { return try removeValue(forKey: key) }
        try _frontEnd.checkRunning()
        let ms = try ttlMilliseconds(ttl)
        // Under a budget the deadline's record may need room (ttlkv_set_ttl).
        let frontEnd = _frontEnd
        guard try frontEnd.writeWaitingForDrain({ try key.withStoreBytes { try frontEnd.core.setTimeToLive($0, ttl: ms) } })
        else { return false }
        _frontEnd.noteDeadline(afterMilliseconds: ms)
        return true
    }

    @inlinable @discardableResult
    public func persist(_ key: some StoreBytes) throws -> Bool {
        try _frontEnd.checkRunning()
        return try key.withStoreBytes { try _frontEnd.core.setTimeToLive($0, ttl: 0) }
    }

    public var count: Int {
        _frontEnd.worker.isStopped ? 0 : _frontEnd.core.count
    }

    public func scanKeys(
        from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws -> ScanCursor? {
        try _frontEnd.checkRunning()
        return try _frontEnd.core.scan(from: cursor, count: count, body)
    }

    public var statistics: StoreStatistics {
        var stats = _frontEnd.core.statistics
        _frontEnd.worker.addStatistics(to: &stats, reads: _frontEnd.reads)
        return stats
    }

    public func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) throws -> ExpiryListenerToken {
        try _frontEnd.worker.listeners.add(ExpiryListeners.Listener(receive: listener))
    }

    public var expiryEvents: AsyncStream<ExpiryEvent> {
        _frontEnd.worker.listeners.makeStream()
    }

    public func close() {
        _frontEnd.worker.shutDown(removingEntries: true)
    }
}
