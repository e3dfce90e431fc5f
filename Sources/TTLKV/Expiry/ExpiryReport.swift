/*
 What one round of the expiry worker has to report: the keys it removed and
 the ones it took from the stores' logs, as raw bytes in buffers kept from
 round to round.

 Whether to record a key is decided as the key goes, on a count of the
 listeners that ExpiryListeners raises before a listener's registration
 returns, and the delivery (ExpiryListeners.publish) gives the round to the
 listeners registered then. Deciding once at the start of a round lost the
 rest of that round for a listener added during it, though its keys went
 after the listener was added: "every key that expires from now on" holds
 only if the decision comes as each key goes. It comes just before the
 store unlinks the key (the store hands the key over before the entry can
 be freed), so the first listener can miss the one key whose removal was
 under way as it was added. A listener added during a round may also hear
 of keys that round removed just before, for another listener.

 The worker's own removals are recorded under a shard lock, so the room for
 a batch is made before the batch (reserve), never by the callback; the
 buffers keep their room from round to round, up to a bound, so that a
 mass expiry's buffers, or one huge key's, are not held for good.
 */

/// The raw removals of one worker round, turned into events on delivery.
struct ExpiryReport: Sendable {
    private struct Record: Sendable {
        var key: Range<Int>
        var deadline: UInt64
        var removedAt: UInt64
        var evicted: Bool
    }

    private var keyBytes: [UInt8] = []
    private var records: [Record] = []
    /// The longest key recorded so far (at least 64): what ``reserve(keys:)``
    /// makes room for per key.
    private var longestKey = 64

    /// What the buffers keep allocated between rounds, at most.
    private static let keptRecords = 4096
    private static let keptKeyBytes = 256 << 10

    var count: Int { records.count }

    var isEmpty: Bool { records.isEmpty }

    /// Makes room for `keys` more records, each with a key as long as the
    /// longest recorded so far, growing geometrically, so that appending
    /// them does not allocate (only a key longer than any before it can).
    mutating func reserve(keys extra: Int) {
        Self.grow(&records, by: extra)
        Self.grow(&keyBytes, by: extra * longestKey)
    }

    private static func grow<Element>(_ array: inout [Element], by extra: Int) {
        let need = array.count + extra
        if need > array.capacity { array.reserveCapacity(Swift.max(need, 2 * array.capacity)) }
    }

    /// Adds `key`, which left at `deadline` (its own deadline, or
    /// TTLKV_NO_EXPIRY's for an evicted key that had none); its removal
    /// time is set by ``stamp(removedAt:from:)``.
    mutating func append(key: UnsafeRawBufferPointer, deadline: UInt64, evicted: Bool = false) {
        let start = keyBytes.count
        longestKey = Swift.max(longestKey, key.count)
        keyBytes.append(contentsOf: key.assumingMemoryBound(to: UInt8.self))
        records.append(Record(key: start..<keyBytes.count, deadline: deadline, removedAt: 0, evicted: evicted))
    }

    /// Sets the removal time of the records from index `first` on.
    mutating func stamp(removedAt: UInt64, from first: Int) {
        for index in first..<records.count { records[index].removedAt = removedAt }
    }

    /// The records as events, in the order they were added.
    var events: [ExpiryEvent] {
        records.map { record in
            ExpiryEvent(key: Array(keyBytes[record.key]), deadline: StoreClock.Instant(milliseconds: record.deadline),
                        removedAt: StoreClock.Instant(milliseconds: record.removedAt),
                        cause: record.evicted ? .evicted : .expired)
        }
    }

    /// Bytes the buffers hold allocated, for the tests of what a round
    /// leaves behind.
    var allocatedBytes: Int { keyBytes.capacity + records.capacity * MemoryLayout<Record>.stride }

    mutating func removeAll() {
        keyBytes.removeAll(keepingCapacity: keyBytes.capacity <= Self.keptKeyBytes)
        records.removeAll(keepingCapacity: records.capacity <= Self.keptRecords)
    }
}
