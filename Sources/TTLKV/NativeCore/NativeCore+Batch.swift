/// ``NativeStore``'s batches: each chunk's keys hashed first, then grouped
/// by shard, with one hold of each shard's lock per chunk, doing there what
/// the single calls do under it. Entries a batch reads, replaces or removes
/// are kept until every lock is dropped, so that reading them, and their
/// release, happen outside the locks, as in the single calls.
extension NativeCore {
    @usableFromInline
    func read(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
              _ visit: (Int, UnsafeRawBufferPointer) -> Void) throws -> Int {
        withEntries(keys.count) { entries in
            forEachKeyByShard(keys) { state, offset, hash in
                entries[offset] = liveEntry(key: keys[offset], hash: hash, in: state)
            }
            var found = 0
            for offset in entries.indices {
                guard let entry = entries[offset] else { continue }
                entry.withValue { visit(offset, $0) }
                found += 1
            }
            return found
        }
    }

    @usableFromInline
    func put(_ chunk: PinnedItems, base: Int, into outcome: inout BatchWriteOutcome) throws {
        withEntries(chunk.count) { entries in
            withUnsafeTemporaryAllocation(of: StoreError?.self, capacity: chunk.count) { errors in
                errors.initialize(repeating: nil)
                defer { errors.deinitialize() }
                for i in 0..<chunk.count {
                    do throws(StoreError) {
                        guard let ttl = chunk.ttls[i] else { throw StoreError.invalidTTL }
                        entries[i] = try makeEntry(key: chunk.keys[i], value: chunk.values[i], ttl: ttl)
                    } catch {
                        errors[i] = error
                    }
                }
                // Released after every lock is dropped, as the replaced ones.
                var evicted: [NativeEntry] = []
                forEachKeyByShard(chunk.keys, including: { entries[$0] != nil }) { state, offset, hash in
                    do throws(StoreError) {
                        // The replaced entry takes the new one's place, to be
                        // released after the lock.
                        entries[offset] = try install(entries[offset]!, key: chunk.keys[offset], hash: hash,
                                                      ifAbsent: false, in: &state, evicted: &evicted).replaced
                    } catch {
                        errors[offset] = error
                    }
                }
                for i in 0..<chunk.count {
                    outcome.record(offset: base + i, ttl: chunk.ttls[i], error: errors[i])
                }
            }
        }
    }

    @usableFromInline
    func remove(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, base: Int,
                into outcome: inout BatchWriteOutcome) throws -> Int {
        withEntries(keys.count) { entries in
            var removed = 0
            forEachKeyByShard(keys) { state, offset, hash in
                let (live, entry) = removeEntry(key: keys[offset], hash: hash, in: &state)
                if live { removed += 1 }
                entries[offset] = entry
            }
            return removed
        }
    }

    /// The expiry worker's removals, by handle.
    @usableFromInline
    func expire(_ handles: UnsafeBufferPointer<UInt64>, scheduled: UnsafeBufferPointer<UInt64>,
                outcomes: UnsafeMutableBufferPointer<ExpiryOutcome>,
                removedKey: (UnsafeRawBufferPointer, UInt64) -> Void) {
        withEntries(handles.count) { entries in
            for i in outcomes.indices { outcomes[i] = .drop }
            forEachByShard(handles.count, hashAt: { handles[$0] }) { state, offset, hash in
                (outcomes[offset], entries[offset]) = expireEntry(hash: hash, scheduled: scheduled[offset], in: &state,
                                                                  removedKey: removedKey)
            }
        }
    }

    /// Calls `body` with room for `count` entries, all nil at first, and
    /// releases those it holds afterwards.
    private func withEntries<Result>(_ count: Int, _ body: (UnsafeMutableBufferPointer<NativeEntry?>) -> Result) -> Result {
        withUnsafeTemporaryAllocation(of: NativeEntry?.self, capacity: count) { entries in
            entries.initialize(repeating: nil)
            defer { entries.deinitialize() }
            return body(entries)
        }
    }
}
