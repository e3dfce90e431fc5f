import TTLKV

/// The server's one door into the store: every call the server makes on
/// ``Store`` goes through here, in the terms the commands need (raw key and
/// value buffers, milliseconds, Redis error messages), so that a change in
/// the Swift API of TTLKV changes this file and no other.
final class Keyspace: Sendable {
    typealias Bytes = UnsafeRawBufferPointer

    private let store: Store

    init(configuration: ServerConfiguration) throws {
        var store = StoreConfiguration(capacity: configuration.capacity)
        store.maximumKeySize = configuration.limits.maximumBulkLength
        store.maximumValueSize = configuration.limits.maximumBulkLength
        store.maximumEntries = configuration.maximumKeys
        self.store = try Store(configuration: store)
    }

    // MARK: Reads (lock-free)

    /// Calls body with the live value of key, in place; nil if absent.
    func withValue<Result>(_ key: Bytes, _ body: (Bytes) -> Result) throws -> Result? {
        try store.withValue(forKey: key, body)
    }

    /// Looks the keys up together (their memory accesses overlapped) and
    /// calls body, in key order, with the offset and value of each key that
    /// has a live one.
    func withValues(_ keys: some Collection<Bytes>, _ body: (Int, Bytes) -> Void) throws {
        try store.withValues(forKeys: keys, body)
    }

    /// What is left of key's life: nil if absent, `.max` if it never
    /// expires, else the milliseconds left (at least 1).
    func millisecondsToLive(_ key: Bytes) throws -> UInt64? {
        switch try store.timeToLive(forKey: key) {
        case nil: return nil
        case .never: return .max
        case .remaining(let duration): return UInt64(duration.components.seconds) * 1000
            + UInt64(duration.components.attoseconds / 1_000_000_000_000_000)
        }
    }

    /// Keys held, counting expired ones not yet removed (as Redis's DBSIZE).
    var count: Int { store.count }

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
            return try store.scanKeys(from: ScanCursor(rawValue: cursor), count: slots, body)?.rawValue ?? 0
        } catch let error as StoreError where error == .invalidCursor {
            return 0
        }
    }

    // MARK: Writes

    /// Stores value under key, expiring after ttl (nil: never).
    func set(_ key: Bytes, _ value: Bytes, ttl: Duration?) throws {
        try store.set(value, forKey: key, ttl: ttl)
    }

    /// SETNX: stores only if key has no live value; returns whether it did.
    func setIfAbsent(_ key: Bytes, _ value: Bytes) throws -> Bool {
        try store.insertIfAbsent(value, forKey: key, ttl: nil)
    }

    /// Removes key; returns whether it had a live value.
    func remove(_ key: Bytes) throws -> Bool {
        try store.removeValue(forKey: key)
    }

    /// Reads and changes key atomically (see ``Store/update(forKey:sizeHint:_:)``).
    func update<Result>(_ key: Bytes, sizeHint: Int = 0, _ body: (inout StoreUpdate) throws -> Result) throws -> Result {
        try store.update(forKey: key, sizeHint: sizeHint, body)
    }

    /// MSET / MSETNX: every pair or none; false if onlyIfNoneExist and a
    /// key exists.
    func setAll(_ pairs: [(key: Bytes, value: Bytes)], onlyIfNoneExist: Bool) throws -> Bool {
        try store.setAll(pairs, onlyIfNoneExist: onlyIfNoneExist)
    }

    /// FLUSHDB: removes every key present when the call starts. Keys written
    /// meanwhile by other clients may stay.
    func removeAll() throws {
        try store.removeAll()
    }

    // MARK: Statistics and life

    struct Statistics {
        var keys: Int
        var bytes: Int
        var expiredKeys: Int
        /// Expiry records pending (``StoreStatistics/pendingExpiryRecords``):
        /// about the keys with a TTL, which INFO reports as `expires`.
        var pendingExpiryRecords: Int
    }

    var statistics: Statistics {
        let s = store.statistics
        return Statistics(keys: s.entries, bytes: s.bytes, expiredKeys: s.expired, pendingExpiryRecords: s.pendingExpiryRecords)
    }

    /// Stops the expiry worker; the memory goes with the last reference.
    func close() {
        store.close()
    }

    // MARK: Errors

    /// The Redis error reply for a store error, in command `name`.
    static func errorReply(for error: any Error, command name: String) -> String {
        guard let error = error as? StoreError else { return "ERR \(error)" }
        switch error {
        case .invalidTTL:
            return "ERR invalid expire time in '\(name)' command"
        case .valueTooLarge, .keyTooLarge:
            return "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        case .full, .outOfMemory:
            return "OOM command not allowed when used memory > 'maxmemory'."
        case .invalidCursor:
            return "ERR invalid cursor"
        case .closed:
            return "ERR Server is shutting down"
        default:
            return "ERR \(error)"
        }
    }
}
