/// The state of one ``NativeStore`` shard, guarded by the shard's `Mutex`.
///
/// The table maps a key's seeded 64-bit hash to its entry, so a slot costs
/// 16 bytes instead of a key object; the entry holds the key, and every hit
/// compares it. Two different keys with the same 64-bit hash (about one pair
/// in 10^5 stores of 10 million keys, and not something an attacker can aim
/// at without the seed) are handled exactly: the later one goes to a small
/// side table keyed by its bytes.
struct NativeShardState {
    var table: [UInt64: NativeEntry]
    var collisions: [[UInt8]: NativeEntry] = [:]
    /// Expiry records that writes made, for the worker to schedule.
    var schedule = RecordArena()
    /// Expired entries that writes removed, for the worker to report.
    var expiredLog = RecordArena()
    /// Entries the budget evicted, for the worker to report.
    var evictedLog = RecordArena()
    /// The budget and the eviction queues; nil without a budget.
    var policy: EvictionPolicy?
    var bytes = 0
    var expired = 0
    var grows = 0

    init(reserving capacity: Int) {
        table = [:]
        table.reserveCapacity(capacity)
    }

    var count: Int { table.count + collisions.count }

    func find(hash: UInt64, key: UnsafeRawBufferPointer) -> NativeEntry? {
        guard let entry = table[hash] else { return nil }
        if entry.keyEquals(key) { return entry }
        return collisions.isEmpty ? nil : collisions[Array(key)]
    }

    /// The entry whose key hashes to `hash`, for an expiry record scheduled
    /// for `scheduled`: of keys that share the hash (in the side table), the
    /// one whose pending record that is, else the one in the table.
    func find(hash: UInt64, scheduled: UInt64, hashOf: (UnsafeRawBufferPointer) -> UInt64) -> NativeEntry? {
        guard let entry = table[hash] else { return nil }
        guard !collisions.isEmpty && entry.scheduledDeadline != scheduled else { return entry }
        return collisions.values.first { $0.scheduledDeadline == scheduled && $0.withKey(hashOf) == hash } ?? entry
    }

    /// Adds an entry for a key that has none.
    mutating func insert(_ entry: NativeEntry, hash: UInt64) {
        let capacity = table.capacity
        if table[hash] == nil {
            table[hash] = entry
        } else {
            collisions[entry.withKey { Array($0) }] = entry
        }
        if table.capacity != capacity { grows += 1 }
        bytes += entry.byteCount
    }

    /// Puts `new` where `old` (same key) was.
    mutating func replace(_ old: NativeEntry, with new: NativeEntry, hash: UInt64) {
        if let current = table[hash], current.isSame(as: old) {
            table[hash] = new
        } else {
            collisions[new.withKey { Array($0) }] = new
        }
        bytes += new.byteCount - old.byteCount
    }

    /// Removes every entry, keeping the table's capacity; returns the old
    /// table so that its entries are released after the lock is dropped.
    mutating func removeAll() -> (table: [UInt64: NativeEntry], collisions: [[UInt8]: NativeEntry]) {
        let old = (table, collisions)
        table.removeAll(keepingCapacity: true)
        collisions.removeAll()
        bytes = 0
        return old
    }

    /// Calls `body` with every entry.
    func forEachEntry(_ body: (NativeEntry) -> Void) {
        for entry in table.values { body(entry) }
        for entry in collisions.values { body(entry) }
    }

    /// Removes `entry`; `hashOf` recomputes a colliding key's hash so that
    /// a side-table entry can take over the freed slot.
    mutating func remove(_ entry: NativeEntry, hash: UInt64, hashOf: (UnsafeRawBufferPointer) -> UInt64) {
        bytes -= entry.byteCount
        guard let current = table[hash], current.isSame(as: entry) else {
            collisions[entry.withKey { Array($0) }] = nil
            return
        }
        table[hash] = nil
        if let (key, heir) = collisions.first(where: { $0.value.withKey(hashOf) == hash }) {
            collisions[key] = nil
            table[hash] = heir
        }
    }
}
