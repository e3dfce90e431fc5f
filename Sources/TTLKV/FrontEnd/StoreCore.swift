/// What a store's core does: the one interface between the front end that
/// ``Store`` and ``NativeStore`` share (StoreFrontEnd.swift) and the two
/// cores behind them, ``CCore`` (the C core) and ``NativeCore`` (Swift's
/// standard library alone). The front end checks that the store is open,
/// turns TTLs into milliseconds and pins keys and values; a core does the
/// rest, on raw buffers, and reports failures as ``StoreError``s.
///
/// The expiry worker drives a core through the last group of methods, so
/// both stores share one timing wheel and one worker.
@usableFromInline
protocol StoreCore: AnyObject, Sendable {
    // MARK: Keys

    /// Stores `value` under `key` with a time to live of `ttl` milliseconds
    /// (0: none); with `ifAbsent`, only if the key has no live value.
    /// Returns whether it stored it.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttl: UInt64, ifAbsent: Bool) throws -> Bool

    /// Calls `visit` with the live value of `key`, which is valid only
    /// during the call; returns whether there was one. A key longer than
    /// the maximum key size has none.
    func read(_ key: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer) -> Void) throws -> Bool

    /// Removes `key`; returns whether it had a live value.
    func remove(_ key: UnsafeRawBufferPointer) throws -> Bool

    /// How long `key` has left; nil if absent or expired.
    func timeToLive(_ key: UnsafeRawBufferPointer) throws -> TimeToLive?

    /// Gives the live `key` a time to live of `ttl` milliseconds (0: none),
    /// keeping its value; returns false if it is absent or expired.
    func setTimeToLive(_ key: UnsafeRawBufferPointer, ttl: UInt64) throws -> Bool

    /// Entries held, including expired ones not yet removed.
    var count: Int { get }

    /// One step of a key traversal (``KeyValueStore/scanKeys(from:count:_:)``).
    func scan(from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws -> ScanCursor?

    /// Walks the live entries for a snapshot, `step` table slots (or
    /// entries) at a time: `body` sees each entry's key, value and deadline
    /// (store-clock milliseconds, 0: none) together, as one entry held
    /// them, so that a key written meanwhile appears whole, old or new, and
    /// an untouched key exactly once; `betweenSteps` runs after every step,
    /// outside any read section or lock (the caller writes to disk there),
    /// and an error it throws ends the walk.
    func walkEntries(
        step: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UInt64) -> Void,
        betweenSteps: () throws -> Void
    ) throws

    /// Stores each item with its absolute deadline (store-clock
    /// milliseconds, 0: none), for loading a snapshot; items whose deadline
    /// has passed are dropped. Returns how many were dropped, or throws
    /// ``SnapshotRestoreFailure`` for the first item it could not store
    /// (others may have been stored).
    func restore(_ items: UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int

    /// The index of the shard that holds `key`: a snapshot's load stores
    /// the keys of different shards on different threads, which then never
    /// wait for each other's locks.
    func shard(ofKey key: UnsafeRawBufferPointer) -> Int

    /// Removes every entry; expired ones are counted and logged as any
    /// removal of an expired entry is.
    func removeAll() throws

    /// The core's own counters; the front end adds the worker's and the
    /// read counts.
    var statistics: StoreStatistics { get }

    // MARK: Batches, a chunk of at most `batchChunk` keys at a time

    /// Looks `keys` up; calls `visit` with the offset and live value of
    /// each key that has one, in key order. Returns how many did.
    func read(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
              _ visit: (Int, UnsafeRawBufferPointer) -> Void) throws -> Int

    /// Writes the chunk's items; records each item's result, at offset
    /// `base` plus its own, in `outcome`. Throws only for the whole call.
    func put(_ chunk: PinnedItems, base: Int, into outcome: inout BatchWriteOutcome) throws

    /// Removes `keys`; returns how many were live. Records keys that could
    /// not be removed in `outcome`. Throws only for the whole call.
    func remove(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, base: Int,
                into outcome: inout BatchWriteOutcome) throws -> Int

    // MARK: The expiry worker's

    /// The store's clock, in milliseconds: the time base of every deadline.
    func now() -> UInt64

    /// Calls `body` with the handle and deadline of every expiry record that
    /// writes handed over since the last call, for the worker to schedule
    /// (ttlkv_drain_schedule). A handle is the core's 64-bit name for the
    /// record's key (its seeded hash, ttlkv_key_handle), so that the worker
    /// keeps no copy of any key.
    func drainSchedule(_ body: (_ handle: UInt64, _ deadline: UInt64) -> Void)

    /// Expiry records handed over by writes and not yet drained.
    var scheduleRecords: Int { get }

    /// Calls `body` with the key and deadline of every expired entry that a
    /// write, removal or clear removed (rather than the worker's
    /// ``expire(_:scheduled:outcomes:)``) since the last call, so that the
    /// worker can report it (ttlkv_drain_expired).
    func drainExpired(_ body: (UnsafeRawBufferPointer, UInt64) -> Void)

    /// Calls `body` with the key and deadline of every entry evicted to
    /// stay within the budget since the last call (ttlkv_drain_evicted).
    func drainEvicted(_ body: (UnsafeRawBufferPointer, UInt64) -> Void)

    /// Whether records of evictions and schedules have filled half the room
    /// the budget keeps for them, so the worker should drain them now
    /// (ttlkv_drain_wanted); clears what it reports.
    func takeDrainWanted() -> Bool

    /// For each i, removes the key whose handle is `handles[i]` if its
    /// deadline has passed, and sets `outcomes[i]`. `scheduled[i]` is the
    /// deadline of the record being fired, so the core can tell stale
    /// records (ttlkv_expire_handles). The keys (at most 64) are looked up
    /// together, and each shard's under one hold of its lock.
    /// `removedKey` is called with the key and deadline of each key
    /// removed, under the shard's lock: it must not call into the store.
    func expire(_ handles: UnsafeBufferPointer<UInt64>, scheduled: UnsafeBufferPointer<UInt64>,
                outcomes: UnsafeMutableBufferPointer<ExpiryOutcome>,
                removedKey: (UnsafeRawBufferPointer, UInt64) -> Void)

    /// Frees memory the core holds back for readers, without waiting for
    /// them; the worker calls it about once a second.
    func reclaimMemory()

    /// A slice of table upkeep (rebuilding tables that removals filled with
    /// tombstones); the worker calls it every tick.
    func maintainTable()
}

