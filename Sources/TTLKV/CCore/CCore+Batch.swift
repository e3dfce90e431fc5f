import CTTLKV

/// The C core's batch calls on one pinned chunk: ``Store``'s batched
/// reads, writes and removals (see StoreFrontEnd+Batch.swift).
extension CCore {
    @usableFromInline
    func read(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
              _ visit: (Int, UnsafeRawBufferPointer) -> Void) throws -> Int {
        try withCKeys(keys) { cKeys, statuses in
            let status = withoutActuallyEscaping(visit) { visit in
                var visit = visit
                // As in forEachRecord: used only during the synchronous call.
                return withUnsafeMutablePointer(to: &visit) { visit in
                    ttlkv_read_many(pointer, cKeys.baseAddress, cKeys.count, { index, value, length, context in
                        let visit = context!.assumingMemoryBound(to: ((Int, UnsafeRawBufferPointer) -> Void).self)
                        visit.pointee(index, UnsafeRawBufferPointer(start: value, count: length))
                    }, visit, statuses.baseAddress)
                }
            }
            try check(status)
            // The others are TTLKV_NOT_FOUND, or TTLKV_KEY_TOO_LARGE: not there.
            return statuses.reduce(0) { $1 == TTLKV_OK ? $0 + 1 : $0 }
        }
    }

    @usableFromInline
    func put(_ chunk: PinnedItems, base: Int, into outcome: inout BatchWriteOutcome) throws {
        try withUnsafeTemporaryAllocation(of: ttlkv_item.self, capacity: chunk.count) { items in
            for i in 0..<chunk.count {
                // The item's pointers are the chunk's, pinned by the front end's
                // withPinnedBytes closures until this call returns.
                let (key, value) = (chunk.keys[i], chunk.values[i])
                // An invalid TTL is passed as one over TTLKV_MAX_TTL_MS,
                // which ttlkv_put_many refuses: that item is never written.
                items.initializeElement(at: i, to: ttlkv_item(
                    key: key.baseAddress, key_len: key.count, value: value.baseAddress, value_len: value.count,
                    ttl_ms: chunk.ttls[i] ?? .max))
            }
            try withUnsafeTemporaryAllocation(of: ttlkv_status.self, capacity: chunk.count) { statuses in
                try check(ttlkv_put_many(pointer, items.baseAddress, chunk.count, statuses.baseAddress))
                for i in 0..<chunk.count {
                    let error: StoreError? = chunk.ttls[i] == nil ? .invalidTTL
                        : statuses[i] == TTLKV_OK ? nil : StoreError(statuses[i])
                    outcome.record(offset: base + i, ttl: chunk.ttls[i], error: error)
                }
            }
        }
    }

    @usableFromInline
    func remove(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, base: Int,
                into outcome: inout BatchWriteOutcome) throws -> Int {
        try withCKeys(keys) { cKeys, statuses in
            try check(ttlkv_delete_many(pointer, cKeys.baseAddress, cKeys.count, statuses.baseAddress))
            var removed = 0
            for i in 0..<keys.count {
                do {
                    if try Self.found(statuses[i]) { removed += 1 }
                } catch {
                    outcome.record(offset: base + i, error: StoreError(statuses[i]))
                }
            }
            return removed
        }
    }
}
