/// A key that expired, or that the store evicted to stay within
/// ``StoreConfiguration/maximumBytes``, as told to expiry listeners and to
/// ``ManagedStore/expiryEvents``.
///
/// A store reports every key whose deadline passed exactly once, whoever
/// removed it: the expiry worker, or a write, removal or
/// ``KeyValueStore/removeAll()`` that found it already expired (those are
/// reported at the worker's next round: at most a second later, or one
/// tick if ``StoreConfiguration/tickResolution`` is longer). It reports
/// every key it evicts exactly once too, with ``cause`` ``Cause/evicted``.
public struct ExpiryEvent: Hashable, Sendable {
    /// The key's bytes.
    public var key: [UInt8]
    /// When the key expired, on the store's clock.
    public var deadline: StoreClock.Instant
    /// When the store removed it, on the store's clock: the worker's
    /// removal, or, for a key a write or removal found expired, the worker
    /// round that reported it.
    public var removedAt: StoreClock.Instant
    /// Why the key went: its deadline passed, or the budget evicted it.
    public var cause: Cause

    /// An event for `key`, for stores outside this module.
    public init(key: [UInt8], deadline: StoreClock.Instant, removedAt: StoreClock.Instant, cause: Cause = .expired) {
        self.key = key
        self.deadline = deadline
        self.removedAt = removedAt
        self.cause = cause
    }

    /// Why a key left the store. A struct with static members, so that a
    /// later version can add causes: end a switch over it with `default`.
    public struct Cause: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        /// Its deadline passed.
        public static let expired = Cause(name: "expired")
        /// The store evicted it to stay within its memory budget; its
        /// ``ExpiryEvent/deadline`` is the one it had (``StoreClock/Instant``
        /// far in the future for a key that never expired).
        public static let evicted = Cause(name: "evicted")

        public var description: String { name }
    }

    /// How long after its deadline the key was removed (for an evicted key,
    /// negative: it went before its deadline).
    public var lag: Duration {
        deadline.duration(to: removedAt)
    }
}
