import Synchronization
@_spi(Internals) import TTLKV

/// The server's store and what every connection shares about it: the
/// watched keys (WATCH), and the one conversion between Unix time and the
/// store's clock. Commands reach the store through a ``KeyspaceAccess``
/// (``access``, or a transaction's); this file and KeyspaceAccess.swift are
/// the only ones that call the TTLKV Swift API, so that a change there
/// changes these two files and no other.
///
/// Time. Deadlines live on the store's clock (boot time in milliseconds).
/// Unix times (EXPIREAT, PXAT, EXPIRETIME, RESTORE ABSTTL, snapshots) are
/// converted with the one offset of ``StoreClock`` (read once per process):
/// a Unix time given by a client comes back exactly, through a snapshot
/// too, and the same key's EXPIRETIME never drifts. A wall clock stepped
/// later (by hand or by NTP) is not followed: keys expire on the boot clock.
///
/// The store is replaced once when the server starts on a snapshot: the
/// keyspace begins with a small empty store, which the commands allowed
/// while loading (INFO and the like) see, and ``loadSnapshot(from:progress:)``
/// puts the loaded one in its place, moving the removal listeners to it.
/// Commands reach the store through an atomic reference read without a
/// retain (``withStore(_:)``), so that no thread writes to the store
/// object's reference count on the hot path.
final class Keyspace: Sendable {
    typealias Bytes = UnsafeRawBufferPointer

    let watches = WatchRegistry()
    /// The store commands use, not retained: `stores` keeps it alive.
    private let current: Atomic<Unmanaged<Store>>
    /// Every store this keyspace has had, kept until it goes (a thread may
    /// still be in a call on the one replaced), closed together.
    private let stores: Locked<[Store]>
    /// The listeners of ``onRemoval(_:)``, moved to a loaded store.
    private let listeners = Locked<[ExpiryListening]>([])
    private let configuration: StoreConfiguration
    /// maxmemory-policy: CONFIG SET changes it, for every store.
    private let policy: Mutex<MaxMemoryPolicy>
    /// Whether writes may evict: a budget, and a policy other than noeviction.
    private let evicting: Atomic<Bool>

    /// A keyspace with the configured store; with a small empty one if
    /// `awaitingSnapshot` (``loadSnapshot(from:progress:)`` replaces it).
    init(configuration: ServerConfiguration, awaitingSnapshot: Bool = false) throws {
        var store = StoreConfiguration(capacity: configuration.capacity)
        store.maximumKeySize = configuration.limits.maximumBulkLength
        store.maximumValueSize = configuration.limits.maximumBulkLength
        store.maximumEntries = configuration.maximumKeys
        if configuration.maximumMemory > 0 {
            store.maximumBytes = configuration.maximumMemory
            // Tables preallocated for more keys than the budget can hold
            // would take the budget from the keys (a key costs well over
            // 64 bytes); the tables still grow within the budget.
            store.capacity = min(store.capacity, max(1024, configuration.maximumMemory / 256))
        }
        self.configuration = store
        let policy = MaxMemoryPolicy(name: configuration.maximumMemoryPolicy) ?? .noeviction
        self.policy = Mutex(policy)
        evicting = Atomic(configuration.maximumMemory > 0 && policy != .noeviction)
        let first = try Store(configuration: awaitingSnapshot ? StoreConfiguration(capacity: 16) : store)
        first.evictionScope = policy.scope
        current = Atomic(Unmanaged.passUnretained(first))
        stores = Locked([first])
    }

    /// The store's budget (maxmemory), 0 for none: fixed at start.
    var maximumMemory: Int { configuration.maximumBytes ?? 0 }

    /// Whether writes may evict keys now.
    var evicts: Bool { evicting.load(ordering: .relaxed) }

    /// maxmemory-policy; setting it changes what the next writes may evict.
    var maximumMemoryPolicy: MaxMemoryPolicy {
        get { policy.withLock { $0 } }
        set {
            policy.withLock { policy in
                policy = newValue
                evicting.store(maximumMemory > 0 && newValue != .noeviction, ordering: .relaxed)
                withStore { $0.evictionScope = newValue.scope }
            }
        }
    }

