import Synchronization

/// One shard of ``NativeStore``: its own lock and table.
typealias NativeShard = Locked<NativeShardState>

/// The shards and operations behind ``NativeStore``, and the expiry worker's
/// view of them. The rules match the C core (ttlkv.h) one for one: lazy
/// expiry on every read, an expired entry counts as absent, and a write
/// appends an expiry record only for a key's first deadline or one earlier
/// than its pending record's.
@usableFromInline
final class NativeCore: ExpiryBackend, Sendable {
    private let shards: [NativeShard]
    private let seed: UInt64
    private let clock: @Sendable () -> UInt64
    private let deadlineBase: @Sendable () -> UInt64
    private let maximumKeySize: Int
    private let maximumValueSize: Int
    private let maximumEntries: Int?
    private let live = Atomic<Int>(0)
    private let intakeRecords = Atomic<Int>(0)
    private let loggedExpiries = Atomic<Int>(0)

    init(configuration: StoreConfiguration) {
        let count = configuration.shards ?? 64
        let share = configuration.capacity / count
        // Room for the imbalance between shards, as the C core plans it.
        let reserve = share + 5 * Int(Double(share).squareRoot()) + 16
        shards = (0..<count).map { _ in NativeShard(NativeShardState(reserving: reserve)) }
        seed = UInt64.random(in: 1...UInt64.max)
        (clock, deadlineBase) = configuration.clock.makeReaders()
        maximumKeySize = configuration.maximumKeySize
        maximumValueSize = configuration.maximumValueSize
        maximumEntries = configuration.maximumEntries
    }

    // MARK: Hashing and validation

