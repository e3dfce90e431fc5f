import Synchronization
import CTTLKV

/// ``Store``'s core: owns one `ttlkv *`, and is the only place that calls
/// the C API (ttlkv.h). Closing the C store happens in deinit, when neither
/// the ``Store`` nor its worker holds a reference any more, so no call can
/// overlap `ttlkv_close`.
@usableFromInline
final class CCore: StoreCore, @unchecked Sendable {
    // Safe to share: ttlkv.h allows every call from any thread at any time
    // except ttlkv_close, which only deinit makes; `clock` is immutable.
    @usableFromInline let pointer: OpaquePointer
    private let clock: ClockContext?
    /// The reading deadlines are computed from (the C core's own for
    /// ttlkv_put: precise, rounded up), for deadlines the caller computes.
    let deadlineBase: @Sendable () -> UInt64

    init(configuration: StoreConfiguration) throws {
        var options = ttlkv_options()
        ttlkv_options_init(&options)
        options.capacity = UInt64(configuration.capacity)
        options.shards = UInt32(configuration.shards ?? 0)
        options.max_key_size = UInt32(configuration.maximumKeySize)
        options.max_value_size = UInt32(configuration.maximumValueSize)
        options.max_entries = UInt64(configuration.maximumEntries ?? 0)
        options.max_bytes = UInt64(configuration.maximumBytes ?? 0)
        options.flags = UInt32(TTLKV_TRACK_EXPIRY) | (configuration.usesHugePages ? UInt32(TTLKV_HUGE_PAGES) : 0)
        deadlineBase = configuration.clock.makeReaders().deadlineBase
        if case .system = configuration.clock.source {
            clock = nil
        } else {
            let context = ClockContext(read: configuration.clock.makeReaders().now)
            clock = context
            options.clock = { context in
                Unmanaged<ClockContext>.fromOpaque(context!).takeUnretainedValue().read()
            }
            // Unretained: `clock` keeps the context alive as long as the store.
            options.clock_context = Unmanaged.passUnretained(context).toOpaque()
        }
        var store: OpaquePointer?
        let status = ttlkv_open(&options, &store)
        if status == TTLKV_INVALID_ARGUMENT, let budget = configuration.maximumBytes {
            // validated() has checked every other option: only the budget
            // can be out of range here.
            throw StoreError.invalidConfiguration.with(detail:
                "maximumBytes \(budget) cannot hold the tables preallocated for capacity \(configuration.capacity)")
        }
        try check(status)
        pointer = store!
    }

    deinit {
        ttlkv_close(pointer)
    }

    /// The C store's eviction scope, mirrored here for reading: the C
    /// core only takes it (ttlkv_set_eviction).
    private let scope = Mutex(EvictionScope.allKeys)

    var evictionScope: EvictionScope {
        get { scope.withLock { $0 } }
        set {
            scope.withLock { scope in
                // Every EvictionScope is one the C core accepts.
                _ = ttlkv_set_eviction(pointer, newValue.rawValue)
                scope = newValue
            }
        }
    }

    @usableFromInline
    func now() -> UInt64 {
        ttlkv_now(pointer)
    }

    // MARK: Keys