    /// Runs body with the current store, without retaining it.
    @inline(__always)
    func withStore<Result>(_ body: (Store) throws -> Result) rethrows -> Result {
        // Guaranteed alive: every store stays in `stores` until deinit.
        try current.load(ordering: .acquiring)._withUnsafeGuaranteedRef(body)
    }

    /// The store outside any transaction.
    var access: KeyspaceAccess { KeyspaceAccess(keyspace: self, transaction: nil) }

    /// Keys held, counting expired ones not yet removed (as Redis's DBSIZE).
    var count: Int { withStore { $0.count } }

    // MARK: Time

    /// The deadline of a key whose time had already passed when its
    /// command ran: the clock's origin, long past, because lookups read a
    /// clock that may lag by a tick and would still show a key given "now".
    static let past = StoreClock.Instant(sinceOrigin: .zero)

    /// The deadline `milliseconds` from now (a relative TTL): from the
    /// store's precise clock, so never early. A positive TTL is never past
    /// (Redis keeps a `PX 1` key for its millisecond, then reports it
    /// expired); zero or less is.
    func deadline(afterMilliseconds milliseconds: Int64) -> StoreClock.Instant {
        guard milliseconds > 0 else { return Self.past }
        return cappedAtLongest(withStore { $0.deadline(after: .milliseconds(milliseconds)) })
    }

    /// The store-clock instant of a Unix time in milliseconds; ``past`` if
    /// that time is at or before the wall clock's now. That is Redis's rule,
    /// judged in Unix time: on the store's clock, the process's sub-
    /// millisecond offset between the clocks kept the current millisecond
    /// alive in some calls and not in others.
    func instant(unixMilliseconds unix: Int64) -> StoreClock.Instant {
        guard unix > WallClock.milliseconds() else { return Self.past }
        return cappedAtLongest(StoreClock.system.instant(atUnixMilliseconds: unix))
    }

    /// The Unix time in milliseconds of a store-clock instant.
    func unixMilliseconds(_ instant: StoreClock.Instant) -> Int64 {
        StoreClock.system.unixMilliseconds(at: instant)
    }

    /// A deadline more than the store's longest TTL ahead (100 years),
    /// which Redis accepts and the store refuses, kept as the longest:
    /// measured from `store.now`, the clock the store's own check (made
    /// later) measures it from too.
    private func cappedAtLongest(_ deadline: StoreClock.Instant) -> StoreClock.Instant {
        withStore { min(deadline, $0.now.advanced(by: Store.longestTimeToLive)) }
    }

    // MARK: Removals the store reports

    /// Why the store removed a key on its own.
    enum Removal: Sendable {
        /// Its deadline passed.
        case expired
        /// The memory budget needed its room.
        case evicted
    }

    /// Keeps a listener of ``onRemoval(_:)`` registered, on the current
    /// store and on one loaded later, until cancelled.
    final class ExpiryListening: Sendable {
        private let body: @Sendable (UnsafeRawBufferPointer, Removal) -> Void
        /// One token per store listened to; nil once cancelled.
        private let tokens = Locked<[ExpiryListenerToken]?>([])

        fileprivate init(_ body: @escaping @Sendable (UnsafeRawBufferPointer, Removal) -> Void) {
            self.body = body
        }

        /// Listens to store too; false if it is closed.
        @discardableResult
        fileprivate func attach(to store: Store) -> Bool {
            let body = self.body
            guard let token = try? store.addExpiryListener({ events in
                for event in events {
                    let removal: Removal = event.cause == .evicted ? .evicted : .expired
                    event.key.withUnsafeBytes { body($0, removal) }
                }
            }) else { return false }
            let kept = tokens.withLock { tokens in
                tokens?.append(token)
                return tokens != nil
            }
            if !kept { token.cancel() }
            return true
        }

        fileprivate var isCancelled: Bool { tokens.withLock { $0 == nil } }

