import Histogram

/// A snapshot of a store's counters.
///
/// Each counter is read on its own, without stopping writers, so the
/// snapshot is exact only when nothing writes meanwhile.
public struct StoreStatistics: Sendable {
    /// Entries held, including expired entries not yet removed.
    public var entries = 0
    /// Key and value bytes held by those entries.
    public var bytes = 0
    /// Entries removed because their deadline had passed, whoever removed
    /// them: the expiry worker, or a write, removal or ``KeyValueStore/removeAll()``
    /// that found them expired. Each produces exactly one ``ExpiryEvent``.
    public var expired = 0
    /// Entries evicted to stay within ``StoreConfiguration/maximumBytes``;
    /// each produces exactly one ``ExpiryEvent`` with cause
    /// ``ExpiryEvent/Cause/evicted``.
    public var evicted = 0
    /// Bytes counted against ``StoreConfiguration/maximumBytes`` (entries as
    /// allocated, tables, pending records, the policy's bookkeeping); 0 for
    /// a store without a budget.
    public var usedBytes = 0
    /// Reads of a value (``KeyValueStore/withValue(forKey:_:)`` and every
    /// method built on it) that found a live value. A batched read counts
    /// every key it looked up, which for ``Store`` and ``NativeStore`` is
    /// whole chunks of 64: keys of the chunk after a `body` that threw
    /// count too.
    public var hits = 0
    /// Reads of a value that found none (absent or expired).
    public var misses = 0
    /// Replaced or removed entries waiting until no reader can see them
    /// (always 0 for ``NativeStore``, which relies on reference counting).
    public var deferredFrees = 0
    /// Hash table slots over all shards.
    public var tableSlots = 0
    /// Times a shard's table has grown since the store was created.
    public var tableGrows = 0
    /// Shard count.
    public var shards = 0
    /// Expiry records waiting: handed over by writes but not yet taken by
    /// the worker, plus those in its timing wheel.
    public var pendingExpiryRecords = 0
    /// Keys the expiry worker has removed itself (the rest of ``expired``
    /// were found expired by writes).
    public var keysExpiredByWorker = 0
    /// Expiry events that ``ManagedStore/expiryEvents`` sequences dropped
    /// because their consumer was too slow (see
    /// ``StoreConfiguration/expiryEventBufferSize``).
    public var droppedExpiryEvents = 0
    /// Expiry lag in milliseconds, deadline to removal, of every key the
    /// worker has removed.
    public var expiryLag = Histogram<UInt64>(numberOfSignificantValueDigits: .three)

    /// Statistics with every counter 0, for stores outside this module to
    /// fill in.
    public init() {}
}
