/// The batched members of the front end (StoreFrontEnd.swift): each pins
/// a batch a chunk of ``batchChunk`` keys at a time (PinnedBytes.swift) and
/// hands each chunk to the core, which looks its keys up together.
extension _StoreFrontEnd {
    /// ``Store`` overlaps the memory accesses of each chunk's keys in one
    /// read section (`ttlkv_read_many`); ``NativeStore`` hashes them first,
    /// then takes each shard's lock once for its keys, retaining the live
    /// entries, so that `body` sees them after every lock is dropped.
    @inlinable
    public func withValues<Keys: Collection>(
        forKeys keys: Keys,
        _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws where Keys.Element: StoreBytes {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
        var failure: (any Error)?
        var looked = 0, found = 0
        defer { frontEnd.reads.record(hits: found, misses: looked - found) }
        try forEachPinnedChunk(of: keys) { base, chunk in
            found += try frontEnd.core.read(chunk) { offset, value in
                guard failure == nil else { return }
                do { try body(base + offset, value) } catch { failure = error }
            }
            looked += chunk.count
            return failure == nil
        }
        if let failure { throw failure }
    }

    /// Makes each chunk's entries outside any lock, then writes each
    /// shard's items of the chunk under one hold of its lock
    /// (`ttlkv_put_many` for ``Store``); a chunk's items refused while the
    /// records of evictions filled their room are written again once the
    /// worker has drained them, as a single write is.
    @inlinable
    public func set<Key: StoreBytes, Value: StoreBytes>(
        _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>
    ) throws {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
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
                        try frontEnd.core.put(chunk, base: base, into: &outcome)
                        try frontEnd.retryRefusedForDrain(chunk, base: base, outcome: &outcome)
                    }
                    return true
                }
            }
        }
        if outcome.shortestTTL != .max { frontEnd.noteDeadline(afterMilliseconds: outcome.shortestTTL) }
        frontEnd.noteWrite()
        try StoreBatchError.throwIfAny(outcome.failures, itemCount: items.count)
    }

    /// Removes each chunk's keys, looked up together, each shard's under one
    /// hold of its lock (`ttlkv_delete_many` for ``Store``).
    @inlinable @discardableResult
    public func removeValues<Keys: Collection>(forKeys keys: Keys) throws -> Int where Keys.Element: StoreBytes {
        let frontEnd = _frontEnd
        try frontEnd.checkRunning()
        var outcome = BatchWriteOutcome()
        var removed = 0
        try forEachPinnedChunk(of: keys) { base, chunk in
            removed += try frontEnd.core.remove(chunk, base: base, into: &outcome)
            return true
        }
        try StoreBatchError.throwIfAny(outcome.failures, itemCount: keys.count)
        return removed
    }
}

extension _FrontEnd {
    /// Writes again, once the worker has drained the records of evictions,
    /// the items of `chunk` (at `base` in its batch) that were refused with
    /// ``StoreError/outOfMemory`` for want of that drain, as a single write
    /// tries once more; their outcome replaces the refusal.
    @usableFromInline
    func retryRefusedForDrain(_ chunk: PinnedItems, base: Int, outcome: inout BatchWriteOutcome) throws {
        noteWrite()
        // The chunk's failures are the end of the list, in offset order.
        var start = outcome.failures.endIndex
        while start > 0, outcome.failures[start - 1].offset >= base { start -= 1 }
        var failures = Array(outcome.failures[start...])
        let refused = failures.filter { $0.error == .outOfMemory }.map { $0.offset - base }
        guard !refused.isEmpty, awaitDrain() else { return }
        let retry = Self.itemsToRetry(refused, failed: Set(failures.map { $0.offset - base }), keys: chunk.keys)
        failures.removeAll { $0.error == .outOfMemory }
        let keys = retry.map { chunk.keys[$0] }, values = retry.map { chunk.values[$0] }, ttls = retry.map { chunk.ttls[$0] }
        var again = BatchWriteOutcome()
        try keys.withUnsafeBufferPointer { keys in
            try values.withUnsafeBufferPointer { values in
                try ttls.withUnsafeBufferPointer { ttls in
                    try core.put(PinnedItems(keys: keys, values: values, ttls: ttls), base: 0, into: &again)
                }
            }
        }
        failures += again.failures.map { StoreBatchError.Failure(offset: base + retry[$0.offset], error: $0.error) }
        failures.sort { $0.offset < $1.offset }
        outcome.failures.replaceSubrange(start..., with: failures)
        outcome.shortestTTL = Swift.min(outcome.shortestTTL, again.shortestTTL)
        noteWrite()
    }

    /// Of the `refused` offsets of a chunk, those to write again: not one
    /// whose key a later item of the chunk wrote (not in `failed`), since
    /// the single calls would have left that later value; that item counts
    /// as written.
    static func itemsToRetry(_ refused: [Int], failed: Set<Int>, keys: UnsafeBufferPointer<UnsafeRawBufferPointer>) -> [Int] {
        refused.filter { item in
            !((item + 1)..<keys.count).contains { later in !failed.contains(later) && keys[later].elementsEqual(keys[item]) }
        }
    }
}
