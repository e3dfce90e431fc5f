/// The batched operations of a store's core (``CStore``, ``NativeCore``) on
/// one pinned chunk of at most ``batchChunk`` keys, and the generic
/// front-ends that ``Store`` and ``NativeStore`` share: they pin a batch a
/// chunk at a time (PinnedBytes.swift) and hand each chunk to the core.
@usableFromInline
protocol BatchCore {
    /// Looks up `keys`; calls `visit` with the offset and live value of
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

// MARK: Front-ends

/// ``KeyValueStore/withValues(forKeys:_:)`` on `core`.
@inlinable
func batchRead<Core: BatchCore, Keys: Collection>(
    _ keys: Keys, core: Core, worker: ExpiryWorker, reads: HitCounters,
    _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
) throws where Keys.Element: StoreBytes {
    try worker.checkRunning()
    var failure: (any Error)?
    var looked = 0, found = 0
    defer { reads.record(hits: found, misses: looked - found) }
    try forEachPinnedChunk(of: keys) { base, chunk in
        found += try core.read(chunk) { offset, value in
            guard failure == nil else { return }
            do { try body(base + offset, value) } catch { failure = error }
        }
        looked += chunk.count
        return failure == nil
    }
    if let failure { throw failure }
}

/// ``KeyValueStore/set(_:)`` on `core`.
@inlinable
func batchPut<Core: BatchCore, Key: StoreBytes, Value: StoreBytes>(
    _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>, core: Core, worker: ExpiryWorker
) throws {
    try worker.checkRunning()
    var outcome = BatchWriteOutcome()
    try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: batchChunk) { values in
        try withUnsafeTemporaryAllocation(of: UInt64?.self, capacity: batchChunk) { ttls in
            // The values and TTLs follow the keys' chunks from this index.
            let valueView = items.lazy.map { $0.value }
            var index = items.startIndex
            try forEachPinnedChunk(of: items.lazy.map { $0.key }) { base, keys in
                var ttlIndex = index
                for i in 0..<keys.count {
                    ttls.initializeElement(at: i, to: try? ttlMilliseconds(items[ttlIndex].ttl))
                    items.formIndex(after: &ttlIndex)
                }
                try withPinnedBytes(of: valueView, from: &index, count: keys.count, into: values.baseAddress!) { _ in
                    let chunk = PinnedItems(keys: keys, values: UnsafeBufferPointer(start: values.baseAddress, count: keys.count),
                                            ttls: UnsafeBufferPointer(start: ttls.baseAddress, count: keys.count))
                    try core.put(chunk, base: base, into: &outcome)
                }
                return true
            }
        }
    }
    if outcome.shortestTTL != .max { worker.noteDeadline(afterMilliseconds: outcome.shortestTTL) }
    try StoreBatchError.throwIfAny(outcome.failures, itemCount: items.count)
}

/// ``KeyValueStore/removeValues(forKeys:)`` on `core`.
@inlinable
func batchRemove<Core: BatchCore, Keys: Collection>(
    _ keys: Keys, core: Core, worker: ExpiryWorker
) throws -> Int where Keys.Element: StoreBytes {
    try worker.checkRunning()
    var outcome = BatchWriteOutcome()
    var removed = 0
    try forEachPinnedChunk(of: keys) { base, chunk in
        removed += try core.remove(chunk, base: base, into: &outcome)
        return true
    }
    try StoreBatchError.throwIfAny(outcome.failures, itemCount: keys.count)
    return removed
}