        func cancel() {
            for token in tokens.withLock({ tokens in defer { tokens = nil }; return tokens ?? [] }) { token.cancel() }
        }
    }

    /// Calls body, on the store's expiry worker, with every key the store
    /// removes on its own from now on, once each and with the reason, within
    /// a tick of its deadline for an expiry (see
    /// ``ManagedStore/addExpiryListener(_:)``); nil if the store is closed.
    func onRemoval(_ body: @escaping @Sendable (UnsafeRawBufferPointer, Removal) -> Void) -> ExpiryListening? {
        let listening = ExpiryListening(body)
        guard withStore({ listening.attach(to: $0) }) else { return nil }
        listeners.withLock { listeners in
            listeners.removeAll { $0.isCancelled }
            listeners.append(listening)
        }
        return listening
    }

    // MARK: Statistics and life

    struct Statistics {
        var keys: Int
        var bytes: Int
        var expiredKeys: Int
        /// Expiry records pending (``StoreStatistics/pendingExpiryRecords``):
        /// about the keys with a TTL, which INFO reports as `expires`.
        var pendingExpiryRecords: Int
        /// Keys evicted to stay within maxmemory.
        var evictedKeys: Int
        /// What the store holds, as it counts it against maxmemory.
        var usedBytes: Int
    }

    var statistics: Statistics {
        let s = withStore { $0.statistics }
        return Statistics(keys: s.entries, bytes: s.bytes, expiredKeys: s.expired, pendingExpiryRecords: s.pendingExpiryRecords,
                          evictedKeys: s.evicted, usedBytes: s.usedBytes)
    }

    /// Stops the expiry workers; the memory goes with the last reference.
    func close() {
        for store in stores.withLock({ $0 }) { store.close() }
    }

    // MARK: Snapshots

    /// How far a snapshot write or load has come, or what it did.
    struct SnapshotCount: Sendable {
        /// Keys written, or loaded.
        var keys = 0
        /// Keys of the file whose deadline had passed: not loaded.
        var expired = 0
        /// File bytes written or read.
        var bytes = 0
        /// Keys the store held when the write began, or the file announced.
        var expected: Int?
        /// Values skipped on load, by Redis type ("list", "hash", ...).
        var skipped: [String: Int] = [:]

        init(_ summary: SnapshotSummary, expected: Int?) {
            keys = summary.entries
            expired = summary.expiredOnLoad
            bytes = summary.bytes
            skipped = summary.skipped
            self.expected = expected
        }
    }

    /// Writes every live key to an RDB file at `path`, crash-safely (see
    /// ``Store/writeSnapshot(to:progress:)``); an error thrown by
    /// `progress` stops it, the previous file untouched.
    @discardableResult
    func writeSnapshot(to path: String, progress: @escaping (SnapshotCount) throws -> Void) throws -> SnapshotCount {
        let summary = try withStore { store in
            try store.writeSnapshot(to: path) { try progress(SnapshotCount($0.summary, expected: $0.expectedEntries)) }
        }
        return SnapshotCount(summary, expected: nil)
    }

    /// Fills a new store from the RDB file at `path` (preallocated for its
    /// keys) and puts it in place of the current one, which must be the
    /// empty one of `awaitingSnapshot`. On error nothing has changed; an
    /// error thrown by `progress` stops the load.
    @discardableResult
    func loadSnapshot(from path: String, progress: @escaping (SnapshotCount) throws -> Void) throws -> SnapshotCount {
        var last: SnapshotCount?
        let loaded = try Store(snapshotAt: path, configuration: configuration) { report in
            last = SnapshotCount(report.summary, expected: report.expectedEntries)
            try progress(last!)
        }
        policy.withLock { loaded.evictionScope = $0.scope }
        stores.withLock { $0.append(loaded) }
        current.store(Unmanaged.passUnretained(loaded), ordering: .releasing)
        for listening in listeners.withLock({ $0 }) { listening.attach(to: loaded) }
        // A load ends with a report of the whole of it.
        return last!
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
        case .full, .outOfMemory, .exceedsMemoryBudget:
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
