/*
 What one round of the expiry worker has to report: the keys it removed and
 the ones it took from the stores' logs, as raw bytes in buffers kept from
 round to round.

 The worker records every key whether or not anyone listens, and only the
 delivery (ExpiryListeners.publish) looks at the listeners and builds
 events. Deciding at the start of a round instead lost the rest of that
 round for a listener added during it, though its keys went after the
 listener was added: "every key that expires from now on" holds only if the
 decision comes after the removals it covers.
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

    /// Records kept allocated between rounds; a mass expiry's larger
    /// buffers are let go after its round.
    private static let keptRecords = 4096

    var count: Int { records.count }

    var isEmpty: Bool { records.isEmpty }

    /// Adds `key`, which left at `deadline` (its own deadline, or
    /// TTLKV_NO_EXPIRY's for an evicted key that had none); its removal
    /// time is set by ``stamp(removedAt:from:)``.
    mutating func append(key: UnsafeRawBufferPointer, deadline: UInt64, evicted: Bool = false) {
        let start = keyBytes.count
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

    mutating func removeAll() {
        let keep = records.count <= Self.keptRecords
        keyBytes.removeAll(keepingCapacity: keep)
        records.removeAll(keepingCapacity: keep)
    }
}