    @usableFromInline
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, ttl: UInt64, ifAbsent: Bool) throws -> Bool {
        let status = ifAbsent
            ? ttlkv_put_if_absent(pointer, key.baseAddress, key.count, value.baseAddress, value.count, ttl)
            : ttlkv_put(pointer, key.baseAddress, key.count, value.baseAddress, value.count, ttl)
        if status == TTLKV_EXISTS { return false }
        try check(status)
        return true
    }

    /// Calls `visit` with the live value, inside the C read section.
    @usableFromInline
    func read(_ key: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer) -> Void) throws -> Bool {
        var value: UnsafeRawPointer?
        var length = 0
        let status = ttlkv_read_begin(pointer, key.baseAddress, key.count, &value, &length)
        guard try Self.found(status) else { return false }
        // The value stays valid until ttlkv_read_end, on this thread.
        defer { _ = ttlkv_read_end() }
        visit(UnsafeRawBufferPointer(start: value, count: length))
        return true
    }

    @usableFromInline
    func remove(_ key: UnsafeRawBufferPointer) throws -> Bool {
        try Self.found(ttlkv_delete(pointer, key.baseAddress, key.count))
    }

    @usableFromInline
    func timeToLive(_ key: UnsafeRawBufferPointer) throws -> TimeToLive? {
        var remaining: UInt64 = 0
        guard try Self.found(ttlkv_ttl(pointer, key.baseAddress, key.count, &remaining)) else { return nil }
        return remaining == TTLKV_NO_EXPIRY ? .never : .remaining(.milliseconds(Int64(remaining)))
    }

    @usableFromInline
    func setTimeToLive(_ key: UnsafeRawBufferPointer, ttl: UInt64) throws -> Bool {
        try Self.found(ttlkv_set_ttl(pointer, key.baseAddress, key.count, ttl))
    }

    /// Whether a keyed call found a live entry; a key too long to be stored
    /// is simply not there. Throws for any other failure.
    @inline(__always)
    static func found(_ status: ttlkv_status) throws -> Bool {
        if status == TTLKV_OK { return true }
        if status == TTLKV_NOT_FOUND || status == TTLKV_KEY_TOO_LARGE { return false }
        throw StoreError(status)
    }

    @usableFromInline
    var count: Int {
        Int(ttlkv_count(pointer))
    }

    @usableFromInline
    var statistics: StoreStatistics {
        let raw = rawStatistics
        var stats = StoreStatistics()
        stats.entries = Int(raw.entries)
        stats.bytes = Int(raw.bytes)
        stats.expired = Int(raw.expired)
        stats.deferredFrees = Int(raw.deferred_frees)
        stats.tableSlots = Int(raw.table_slots)
        stats.tableGrows = Int(raw.table_grows)
        stats.shards = Int(raw.shards)
        stats.evicted = Int(raw.evicted)
        stats.usedBytes = Int(raw.used_bytes)
        return stats
    }

    private var rawStatistics: ttlkv_stats {
        var stats = ttlkv_stats()
        ttlkv_stats_get(pointer, &stats)
        return stats
    }

    // MARK: Snapshots

    /// The visitor of a snapshot's walk.
    @usableFromInline
    typealias WalkBody = (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UInt64) -> Void

    /// ttlkv_walk: each step one read section of the C core, the entries'
    /// bytes handed to `body` where they lie.
    @usableFromInline
    func walkEntries(step: Int, _ body: WalkBody, betweenSteps: () throws -> Void) throws {
        var walk: OpaquePointer?
        try check(ttlkv_walk_begin(pointer, &walk))
        defer { ttlkv_walk_end(walk) }
        try withoutActuallyEscaping(body) { body in
            var body = body
            // ttlkv_walk_next calls back only before it returns, while `body` is alive.
            try withUnsafeMutablePointer(to: &body) { body in
                var done: Int32 = 0
                while done == 0 {
                    try check(ttlkv_walk_next(walk, step, { key, keyLength, value, valueLength, deadline, context in
                        context!.assumingMemoryBound(to: WalkBody.self).pointee(
                            UnsafeRawBufferPointer(start: key, count: keyLength),
                            UnsafeRawBufferPointer(start: value, count: valueLength),
                            deadline == TTLKV_NO_EXPIRY ? 0 : deadline)
                    }, body, &done))
                    try betweenSteps()
                }
            }
        }
    }

    @usableFromInline
    func shard(ofKey key: UnsafeRawBufferPointer) -> Int {
        Int(ttlkv_handle_shard(pointer, ttlkv_key_handle(pointer, key.baseAddress, key.count)))
    }

    /// ttlkv_load: the batch's entries built together, each shard's written
    /// under one hold of its lock.
    @usableFromInline
    func restore(_ items: UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int {
        try withUnsafeTemporaryAllocation(of: ttlkv_load_item.self, capacity: items.count) { cItems in
            for (i, item) in items.enumerated() {
                // The caller keeps the items' bytes valid for the call.
                cItems.initializeElement(at: i, to: ttlkv_load_item(
                    key: item.key.baseAddress, key_len: item.key.count, value: item.value.baseAddress,
                    value_len: item.value.count, deadline_ms: item.deadline == 0 ? TTLKV_NO_EXPIRY : item.deadline))
            }
            return try withUnsafeTemporaryAllocation(of: ttlkv_status.self, capacity: items.count) { statuses in
                try check(ttlkv_load(pointer, cItems.baseAddress, items.count, statuses.baseAddress))
                var expired = 0, unstored: [Int] = [], first: ttlkv_status?
                for (offset, status) in statuses.enumerated() where status != TTLKV_OK {
                    if status == TTLKV_NOT_FOUND {
                        expired += 1
                    } else {
                        unstored.append(offset)
                        first = first ?? status
                    }
                }
                if let first { throw SnapshotRestoreFailure(unstored: unstored, expired: expired, error: StoreError(first)) }
                return expired
            }
        }
    }

    // MARK: What only Store offers

    /// One run of ``Store/update(forKey:sizeHint:_:)``'s closure, as
    /// ttlkv_update calls it.
    typealias UpdateStep = (UnsafeMutablePointer<ttlkv_update_state>) -> ttlkv_update_action

    /// ttlkv_update with `step` as its callback.
    func update(_ key: UnsafeRawBufferPointer, sizeHint: Int, _ step: UpdateStep) -> ttlkv_status {
        withoutActuallyEscaping(step) { step in
            var step = step
            // ttlkv_update calls back only before it returns, while `step` is alive.
            return withUnsafeMutablePointer(to: &step) { step in
                ttlkv_update(pointer, key.baseAddress, key.count, sizeHint, { state, context in
                    context!.assumingMemoryBound(to: UpdateStep.self).pointee(state!)
                }, step)
            }
        }
    }

    /// ttlkv_put_all; false if `onlyIfNoneExist` found a live key.
    func putAll(
        _ pairs: some Collection<(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)>, onlyIfNoneExist: Bool
    ) throws -> Bool {
        try Self.putAll(pairs, onlyIfNoneExist: onlyIfNoneExist) { items, count, flags in
            ttlkv_put_all(pointer, items, count, flags)
        }
    }

    /// Runs a put_all with the pairs as C items; false for TTLKV_EXISTS.
    private static func putAll(
        _ pairs: some Collection<(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)>, onlyIfNoneExist: Bool,
        _ call: (UnsafePointer<ttlkv_item>?, Int, UInt32) -> ttlkv_status
    ) throws -> Bool {
        // The caller keeps every buffer valid for the call.
        let items = pairs.map {
            ttlkv_item(key: $0.key.baseAddress, key_len: $0.key.count, value: $0.value.baseAddress,
                       value_len: $0.value.count, ttl_ms: 0)
        }
        let status = items.withUnsafeBufferPointer {
            call($0.baseAddress, $0.count, onlyIfNoneExist ? UInt32(TTLKV_PUT_IF_NONE_EXIST) : 0)
        }
        if status == TTLKV_EXISTS { return false }
        try check(status)
        return true
    }

    // MARK: Several keys as one step

    /// ttlkv_lock_keys over `keys` (nil: every shard), with `body` as its
    /// callback; `body` gets the held shards' handle.
    func lockKeys(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>?, _ body: (OpaquePointer) -> ttlkv_status) -> ttlkv_status {
        withoutActuallyEscaping(body) { body in
            var body = body
            // ttlkv_lock_keys calls back only before it returns, while `body` is alive.
            return withUnsafeMutablePointer(to: &body) { body in
                let callback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> ttlkv_status = { held, context in
                    context!.assumingMemoryBound(to: ((OpaquePointer) -> ttlkv_status).self).pointee(held!)
                }
                guard let keys else {
                    return ttlkv_lock_keys(pointer, nil, 0, UInt32(TTLKV_LOCK_ALL_SHARDS), callback, body)
                }
                return withCKeys(keys) { cKeys, _ in
                    ttlkv_lock_keys(pointer, cKeys.baseAddress, cKeys.count, 0, callback, body)
                }
            }
        }
    }

    /// ttlkv_locked_update with `step` as its callback.
    func lockedUpdate(_ held: OpaquePointer, _ key: UnsafeRawBufferPointer, sizeHint: Int, _ step: UpdateStep) -> ttlkv_status {
        withoutActuallyEscaping(step) { step in
            var step = step
            // As in update(_:sizeHint:_:): called back only during the call.
            return withUnsafeMutablePointer(to: &step) { step in
                ttlkv_locked_update(held, key.baseAddress, key.count, sizeHint, { state, context in
                    context!.assumingMemoryBound(to: UpdateStep.self).pointee(state!)
                }, step)
            }
        }
    }

    /// ttlkv_locked_put_all; false if `onlyIfNoneExist` found a live key.
    func lockedPutAll(
        _ held: OpaquePointer, _ pairs: some Collection<(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)>,
        onlyIfNoneExist: Bool
    ) throws -> Bool {
        try Self.putAll(pairs, onlyIfNoneExist: onlyIfNoneExist) { items, count, flags in
            ttlkv_locked_put_all(held, items, count, flags)
        }
    }

    // MARK: Reads for the server

    /// ttlkv_deadline: nil if absent, TTLKV_NO_EXPIRY if it never expires.
    func deadline(_ key: UnsafeRawBufferPointer) throws -> UInt64? {
        var deadline: UInt64 = 0
        guard try Self.found(ttlkv_deadline(pointer, key.baseAddress, key.count, &deadline)) else { return nil }
        return deadline
    }

    /// ttlkv_random_key; `body` runs inside the read section. False if the
    /// store had no live key for it.
    func randomKey(_ random: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) throws -> Bool {
        let status = withoutActuallyEscaping(body) { body in
            var visit = body
            // As in forEachRecord: used only during the synchronous call.
            return withUnsafeMutablePointer(to: &visit) { visit in
                ttlkv_random_key(pointer, random, { key, length, _, context in
                    let visit = context!.assumingMemoryBound(to: ((UnsafeRawBufferPointer) -> Void).self)
                    visit.pointee(UnsafeRawBufferPointer(start: key, count: length))
                }, visit)
            }
        }
        return try Self.found(status)
    }

    // MARK: The expiry worker's

    @usableFromInline
    func takeDrainWanted() -> Bool {
        ttlkv_drain_wanted(pointer) != 0
    }

    @usableFromInline
    var scheduleRecords: Int {
        Int(rawStatistics.schedule_records)
    }

    @usableFromInline
    func drainSchedule(_ body: (_ handle: UInt64, _ deadline: UInt64) -> Void) {
        forEachRecord(of: ttlkv_drain_schedule) { key, deadline in
            body(ttlkv_key_handle(pointer, key.baseAddress, key.count), deadline)
        }
    }

    @usableFromInline
    func drainExpired(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        forEachRecord(of: ttlkv_drain_expired, body)
    }

    @usableFromInline
    func drainEvicted(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        forEachRecord(of: ttlkv_drain_evicted, body)
    }

    /// ttlkv_drain_schedule, ttlkv_drain_expired and ttlkv_drain_evicted.
    private typealias Drain = (
        OpaquePointer?, (@convention(c) (UnsafeRawPointer?, Int, UInt64, UnsafeMutableRawPointer?) -> Void)?,
        UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?
    ) -> ttlkv_status

    /// Runs one of the C drains with `body` as its callback.
    private func forEachRecord(of drain: Drain, _ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        withoutActuallyEscaping(body) { body in
            var visit = body
            // The callback runs synchronously inside the drain, while
            // `visit` is alive on this stack and no one else can see it.
            _ = withUnsafeMutablePointer(to: &visit) { visit in
                drain(pointer, { key, length, deadline, context in
                    let visit = context!.assumingMemoryBound(to: ((UnsafeRawBufferPointer, UInt64) -> Void).self)
                    visit.pointee(UnsafeRawBufferPointer(start: key, count: length), deadline)
                }, visit, nil)
            }
        }
    }

    @usableFromInline
    func removeAll() throws {
        try check(ttlkv_clear(pointer))
    }

    /// One ttlkv_scan step; `body` runs inside the read section.
    @usableFromInline
    func scan(
        from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws -> ScanCursor? {
        var raw = cursor.rawValue
        let status = withoutActuallyEscaping(body) { body in
            var visit = body
            // As in forEachRecord: used only during the synchronous call.
            return withUnsafeMutablePointer(to: &visit) { visit in
                ttlkv_scan(pointer, &raw, Swift.max(count, 1), { key, length, _, context in
                    let visit = context!.assumingMemoryBound(to: ((UnsafeRawBufferPointer) -> Void).self)
                    visit.pointee(UnsafeRawBufferPointer(start: key, count: length))
                }, visit)
            }
        }
        if status == TTLKV_INVALID_ARGUMENT { throw StoreError.invalidCursor }
        try check(status)
        return raw == 0 ? nil : ScanCursor(rawValue: raw)
    }

    /// ttlkv_expire_handles: a chunk of the worker's due records at once.
    @usableFromInline
    func expire(_ handles: UnsafeBufferPointer<UInt64>, scheduled: UnsafeBufferPointer<UInt64>,
                outcomes: UnsafeMutableBufferPointer<ExpiryOutcome>,
                removedKey: (UnsafeRawBufferPointer, UInt64) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: handles.count) { deadlines in
            withUnsafeTemporaryAllocation(of: ttlkv_status.self, capacity: handles.count) { statuses in
                // C sets a deadline only for some statuses: the rest read 0.
                deadlines.initialize(repeating: 0)
                statuses.initialize(repeating: TTLKV_OK)
                let status = withRemovedKeyCallback(removedKey) { callback, context in
                    // All buffers outlive the synchronous call: the handles
                    // and deadlines are the caller's, the rest this frame's.
                    ttlkv_expire_handles(pointer, handles.baseAddress, scheduled.baseAddress, handles.count,
                                         deadlines.baseAddress, statuses.baseAddress, callback, context)
                }
                for i in 0..<handles.count {
                    // A whole-call failure (memory for this thread's reader
                    // record) changed nothing: try every record again.
                    outcomes[i] = status != TTLKV_OK ? .retry : Self.outcome(statuses[i], deadline: deadlines[i])
                }
            }
        }
    }

    /// Runs `body` with `removedKey` as a C ttlkv_expired_fn and context.
    private func withRemovedKeyCallback(
        _ removedKey: (UnsafeRawBufferPointer, UInt64) -> Void,
        _ body: (@convention(c) (Int, UnsafeRawPointer?, Int, UInt64, UnsafeMutableRawPointer?) -> Void,
                 UnsafeMutableRawPointer?) -> ttlkv_status
    ) -> ttlkv_status {
        withoutActuallyEscaping(removedKey) { removedKey in
            var report = removedKey
            // As in forEachRecord: C calls back only during `body`.
            return withUnsafeMutablePointer(to: &report) { report in
                body({ _, key, length, deadline, context in
                    let report = context!.assumingMemoryBound(to: ((UnsafeRawBufferPointer, UInt64) -> Void).self)
                    report.pointee(UnsafeRawBufferPointer(start: key, count: length), deadline)
                }, report)
            }
        }
    }

    private static func outcome(_ status: ttlkv_status, deadline: UInt64) -> ExpiryOutcome {
        switch status {
        case TTLKV_OK:
            return .removed(deadline: deadline)
        case TTLKV_NOT_DUE where deadline != TTLKV_NO_EXPIRY:
            return .notDue(deadline)
        case TTLKV_OUT_OF_MEMORY:
            return .retry
        default:
            return .drop
        }
    }

    @usableFromInline
    func reclaimMemory() {
        _ = ttlkv_reclaim(pointer, 0)
    }

    @usableFromInline
    func maintainTable() {
        // A few hundred microseconds of rebuilding at most per tick; a
        // rebuild resumes where the last tick left it.
        _ = ttlkv_maintain(pointer, 32768, nil)
    }
}

