import TTLKV

/// The store as one command sees it, in the terms commands need (raw key
/// and value buffers, store-clock deadlines, Redis errors): either the
/// store itself, or, inside a transaction (EXEC, RENAME, COPY, ...), the
/// store with the shards of its keys locked, whose writes go through the
/// ``StoreTransaction``.
///
/// Every write made here tells the watchers of its key (``WatchRegistry``)
/// while it still holds the key's shard lock, so that an EXEC, which checks
/// its watched keys under those locks, sees every write that came before
/// it. Reads take no lock, in a transaction or not. Writes in a transaction
/// go through it, never through the store: a write to a shard the
/// transaction holds would wait for the transaction, on its own thread.
struct KeyspaceAccess {
    typealias Bytes = UnsafeRawBufferPointer

    let keyspace: Keyspace
    /// The locked shards' transaction; nil outside one.
    let transaction: StoreTransaction?

    var inTransaction: Bool { transaction != nil }

    // MARK: Reads (lock-free)

    /// Calls body with the live value of key, in place; nil if absent.
    func withValue<Result>(_ key: Bytes, _ body: (Bytes) -> Result) throws -> Result? {
        try keyspace.withStore { try $0.withValue(forKey: key, body) }
    }

    /// Looks the keys up together (their memory accesses overlapped) and
    /// calls body, in key order, with the offset and value of each key that
    /// has a live one.
    func withValues(_ keys: some Collection<Bytes>, _ body: (Int, Bytes) -> Void) throws {
        try keyspace.withStore { try $0.withValues(forKeys: keys, body) }
    }

    /// What is left of key's life: nil if absent, `.max` if it never
    /// expires, else the milliseconds left (at least 1).
    func millisecondsToLive(_ key: Bytes) throws -> UInt64? {
        switch try keyspace.withStore({ try $0.timeToLive(forKey: key) }) {
        case nil: return nil
        case .never: return .max
        case .remaining(let duration): return UInt64(duration.components.seconds) * 1000
            + UInt64(duration.components.attoseconds / 1_000_000_000_000_000)
        }
    }

    /// When key expires, in Unix milliseconds: nil if absent, `.max` if
    /// never. Exactly the Unix time a client gave it.
    func unixDeadline(_ key: Bytes) throws -> Int64? {
        switch try keyspace.withStore({ try $0.deadline(forKey: key) }) {
        case nil: return nil
        case .never: return .max
        case .at(let instant): return keyspace.unixMilliseconds(instant)
        }
    }

    /// Keys held, counting expired ones not yet removed (as Redis's DBSIZE).
    var count: Int { keyspace.count }

    /// Calls body with the live keys of about `count` keys' worth of table
    /// from cursor; returns the next cursor, 0 at the end of the pass.
    /// The store counts table slots, full or empty, and its tables are at
    /// most half full: 4 slots per key asked for gives about COUNT keys, and
    /// at least 8,192 slots a call keeps a sparse table (preallocated, or
    /// emptied by expiry) from needing thousands of calls per pass. Redis
    /// takes any cursor: one that names no place in the store ends the pass.
    func scan(from cursor: UInt64, count: Int, _ body: (Bytes) -> Void) throws -> UInt64 {
        let slots = max(count.multipliedReportingOverflow(by: 4).overflow ? .max : count * 4, 8192)
        do {
            return try keyspace.withStore { try $0.scanKeys(from: ScanCursor(rawValue: cursor), count: slots, body) }?.rawValue ?? 0
        } catch let error as StoreError where error == .invalidCursor {
            return 0
        }
    }

    /// Calls body with a live key picked at random; nil if there is none.
    func randomKey<Result>(_ body: (Bytes) -> Result) throws -> Result? {
        var generator = SystemRandomNumberGenerator()
        return try keyspace.withStore { try $0.randomKey(using: &generator, body) }
    }

    // MARK: Writes