/// What became of a fired expiry record.
@usableFromInline
enum ExpiryOutcome {
    /// The key was due and is gone; its deadline was this.
    case removed(deadline: UInt64)
    /// The key lives on until this deadline: schedule the record again.
    case notDue(UInt64)
    /// Nothing to do: the key is gone, no longer expires, or another
    /// record covers it.
    case drop
    /// The store could not look (out of memory): try again next tick.
    case retry
}

/// A chunk of a batched write, pinned: each item's key and value, and its
/// TTL in milliseconds (0: none; nil: not a valid TTL, which that item's
/// write must refuse with ``StoreError/invalidTTL``, as a single write
/// refuses it before it looks at anything else).
@usableFromInline
struct PinnedItems {
    @usableFromInline let keys: UnsafeBufferPointer<UnsafeRawBufferPointer>
    @usableFromInline let values: UnsafeBufferPointer<UnsafeRawBufferPointer>
    @usableFromInline let ttls: UnsafeBufferPointer<UInt64?>

    @usableFromInline
    init(keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, values: UnsafeBufferPointer<UnsafeRawBufferPointer>,
         ttls: UnsafeBufferPointer<UInt64?>) {
        (self.keys, self.values, self.ttls) = (keys, values, ttls)
    }

    var count: Int { keys.count }
}

/// What a batched write did: the items it refused, and the shortest TTL of
/// those it wrote (for the expiry worker).
@usableFromInline
struct BatchWriteOutcome {
    @usableFromInline var failures: [StoreBatchError.Failure] = []
    /// Milliseconds; max if no item written had a TTL.
    @usableFromInline var shortestTTL = UInt64.max

    @usableFromInline init() {}

    /// Records the item at `offset`: refused with `error`, or written.
    mutating func record(offset: Int, ttl: UInt64? = nil, error: StoreError?) {
        if let error {
            failures.append(StoreBatchError.Failure(offset: offset, error: error))
        } else if let ttl, ttl != 0 {
            shortestTTL = Swift.min(shortestTTL, ttl)
        }
    }
}