/// Calls `body` with `keys` as C batch keys, and room for their statuses.
func withCKeys<Result>(
    _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>,
    _ body: (UnsafeBufferPointer<ttlkv_key>, UnsafeMutableBufferPointer<ttlkv_status>) throws -> Result
) rethrows -> Result {
    try withUnsafeTemporaryAllocation(of: ttlkv_key.self, capacity: keys.count) { cKeys in
        // The C keys point into `keys`' buffers, which the caller keeps
        // pinned until `body` returns; cKeys does not outlive this call.
        for (i, key) in keys.enumerated() {
            cKeys.initializeElement(at: i, to: ttlkv_key(data: key.baseAddress, len: key.count))
        }
        return try withUnsafeTemporaryAllocation(of: ttlkv_status.self, capacity: keys.count) { statuses in
            statuses.initialize(repeating: TTLKV_OK)
            return try body(UnsafeBufferPointer(cKeys), statuses)
        }
    }
}

/// A Swift clock handed to C as a function pointer and a context.
private final class ClockContext: Sendable {
    let read: @Sendable () -> UInt64

    init(read: @escaping @Sendable () -> UInt64) {
        self.read = read
    }
}

/// Throws the ``StoreError`` for a C status other than `TTLKV_OK`.
@inlinable @inline(__always)
func check(_ status: ttlkv_status) throws {
    if status != TTLKV_OK { throw StoreError(status) }
}

extension StoreError {
    @usableFromInline
    init(_ status: ttlkv_status) {
        switch status {
        case TTLKV_KEY_TOO_LARGE: self = .keyTooLarge
        case TTLKV_VALUE_TOO_LARGE: self = .valueTooLarge
        case TTLKV_INVALID_TTL: self = .invalidTTL
        case TTLKV_FULL: self = .full
        case TTLKV_OUT_OF_MEMORY: self = .outOfMemory
        case TTLKV_TOO_LARGE_FOR_BUDGET: self = .exceedsMemoryBudget
        case TTLKV_IN_READ_SECTION: self = .writeDuringRead
        default: self = StoreError.unexpectedStatus.with(detail: String(cString: ttlkv_status_string(status)))
        }
    }
}
