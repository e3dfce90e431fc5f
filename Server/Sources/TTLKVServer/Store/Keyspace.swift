import TTLKV

/// The server's store and what every connection shares about it: the
/// watched keys (WATCH), and the one conversion between Unix time and the
/// store's clock. Commands reach the store through a ``KeyspaceAccess``
/// (``access``, or a transaction's); this file and KeyspaceAccess.swift are
/// the only ones that call the TTLKV Swift API, so that a change there
/// changes these two files and no other.
///
/// Time. Deadlines live on the store's clock (boot time in milliseconds).
/// Unix times (EXPIREAT, PXAT, EXPIRETIME, RESTORE ABSTTL) are converted with
/// one offset, read once when the server starts: a Unix time given by a
/// client comes back exactly, and the same key's EXPIRETIME never drifts.
/// A wall clock stepped later (by hand or by NTP) is not followed: keys
/// expire on the boot clock, and EXPIRETIME stays on the offset of the start.
final class Keyspace: Sendable {
    typealias Bytes = UnsafeRawBufferPointer

    let store: Store
    let watches = WatchRegistry()
    /// Unix milliseconds minus store-clock milliseconds, fixed at start.
    let unixOffset: Int64

    init(configuration: ServerConfiguration) throws {
        var store = StoreConfiguration(capacity: configuration.capacity)
        store.maximumKeySize = configuration.limits.maximumBulkLength
        store.maximumValueSize = configuration.limits.maximumBulkLength
        store.maximumEntries = configuration.maximumKeys
        self.store = try Store(configuration: store)
        unixOffset = WallClock.milliseconds() - Self.milliseconds(self.store.deadline(after: .zero))
    }

    /// The store outside any transaction.
    var access: KeyspaceAccess { KeyspaceAccess(keyspace: self, transaction: nil) }

    /// Keys held, counting expired ones not yet removed (as Redis's DBSIZE).
    var count: Int { store.count }

    // MARK: Time

    /// The deadline `milliseconds` from now (a relative TTL): from the
    /// store's precise clock, so never early.
    func deadline(afterMilliseconds milliseconds: Int64) -> StoreClock.Instant {
        clamped(store.deadline(after: .milliseconds(milliseconds)))
    }

    /// The store-clock instant of a Unix time in milliseconds. An instant
    /// already past removes the key it is given to.
    func instant(unixMilliseconds unix: Int64) -> StoreClock.Instant {
        let (milliseconds, overflow) = unix.subtractingReportingOverflow(unixOffset)
        // Only a time near Int64.min overflows: long past.
        return clamped(StoreClock.Instant(sinceOrigin: .milliseconds(overflow ? Int64.min / 2 : milliseconds)))
    }

    /// The Unix time in milliseconds of a store-clock instant.
    func unixMilliseconds(_ instant: StoreClock.Instant) -> Int64 {
        Self.milliseconds(instant) &+ unixOffset
    }

    /// A deadline as the store takes it. One already past in real time is
    /// made the clock's origin, long past: lookups read a clock that may lag
    /// by a tick, and would still show the key. One more than the store's
    /// longest TTL ahead (100 years), which Redis accepts and the store
    /// refuses, is kept as the longest: measured from that cheap reading,
    /// which the store's own check, made later under the lock, can only see
    /// later.
    private func clamped(_ deadline: StoreClock.Instant) -> StoreClock.Instant {
        if deadline <= store.deadline(after: .zero) { return StoreClock.Instant(sinceOrigin: .zero) }
        return min(deadline, store.now.advanced(by: Store.longestTimeToLive))
    }

    static func milliseconds(_ instant: StoreClock.Instant) -> Int64 {
        let (seconds, attoseconds) = instant.sinceOrigin.components
        return seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000
    }

    // MARK: Removals the store reports

    /// Why the store removed a key on its own.
    enum Removal: Sendable {
        /// Its deadline passed.
        case expired
        /// The memory budget needed its room.
        case evicted
    }

    /// Keeps a listener of ``onRemoval(_:)`` registered until cancelled.
    final class ExpiryListening: Sendable {
        private let token: ExpiryListenerToken

        init(_ token: ExpiryListenerToken) {
            self.token = token
        }

        func cancel() {
            token.cancel()
        }
    }

    /// Calls body, on the store's expiry worker, with every key the store
    /// removes on its own from now on, once each, within a tick of its
    /// deadline (see ``ManagedStore/addExpiryListener(_:)``); nil if the
    /// store is closed. The store reports no evictions yet: when its events
    /// say why a key went, `.evicted` is passed here for those.
    func onRemoval(_ body: @escaping @Sendable (UnsafeRawBufferPointer, Removal) -> Void) -> ExpiryListening? {
        let token = try? store.addExpiryListener { events in
            for event in events { event.key.withUnsafeBytes { body($0, .expired) } }
        }
        return token.map(ExpiryListening.init)
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
