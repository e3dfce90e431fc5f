/// How a store is built: its preallocated size, limits, expiry timing and clock.
///
/// ```swift
/// var configuration = StoreConfiguration(capacity: 10_000_000)
/// configuration.maximumValueSize = 1 << 20
/// let store = try Store(configuration: configuration)
/// ```
public struct StoreConfiguration: Sendable {
    /// Entries to preallocate for: up to this many live entries never resize
    /// the table. Past it the table grows online unless ``maximumEntries``
    /// says otherwise.
    public var capacity: Int

    /// Independently locked shards; `nil` lets the store choose.
    public var shards: Int?

    /// The longest key accepted, in bytes. Default 64 KiB.
    public var maximumKeySize: Int = 64 << 10

    /// The longest value accepted, in bytes. Default 64 MiB.
    public var maximumValueSize: Int = 64 << 20

    /// The most entries the store holds; past it inserts throw
    /// ``StoreError/full``. `nil` (the default) means no limit.
    public var maximumEntries: Int?

    /// The most bytes the store may hold: its entries as allocated, its
    /// tables, its pending expiry records and its eviction policy's own
    /// bookkeeping, as the store counts them. Past it, a write first removes
    /// expired entries it meets, then evicts live ones (a scan-resistant
    /// S3-FIFO: a key read since it was stored is kept over one that was
    /// not), each reported as an ``ExpiryEvent`` with cause
    /// ``ExpiryEvent/Cause/evicted``. A write of an entry that could never
    /// fit throws ``StoreError/exceedsMemoryBudget``. At least 1 MiB; `nil`
    /// (the default) means no limit. See <doc:ChoosingABudget>.
    public var maximumBytes: Int?

    /// Whether ``Store`` keeps its tables and entries on transparent huge
    /// pages. At millions of keys a
    /// lookup's memory accesses land on random pages, each a TLB miss on
    /// small pages; on huge pages they mostly are not, and lookups run
    /// faster. The cost comes at first touch where a hypervisor backs guest
    /// memory lazily and takes freed memory back: each fresh huge page
    /// faults in on the host first, and opening and first filling a large
    /// store (a restart from a snapshot too) are slower. The system's setting
    /// decides (`/sys/kernel/mm/transparent_hugepage/enabled`: `never`
    /// refuses them). Entry memory is the process's: once one store asks,
    /// every store's new entries are on huge pages. ``NativeStore``'s memory
    /// is Swift's; it ignores this. Default `false`.
    public var usesHugePages = false

    /// How often the expiry worker looks for due keys: an expired key is
    /// removed within one tick of its deadline plus the time to remove the
    /// keys due with it. Default 10 ms.
    public var tickResolution: Duration = .milliseconds(10)

    /// How much work the expiry worker does per tick before it lets the rest
    /// wait for the next tick.
    public var expiryBudget = ExpiryBudget()

    /// The clock that deadlines are measured on. Default ``StoreClock/system``.
    public var clock: StoreClock = .system

    /// How many expiry events each ``ManagedStore/expiryEvents`` sequence
    /// holds for a consumer that is slower than the expiries. Past it, new
    /// events are dropped (the oldest are kept) and counted in
    /// ``StoreStatistics/droppedExpiryEvents``. Default 10,000.
    public var expiryEventBufferSize = 10_000

    /// A configuration preallocated for `capacity` entries, with defaults for
    /// everything else.
    public init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// The smallest ``maximumBytes`` accepted: a budget must hold a shard's
    /// tables with room to spare.
    static let smallestBudget = 1 << 20

    var tickMilliseconds: UInt64 {
        Swift.max(1, UInt64(clamping: tickResolution.roundedUpMilliseconds ?? 1))
    }

    func validated() throws -> StoreConfiguration {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw StoreError.invalidConfiguration.with(detail: message) }
        }
        try require(capacity >= 0, "capacity must not be negative")
        try require((shards ?? 1) >= 1 && (shards ?? 1) <= 4096, "shards must be in 1...4096")
        try require(maximumKeySize >= 0 && maximumKeySize <= 1 << 30, "maximumKeySize must be in 0...1 GiB")
        try require(maximumValueSize >= 0 && maximumValueSize <= 1 << 30, "maximumValueSize must be in 0...1 GiB")
        try require((maximumEntries ?? 1) >= 1, "maximumEntries must be positive")
        try require((maximumBytes ?? Self.smallestBudget) >= Self.smallestBudget, "maximumBytes must be at least 1 MiB")
        try require(tickResolution > .zero && tickResolution <= .seconds(60), "tickResolution must be in (0, 60 s]")
        try require(expiryBudget.itemsPerTick >= 1, "expiryBudget.itemsPerTick must be positive")
        try require(expiryEventBufferSize >= 1, "expiryEventBufferSize must be positive")
        return self
    }
}

/// The expiry worker's allowance per tick: it stops after `itemsPerTick`
/// records or `timePerTick`, whichever comes first, and carries the rest
/// over, so that a mass expiry is spread over several ticks and leaves the
/// worker's core idle a fifth of the time.
///
/// A removal costs two or three cache misses (find the entry, free an
/// earlier one), so on a large store the default spreads a million keys due
/// at once over a second or two; docs/bench has measured figures.
public struct ExpiryBudget: Sendable {
    /// Expiry records processed per tick at most. Default 100,000.
    public var itemsPerTick: Int = 100_000
    /// Time spent per tick at most; `nil` (the default) means 80% of the tick.
    public var timePerTick: Duration?

    /// The default budget.
    public init() {}
}