    @inline(__always)
    func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(bytes: key)
        return UInt64(UInt(bitPattern: hasher.finalize()))
    }

    @inline(__always)
    private func shard(for hash: UInt64) -> NativeShard {
        shards[Int(truncatingIfNeeded: ((hash >> 32) &* UInt64(shards.count)) >> 32)]
    }

    /// Whether `key` could be stored: a lookup of a longer key finds nothing.
    @inline(__always)
    private func fits(_ key: UnsafeRawBufferPointer) -> Bool {
        key.count <= maximumKeySize
    }

    private func deadline(after ttl: UInt64) throws -> UInt64 {
        guard ttl != 0 else { return 0 }
        let (deadline, overflow) = deadlineBase().addingReportingOverflow(ttl)
        guard !overflow, deadline != .max else { throw StoreError.invalidTTL }
        return deadline
    }

    @inline(__always)
    private func isExpired(_ deadline: UInt64, now: @autoclosure () -> UInt64) -> Bool {
        deadline != 0 && deadline <= now()
    }

    // MARK: Operations

    /// Inserts or replaces; false only when `ifAbsent` finds a live entry.
    @usableFromInline
    func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, ttl: UInt64, ifAbsent: Bool) throws -> Bool {
        let deadline = try deadline(after: ttl)
        guard fits(key) else { throw StoreError.keyTooLarge }
        if value.count > maximumValueSize { throw StoreError.valueTooLarge }
        let entry = NativeEntry(key: key, value: value, deadline: deadline)
        let hash = hash(key)
        // The replaced entry comes back out so that its release (and
        // free) happens after the lock is dropped.
        let (stored, _) = try shard(for: hash).withLock { state -> (Bool, NativeEntry?) in
            let old = state.find(hash: hash, key: key)
            let oldExpired = old.map { isExpired($0.deadline, now: now()) } ?? false
            if old != nil, !oldExpired, ifAbsent { return (false, nil) }
            var sched = old?.sched ?? 0
            let record = deadline != 0 && (sched == 0 || deadline < sched)
            if record { sched = deadline }
            entry.sched = sched
            if let old {
                state.replace(old, with: entry, hash: hash)
                if oldExpired { noteExpired(old, key: key, in: &state) }
            } else {
                try reserveEntry()
                state.insert(entry, hash: hash)
            }
            if record {
                state.intake.append(key: key, deadline: deadline)
                intakeRecords.add(1, ordering: .relaxed)
            }
            return (true, old)
        }
        return stored
    }

    private func reserveEntry() throws {
        guard let maximumEntries else { return }
        if live.add(1, ordering: .relaxed).newValue > maximumEntries {
            live.subtract(1, ordering: .relaxed)
            throw StoreError.full
        }
    }

    private func releaseEntries(_ count: Int = 1) {
        if maximumEntries != nil { live.subtract(count, ordering: .relaxed) }
    }

    /// Runs `visit` on the live value; returns whether there was one. The
    /// entry is retained under the shard's lock and read after unlocking:
    /// its bytes never change, and the caller's closure, which may do
    /// anything (even call the store), never runs under a lock.
    @usableFromInline
    func read(key: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard fits(key) else { return false }
        let hash = hash(key)
        let live = shard(for: hash).withLock { state -> NativeEntry? in
            guard let entry = state.find(hash: hash, key: key),
                  !isExpired(entry.deadline, now: now()) else { return nil }
            return entry
        }
        guard let live else { return false }
        live.withValue(visit)
        return true
    }

    @usableFromInline
    func remove(key: UnsafeRawBufferPointer) -> Bool {
        guard fits(key) else { return false }
        let hash = hash(key)
        let (live, _) = shard(for: hash).withLock { state -> (Bool, NativeEntry?) in
            guard let entry = state.find(hash: hash, key: key) else { return (false, nil) }
            let expired = isExpired(entry.deadline, now: now())
            unlink(entry, hash: hash, key: key, expired: expired, in: &state)
            return (!expired, entry)
        }
        return live
    }

    /// Removes `entry`. An expired entry counts as expired and, unless the
    /// worker removes it (and reports it itself), goes to the expired log.
    private func unlink(_ entry: NativeEntry, hash: UInt64, key: UnsafeRawBufferPointer, expired: Bool,
                        byWorker: Bool = false, in state: inout NativeShardState) {
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
    private func noteExpired(_ entry: NativeEntry, key: UnsafeRawBufferPointer, in state: inout NativeShardState) {
        state.expired += 1
        state.expiredLog.append(key: key, deadline: entry.deadline)
        loggedExpiries.add(1, ordering: .relaxed)
    }

    func timeToLive(key: some StoreBytes) -> TimeToLive? {
        key.withStoreBytes { key in
            guard fits(key) else { return nil }
            let hash = hash(key)
            return shard(for: hash).withLock { state -> TimeToLive? in
                guard let entry = state.find(hash: hash, key: key) else { return nil }
                let deadline = entry.deadline
                if deadline == 0 { return .never }
                let now = now()
                return deadline > now ? .remaining(.milliseconds(Int64(deadline - now))) : nil
            }
        }
    }

    func setTTL(key: some StoreBytes, milliseconds: UInt64) throws -> Bool {
        let deadline = try deadline(after: milliseconds)
        return key.withStoreBytes { key in
            guard fits(key) else { return false }
            let hash = hash(key)
            return shard(for: hash).withLock { state -> Bool in
                guard let entry = state.find(hash: hash, key: key),
                      !isExpired(entry.deadline, now: now()) else { return false }
                entry.deadline = deadline
                if deadline != 0, entry.sched == 0 || deadline < entry.sched {
                    entry.sched = deadline
                    state.intake.append(key: key, deadline: deadline)
                    intakeRecords.add(1, ordering: .relaxed)
                }
                return true
            }
        }
    }

    var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.withLock { $0.count } }
    }

    /// Empties each shard in turn; expired entries are counted and logged
    /// as any removal of an expired entry is.
    func removeAll() {
        for shard in shards {
            let now = now()
            let old = shard.withLock { state in
                var expired: [NativeEntry] = []
                state.forEachEntry { entry in
                    if isExpired(entry.deadline, now: now) { expired.append(entry) }
                }
                for entry in expired {
                    entry.withKey { noteExpired(entry, key: $0, in: &state) }
                }
                releaseEntries(state.count)
                return state.removeAll()
            }
            _ = old   // released here, outside the lock
        }
    }

    /// One step of a key traversal: the live keys of the shard at `cursor`
    /// and of the following shards until `count` entries were looked at.
    /// Each shard's live entries are gathered under its lock and reported
    /// after it is dropped.
    func scan(from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws -> ScanCursor? {
        guard cursor.rawValue < UInt64(shards.count) else { throw StoreError.invalidCursor }
        var index = Int(cursor.rawValue)
        var visited = 0
        repeat {
            let now = now()
            let live = shards[index].withLock { state -> [NativeEntry] in
                var live: [NativeEntry] = []
                live.reserveCapacity(state.count)
                state.forEachEntry { entry in
                    if !isExpired(entry.deadline, now: now) { live.append(entry) }
                }
                visited += state.count
                return live
            }
            for entry in live { entry.withKey(body) }
            index += 1
        } while index < shards.count && visited < count
        return index < shards.count ? ScanCursor(rawValue: UInt64(index)) : nil
    }

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
            }
        }
        return stats
    }

    // MARK: ExpiryBackend

    func now() -> UInt64 {
        clock()
    }

    var intakeCount: Int {
        intakeRecords.load(ordering: .relaxed)
    }

    func drainIntake(into wheel: inout TimingWheel) {
        take(\.intake, counted: intakeRecords) { key, deadline in wheel.schedule(key: key, deadline: deadline) }
    }

    func drainExpired(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        take(\.expiredLog, counted: loggedExpiries, body)
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
            _ = records.visit(from: 0) { key, deadline in
                body(key, deadline)
                return true
            }
        }
    }

    /// Nothing to do: reference counting frees entries as they go.
    func reclaimMemory() {}

    /// Swift's Dictionary deletes without tombstones: nothing to rebuild.
    func maintainTable() {}

    func expire(key: UnsafeRawBufferPointer, scheduled: UInt64) -> ExpiryOutcome {
        let hash = hash(key)
        let (outcome, _) = shard(for: hash).withLock { state -> (ExpiryOutcome, NativeEntry?) in
            guard let entry = state.find(hash: hash, key: key) else { return (.drop, nil) }
            let deadline = entry.deadline
            if isExpired(deadline, now: now()) {
                unlink(entry, hash: hash, key: key, expired: true, byWorker: true, in: &state)
                return (.removed(deadline: deadline), entry)
            }
            guard entry.sched == scheduled else { return (.drop, nil) }
            entry.sched = deadline
            return (deadline == 0 ? .drop : .notDue(deadline), nil)
        }
        return outcome
    }
}
