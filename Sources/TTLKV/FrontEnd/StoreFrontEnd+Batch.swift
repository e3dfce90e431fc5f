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
    /// (`ttlkv_put_many` for ``Store``).
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
