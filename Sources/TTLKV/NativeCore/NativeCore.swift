import Synchronization

/// One shard of ``NativeStore``: its own lock and table.
typealias NativeShard = Locked<NativeShardState>

/// The shards and operations behind ``NativeStore``, and the expiry worker's
/// view of them. The rules match the C core (ttlkv.h) one for one: lazy
/// expiry on every read, an expired entry counts as absent, and a write
/// appends an expiry record only for a key's first deadline or one earlier
/// than its pending record's.
@usableFromInline
final class NativeCore: StoreCore, Sendable {
    private let shards: [NativeShard]
    private let seed: UInt64
    private let clock: @Sendable () -> UInt64
    private let deadlineBase: @Sendable () -> UInt64
    private let preciseClock: @Sendable () -> UInt64
    private let maximumKeySize: Int
    private let maximumValueSize: Int
    private let maximumEntries: Int?
    private let live = Atomic<Int>(0)
    private let pendingScheduleRecords = Atomic<Int>(0)
    private let loggedExpiries = Atomic<Int>(0)
    let loggedEvictions = Atomic<Int>(0)
    /// Set when a shard's records pass half their slice of its budget.
    let drainWanted = Atomic<Bool>(false)

    /// Throws ``StoreError/invalidConfiguration`` when a budget cannot even
    /// hold the tables preallocated for the capacity.
    init(configuration: StoreConfiguration) throws {
        let count = configuration.shards ?? Self.shardCount(budget: configuration.maximumBytes)
        let perShard = configuration.capacity / count
        // Room for the imbalance between shards, as the C core plans it.
        let reserve = perShard + 5 * Int(Double(perShard).squareRoot()) + 16
        let budget = configuration.maximumBytes
        shards = try (0..<count).map { _ in
            var state = NativeShardState(reserving: reserve)
            if let budget {
                let share = budget / count
                state.policy = EvictionPolicy(share: share, entries: Swift.max(perShard, 64))
                guard state.fixedBytes * 2 <= share else {
                    throw StoreError.invalidConfiguration.with(detail:
                        "maximumBytes \(budget) cannot hold the tables preallocated for capacity \(configuration.capacity) "
                        + "in \(count) shards with room for entries: lower the capacity or raise the budget")
                }
            }
            return NativeShard(state)
        }
        seed = UInt64.random(in: 1...UInt64.max)
        (clock, deadlineBase, preciseClock) = configuration.clock.makeReaders()
        maximumKeySize = configuration.maximumKeySize
        maximumValueSize = configuration.maximumValueSize
        maximumEntries = configuration.maximumEntries
    }

    /// Shards for a store left to choose: 64, or under a budget at most one
    /// per 256 KiB of it (a share must hold enough entries of a mixed size
    /// for eviction to choose well; see Benchmarks/Eviction).
    private static func shardCount(budget: Int?) -> Int {
        guard let budget else { return 64 }
        return Swift.min(64, Swift.max(1, budget / (256 << 10)))
    }

    // MARK: Hashing and validation

