import Histogram

/// A snapshot of a store's counters.
public struct StoreStatistics: Sendable {
    /// Entries held, including expired entries not yet removed.
    public var entries: Int
    /// Key and value bytes held by those entries.
    public var bytes: Int
    /// Entries removed because their deadline passed.
    public var expired: Int
    /// Replaced or removed entries waiting until no reader can see them
    /// (always 0 for ``NativeStore``, which relies on reference counting).
    public var deferredFrees: Int
    /// Hash table slots over all shards.
    public var tableSlots: Int
    /// Times a shard's table has grown since the store was created.
    public var tableGrows: Int
    /// Shard count.
    public var shards: Int
    /// Expiry records waiting: handed over by writes but not yet taken by
    /// the worker, plus those in its timing wheel.
    public var pendingExpiryRecords: Int
    /// Keys the expiry worker has removed.
    public var keysExpiredByWorker: Int
    /// Expiry lag in milliseconds, deadline to removal, of every key the
    /// worker has removed.
    public var expiryLag: Histogram<UInt64>

    /// Statistics with every counter given, for stores that conform to
    /// ``KeyValueStore`` outside this module.
    public init(
        entries: Int, bytes: Int, expired: Int, deferredFrees: Int, tableSlots: Int, tableGrows: Int,
        shards: Int, pendingExpiryRecords: Int, keysExpiredByWorker: Int, expiryLag: Histogram<UInt64>
    ) {
        self.entries = entries
        self.bytes = bytes
        self.expired = expired
        self.deferredFrees = deferredFrees
        self.tableSlots = tableSlots
        self.tableGrows = tableGrows
        self.shards = shards
        self.pendingExpiryRecords = pendingExpiryRecords
        self.keysExpiredByWorker = keysExpiredByWorker
        self.expiryLag = expiryLag
    }
}

/// How long a key has left.
public enum TimeToLive: Hashable, Sendable {
    /// The key never expires.
    case never
    /// The key expires after this long (at least a millisecond).
    case remaining(Duration)
}

/// Why a key went away.
public enum ExpiryCause: Hashable, Sendable {
    /// Its deadline passed and the expiry worker removed it.
    case deadlinePassed
}

/// A key the expiry worker removed, as told to expiry listeners.
public struct ExpiryEvent: Hashable, Sendable {
    /// The key's bytes.
    public var key: [UInt8]
    /// The deadline, on the store's clock (milliseconds).
    public var deadline: UInt64
    /// When the worker removed it, on the store's clock (milliseconds).
    public var removedAt: UInt64
    /// Why it was removed.
    public var cause: ExpiryCause
}