    /// Reads and changes key atomically (see ``Store/update(forKey:sizeHint:_:)``);
    /// in a transaction, under its locks. A decision that writes the key
    /// marks its watchers.
    func update<Result>(_ key: Bytes, sizeHint: Int = 0, _ body: (inout StoreUpdate) throws -> Result) throws -> Result {
        let watches = keyspace.watches
        return try withoutActuallyEscaping(body) { body in
            let marking = { (entry: inout StoreUpdate) throws -> Result in
                let result = try body(&entry)
                if entry.changesKey { watches.touch(key) }
                return result
            }
            if let transaction { return try transaction.update(forKey: key, sizeHint: sizeHint, marking) }
            return try keyspace.withStore { try $0.update(forKey: key, sizeHint: sizeHint, marking) }
        }
    }

    /// Stores value under key with deadline (nil: never expires): an
    /// update, which takes the deadline as an instant (a put takes a TTL,
    /// which would move the instant a client gave by the time it took).
    /// ``Keyspace/past`` removes the key; any other deadline stores it
    /// (StoreUpdate+Deadlines.swift).
    func set(_ key: Bytes, _ value: Bytes, deadline: StoreClock.Instant?) throws {
        try update(key, sizeHint: value.count) { entry in
            entry.replaceValue(count: value.count, judgedDeadline: deadline) { $0.copyMemory(from: value) }
        }
    }

    /// SETNX: stores only if key has no live value; returns whether it did.
    func setIfAbsent(_ key: Bytes, _ value: Bytes) throws -> Bool {
        try update(key, sizeHint: value.count) { entry -> Bool in
            guard entry.value == nil else { return false }
            entry.replaceValue(count: value.count, deadline: nil) { $0.copyMemory(from: value) }
            return true
        }
    }

    /// Removes key; returns whether it had a live value.
    func remove(_ key: Bytes) throws -> Bool {
        try update(key) { entry -> Bool in
            entry.remove()
            return entry.value != nil
        }
    }

    /// MSET / MSETNX: every pair or none; false if onlyIfNoneExist and a
    /// key exists.
    /// Under the keys' shard locks (a put_all marks no watcher by itself).
    func setAll(_ pairs: [(key: Bytes, value: Bytes)], onlyIfNoneExist: Bool) throws -> Bool {
        try withLocks(pairs.map(\.key)) { access in
            guard try access.transaction!.setAll(pairs, onlyIfNoneExist: onlyIfNoneExist) else { return false }
            for pair in pairs { access.keyspace.watches.touch(pair.key) }
            return true
        }
    }

    /// FLUSHDB: removes every key present when the call starts. Keys written
    /// meanwhile by other clients may stay. In a transaction, which holds
    /// every shard for it, the keys go one by one and nothing else runs.
    /// Outside one no watcher is marked: a watched key it removes was live at
    /// WATCH and is absent at EXEC, which fails the EXEC by itself.
    func removeAll() throws {
        guard inTransaction else { return try keyspace.withStore { try $0.removeAll() } }
        var cursor: UInt64 = 0
        repeat {
            var keys: [[UInt8]] = []
            cursor = try scan(from: cursor, count: 1024) { keys.append(Array($0)) }
            for key in keys { _ = try key.withUnsafeBytes { try remove($0) } }
        } while cursor != 0
    }

    // MARK: Several keys as one step

    /// Runs body with the shards of `keys` locked (nil: every shard), so
    /// that no other write to them runs meanwhile; body writes through the
    /// access it is given. In a transaction, which already holds them, body
    /// runs at once.
    func withLocks<Result>(_ keys: [Bytes]?, _ body: (KeyspaceAccess) throws -> Result) throws -> Result {
        if inTransaction { return try body(self) }
        let keyspace = keyspace
        guard let keys else {
            return try keyspace.withStore { store in
                try store.withAllKeysLocked { try body(KeyspaceAccess(keyspace: keyspace, transaction: $0)) }
            }
        }
        return try keyspace.withStore { store in
            try store.withLockedKeys(keys) { try body(KeyspaceAccess(keyspace: keyspace, transaction: $0)) }
        }
    }

    /// In a transaction: key's live value and deadline, in place; valid
    /// until the transaction writes key or ends (no other write can replace
    /// it while its shard is locked). Nil if absent.
    func lockedValue(_ key: Bytes) throws -> (bytes: Bytes, deadline: StoreClock.Instant?)? {
        try transaction!.value(forKey: key)
    }
}