    @inline(__always)
    func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(bytes: key)
        return UInt64(UInt(bitPattern: hasher.finalize()))
    }

    /// The index of the shard that holds keys with `hash`.
    @inline(__always)
    func shardIndex(for hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash >> 32) &* UInt64(shards.count)) >> 32)
    }

    @inline(__always)
    private func shard(for hash: UInt64) -> NativeShard {
        shards[shardIndex(for: hash)]
    }

    /// Runs a batch's work shard by shard: hashes each of `keys` that fits
    /// and that `including` accepts, orders them by shard (stably: a key
    /// given twice keeps its order), and takes each shard's lock once, in
    /// which it calls `body` with the shard's state and the offset and hash
    /// of each of its keys. (At most ``batchChunk`` keys: a batch's chunk.)
    func forEachKeyByShard(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, including: (Int) -> Bool = { _ in true },
        _ body: (inout NativeShardState, _ offset: Int, _ hash: UInt64) -> Void
    ) {
        forEachByShard(keys.count, hashAt: { fits(keys[$0]) && including($0) ? hash(keys[$0]) : nil }, body)
    }

    /// ``forEachKeyByShard(_:including:_:)`` for `count` keys named by their
    /// hashes: `hashAt(offset)`, or nil to leave that one out.
    func forEachByShard(
        _ count: Int, hashAt: (Int) -> UInt64?,
        _ body: (inout NativeShardState, _ offset: Int, _ hash: UInt64) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: (shard: Int, offset: Int, hash: UInt64).self, capacity: count) { order in
            var included = 0
            for offset in 0..<count {
                guard let hash = hashAt(offset) else { continue }
                let shard = shardIndex(for: hash)
                // Insertion sort: a chunk is small, and this keeps it stable.
                var slot = included
                while slot > 0 && order[slot - 1].shard > shard {
                    order[slot] = order[slot - 1]
                    slot -= 1
                }
                order[slot] = (shard, offset, hash)
                included += 1
            }
            var next = 0
            while next < included {
                let shard = order[next].shard
                shards[shard].withLock { state in
                    while next < included && order[next].shard == shard {
                        body(&state, order[next].offset, order[next].hash)
                        next += 1
                    }
                }
            }
        }
    }

    /// Whether `key` could be stored: a lookup of a longer key finds nothing.
    @inline(__always)
    func fits(_ key: UnsafeRawBufferPointer) -> Bool {
        key.count <= maximumKeySize
    }

    private func deadline(after ttl: UInt64) throws(StoreError) -> UInt64 {
        guard ttl != 0 else { return 0 }
        let (deadline, overflow) = deadlineBase().addingReportingOverflow(ttl)
        guard !overflow, deadline != .max else { throw StoreError.invalidTTL }
        return deadline
    }

    @inline(__always)
    func isExpired(_ deadline: UInt64, now: @autoclosure () -> UInt64) -> Bool {
        deadline != 0 && deadline <= now()
    }

    // MARK: Operations

    /// Inserts or replaces; false only when `ifAbsent` finds a live entry.
    @usableFromInline
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttl: UInt64, ifAbsent: Bool) throws -> Bool {
        let entry = try makeEntry(key: key, value: value, ttl: ttl)
        let hash = hash(key)
        // The replaced and evicted entries come back out so that their
        // release (and free) happens after the lock is dropped.
        var evicted: [NativeEntry] = []
        let (stored, _) = try shard(for: hash).withLock { state in
            try install(entry, key: key, hash: hash, ifAbsent: ifAbsent, in: &state, evicted: &evicted)
        }
        return stored
    }

    /// The entry a write of `value` under `key` stores, made outside any
    /// lock, after the checks every write makes, in the C core's order.
    func makeEntry(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, ttl: UInt64) throws(StoreError) -> NativeEntry {
        let deadline = try deadline(after: ttl)
        guard fits(key) else { throw StoreError.keyTooLarge }
        if value.count > maximumValueSize { throw StoreError.valueTooLarge }
        return NativeEntry(key: key, value: value, deadline: deadline)
    }

    /// A write's work under the lock of `key`'s shard: stores `entry` unless
    /// `ifAbsent` finds a live one, first making room within the budget.
    /// Returns whether it stored it, and the entry it replaced; both it and
    /// the entries evicted (in `evicted`) are released after the lock is
    /// dropped. On error the shard is unchanged.
    func install(_ entry: NativeEntry, key: UnsafeRawBufferPointer, hash: UInt64, ifAbsent: Bool,
                 in state: inout NativeShardState,
                 evicted: inout [NativeEntry]) throws(StoreError) -> (stored: Bool, replaced: NativeEntry?) {
        let old = state.find(hash: hash, key: key)
        let oldExpired = old.map { isExpired($0.deadline, now: coarseNow()) } ?? false
        if old != nil, !oldExpired, ifAbsent { return (false, nil) }
        if old == nil { try reserveEntry() }
        do {
            try makeRoom(for: entry, replacing: old, in: &state, evicted: &evicted)
        } catch {
            if old == nil { releaseEntries() }
            throw error
        }
        let deadline = entry.deadline
        var scheduled = old?.scheduledDeadline ?? 0
        let record = deadline != 0 && (scheduled == 0 || deadline < scheduled)
        if record { scheduled = deadline }
        entry.scheduledDeadline = scheduled
        if let old {
            state.replace(old, with: entry, hash: hash)
            requeue(old, with: entry, in: &state)
            if oldExpired { noteExpired(old, key: key, in: &state) }
        } else {
            state.insert(entry, hash: hash)
            enqueue(entry, hash: hash, in: &state)
        }
        if record { log(\.schedule, counted: pendingScheduleRecords, key: key, deadline: deadline, in: &state) }
        return (true, old)
    }

    func reserveEntry() throws(StoreError) {
        guard let maximumEntries else { return }
        if live.add(1, ordering: .relaxed).newValue > maximumEntries {
            live.subtract(1, ordering: .relaxed)
            throw StoreError.full
        }
    }

    func releaseEntries(_ count: Int = 1) {
        if maximumEntries != nil { live.subtract(count, ordering: .relaxed) }
    }

    /// Runs `visit` on the live value; returns whether there was one. The
    /// entry is retained under the shard's lock and read after unlocking:
    /// its bytes never change, and the caller's closure, which may do
    /// anything (even call the store), never runs under a lock.
    @usableFromInline
    func read(_ key: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard fits(key) else { return false }
        let hash = hash(key)
        let live = shard(for: hash).withLock { liveEntry(key: key, hash: hash, in: $0) }
        guard let live else { return false }
        live.withValue(visit)
        return true
    }

    /// A read's work under the lock of `key`'s shard: the live entry.
    func liveEntry(key: UnsafeRawBufferPointer, hash: UInt64, in state: NativeShardState) -> NativeEntry? {
        guard let entry = state.find(hash: hash, key: key), !isExpired(entry.deadline, now: coarseNow()) else { return nil }
        if state.policy != nil { entry.noteRead() }
        return entry
    }

    @usableFromInline
    func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        guard fits(key) else { return false }
        let hash = hash(key)
        let (live, _) = shard(for: hash).withLock { removeEntry(key: key, hash: hash, in: &$0) }
        return live
    }

    /// A removal's work under the lock of `key`'s shard. Returns whether
    /// the key was live, and the entry removed, to be released after the
    /// lock is dropped.
    func removeEntry(key: UnsafeRawBufferPointer, hash: UInt64,
                     in state: inout NativeShardState) -> (live: Bool, removed: NativeEntry?) {
        guard let entry = state.find(hash: hash, key: key) else { return (false, nil) }
        let expired = isExpired(entry.deadline, now: coarseNow())
        unlink(entry, hash: hash, key: key, expired: expired, in: &state)
        return (!expired, entry)
    }

    /// Removes `entry`. An expired entry counts as expired and, unless the
    /// worker removes it (and reports it itself), goes to the expired log.
    func unlink(_ entry: NativeEntry, hash: UInt64, key: UnsafeRawBufferPointer, expired: Bool,
                byWorker: Bool = false, in state: inout NativeShardState) {
        forget(entry, hash: hash, in: &state)
        state.remove(entry, hash: hash, hashOf: self.hash)
        if expired && byWorker {
            state.expired += 1
        } else if expired {
            noteExpired(entry, key: key, in: &state)
        }
        releaseEntries()
    }

    /// Counts an expired entry that a write removed and logs it for the
    /// worker (NativeStore's ttlkv_drain_expired).
    func noteExpired(_ entry: NativeEntry, key: UnsafeRawBufferPointer, in state: inout NativeShardState) {
        state.expired += 1
        log(\.expiredLog, counted: loggedExpiries, key: key, deadline: entry.deadline, in: &state)
    }

    /// Appends a record for the worker to one of the shard's logs. Under a
    /// budget a log's buffer grows to at most the records' slice while they
    /// fit in it (its capacity is what is charged), and past half the slice
    /// the worker is asked to drain.
    func log(_ log: WritableKeyPath<NativeShardState, RecordArena>, counted counter: borrowing Atomic<Int>,
             key: UnsafeRawBufferPointer, deadline: UInt64, in state: inout NativeShardState) {
        let room = state.logRoom
        if room != 0 {
            let others = state.loggedBytes - state[keyPath: log].usedBytes
            state[keyPath: log].reserve(EvictionRoom.recordBytes(keyCount: key.count), within: room - others)
        }
        state[keyPath: log].append(key: key, deadline: deadline)
        counter.add(1, ordering: .relaxed)
        if room != 0 && state.loggedBytes > room / 2 && !drainWanted.load(ordering: .relaxed) {
            drainWanted.store(true, ordering: .relaxed)
        }
    }

    @usableFromInline
    func timeToLive(_ key: UnsafeRawBufferPointer) -> TimeToLive? {
        guard fits(key) else { return nil }
        let hash = hash(key)
        return shard(for: hash).withLock { state -> TimeToLive? in
            guard let entry = state.find(hash: hash, key: key) else { return nil }
            let deadline = entry.deadline
            if deadline == 0 { return .never }
            let now = coarseNow()
            return deadline > now ? .remaining(.milliseconds(Int64(deadline - now))) : nil
        }
    }

    @usableFromInline
    func setTimeToLive(_ key: UnsafeRawBufferPointer, ttl: UInt64) throws -> Bool {
        let deadline = try deadline(after: ttl)
        guard fits(key) else { return false }
        let hash = hash(key)
        // Released after the lock is dropped.
        var evicted: [NativeEntry] = []
        return try shard(for: hash).withLock { state throws(StoreError) -> Bool in
            guard let entry = state.find(hash: hash, key: key),
                  !isExpired(entry.deadline, now: coarseNow()) else { return false }
            if deadline != 0, entry.scheduledDeadline == 0 || deadline < entry.scheduledDeadline {
                try makeRoom(forDeadlineOf: entry, in: &state, evicted: &evicted)
                entry.scheduledDeadline = deadline
                log(\.schedule, counted: pendingScheduleRecords, key: key, deadline: deadline, in: &state)
            }
            entry.deadline = deadline
            return true
        }
    }

    @usableFromInline
    var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.withLock { $0.count } }
    }

    /// Empties each shard in turn; expired entries are counted and logged
    /// as any removal of an expired entry is.
    @usableFromInline
    func removeAll() {
        for shard in shards {
            let now = coarseNow()
            let old = shard.withLock { state in
                var expired: [NativeEntry] = []
                state.forEachEntry { entry in
                    if isExpired(entry.deadline, now: now) { expired.append(entry) }
                }
                for entry in expired {
                    entry.withKey { noteExpired(entry, key: $0, in: &state) }
                }
                releaseEntries(state.count)
                state.policy?.emptyQueues()
                return state.removeAll()
            }
            _ = old   // released here, outside the lock
        }
    }

    /// One step of a key traversal: the live keys of the shard at `cursor`
    /// and of the following shards until `count` entries were looked at.
    /// Each shard's live entries are gathered under its lock and reported
    /// after it is dropped.
    @usableFromInline
    func scan(from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws -> ScanCursor? {
        try walk(from: cursor, count: count) { entry, _ in entry.withKey(body) }
    }

    /// Shard by shard, as ``scan(from:count:_:)`` goes.
    @usableFromInline
    func walkEntries(
        step: Int, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UInt64) -> Void,
        betweenSteps: () throws -> Void
    ) throws {
        var cursor: ScanCursor? = .start
        while let from = cursor {
            cursor = try walk(from: from, count: step) { entry, deadline in
                entry.withKey { key in entry.withValue { value in body(key, value, deadline) } }
            }
            try betweenSteps()
        }
    }

    /// The traversal behind both scans: the live entries of the shard at
    /// `cursor` and of the following shards until `count` entries were
    /// looked at. Each shard's live entries, and their deadlines, are
    /// gathered under its lock and reported after it is dropped.
    private func walk(from cursor: ScanCursor, count: Int, _ visit: (NativeEntry, UInt64) -> Void) throws -> ScanCursor? {
        guard cursor.rawValue < UInt64(shards.count) else { throw StoreError.invalidCursor }
        var index = Int(cursor.rawValue)
        var visited = 0
        repeat {
            let now = coarseNow()
            let live = shards[index].withLock { state -> [(NativeEntry, UInt64)] in
                var live: [(NativeEntry, UInt64)] = []
                live.reserveCapacity(state.count)
                state.forEachEntry { entry in
                    if !isExpired(entry.deadline, now: now) { live.append((entry, entry.deadline)) }
                }
                visited += state.count
                return live
            }
            for (entry, deadline) in live { visit(entry, deadline) }
            index += 1
        } while index < shards.count && visited < count
        return index < shards.count ? ScanCursor(rawValue: UInt64(index)) : nil
    }

    @usableFromInline
    func shard(ofKey key: UnsafeRawBufferPointer) -> Int {
        shardIndex(for: hash(key))
    }

    /// One item after the other.
    @usableFromInline
    func restore(_ items: UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int {
        var expired = 0
        for (offset, item) in items.enumerated() {
            do {
                if try !restore(item.key, item.value, deadline: item.deadline) { expired += 1 }
            } catch let error as StoreError {
                throw SnapshotRestoreFailure(unstored: Array(offset..<items.count), expired: expired, error: error)
            }
        }
        return expired
    }

    /// Stores one snapshot entry; false, storing nothing, if its deadline
    /// has passed.
    private func restore(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, deadline: UInt64) throws -> Bool {
        guard deadline == 0 || deadline > coarseNow() else { return false }
        guard fits(key) else { throw StoreError.keyTooLarge }
        if value.count > maximumValueSize { throw StoreError.valueTooLarge }
        let entry = NativeEntry(key: key, value: value, deadline: deadline)
        let hash = hash(key)
        var evicted: [NativeEntry] = []
        _ = try shard(for: hash).withLock { state in
            try install(entry, key: key, hash: hash, ifAbsent: false, in: &state, evicted: &evicted)
        }
        return true
    }

    @usableFromInline
    var statistics: StoreStatistics {
        var stats = StoreStatistics()
        stats.shards = shards.count
        for shard in shards {
            shard.withLock { state in
                stats.entries += state.count
                stats.bytes += state.bytes
                stats.expired += state.expired
                stats.tableSlots += state.table.capacity
                stats.tableGrows += state.grows
                stats.evicted += state.policy?.evicted ?? 0
                stats.usedBytes += state.usedBytes
            }
        }
        return stats
    }

    // MARK: The expiry worker's

    /// The worker's time, and the API's: read precisely (ttlkv_now), so
    /// that a key is removed as soon as it is due.
    @usableFromInline
    func now() -> UInt64 {
        preciseClock()
    }

    /// The time reads and writes check deadlines against: the cheap
    /// reading, which may lag ``now()`` by a kernel tick.
    @inline(__always)
    func coarseNow() -> UInt64 {
        clock()
    }

    /// Whether a shard's records passed half their slice since the last
    /// call (ttlkv_drain_wanted).
    @usableFromInline
    func takeDrainWanted() -> Bool {
        drainWanted.load(ordering: .relaxed) && drainWanted.exchange(false, ordering: .relaxed)
    }

    @usableFromInline
    var scheduleRecords: Int {
        pendingScheduleRecords.load(ordering: .relaxed)
    }

    /// The records' handles are their keys' seeded hashes, as the table's.
    @usableFromInline
    func drainSchedule(_ body: (_ handle: UInt64, _ deadline: UInt64) -> Void) {
        take(\.schedule, counted: pendingScheduleRecords) { key, deadline in body(hash(key), deadline) }
    }

    @usableFromInline
    func drainExpired(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        take(\.expiredLog, counted: loggedExpiries, body)
    }

    @usableFromInline
    func drainEvicted(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        take(\.evictedLog, counted: loggedEvictions, body)
    }

    /// Swaps one record log of every shard for an empty one under the
    /// shard's lock and replays it outside.
    private func take(
        _ log: WritableKeyPath<NativeShardState, RecordArena>, counted counter: borrowing Atomic<Int>,
        _ body: (UnsafeRawBufferPointer, UInt64) -> Void
    ) {
        guard counter.load(ordering: .relaxed) > 0 else { return }
        for shard in shards {
            let records = shard.withLock { state -> RecordArena in
                var taken = RecordArena()
                swap(&taken, &state[keyPath: log])
                return taken
            }
            guard !records.isEmpty else { continue }
            counter.subtract(records.count, ordering: .relaxed)
            records.forEach(body)
        }
    }

    /// Nothing to do: reference counting frees entries as they go.
    @usableFromInline
    func reclaimMemory() {}

    /// Swift's Dictionary deletes without tombstones: nothing to rebuild.
    @usableFromInline
    func maintainTable() {}

    /// The worker's removal, under the lock of its shard, of the key whose
    /// handle (hash) is `hash`, if due (ttlkv_expire_handles). Returns the
    /// outcome, and the entry removed, to be released after the lock is
    /// dropped; calls `removedKey` with the key of an entry it removes.
    func expireEntry(hash: UInt64, scheduled: UInt64, in state: inout NativeShardState,
                     removedKey: (UnsafeRawBufferPointer, UInt64) -> Void) -> (ExpiryOutcome, removed: NativeEntry?) {
        guard let entry = state.find(hash: hash, scheduled: scheduled, hashOf: self.hash) else { return (.drop, nil) }
        let deadline = entry.deadline
        if isExpired(deadline, now: now()) {
            entry.withKey { key in
                removedKey(key, deadline)
                unlink(entry, hash: hash, key: key, expired: true, byWorker: true, in: &state)
            }
            return (.removed(deadline: deadline), entry)
        }
        guard entry.scheduledDeadline == scheduled else { return (.drop, nil) }
        entry.scheduledDeadline = deadline
        return (deadline == 0 ? .drop : .notDue(deadline), nil)
    }
}
