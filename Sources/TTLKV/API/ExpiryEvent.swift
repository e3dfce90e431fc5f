/// A key that expired, as told to expiry listeners and to
/// ``ManagedStore/expiryEvents``.
///
/// A store reports every key whose deadline passed exactly once, whoever
/// removed it: the expiry worker, or a write, removal or
/// ``KeyValueStore/removeAll()`` that found it already expired (those are
/// reported at the worker's next round: at most a second later, or one
/// tick if ``StoreConfiguration/tickResolution`` is longer).
public struct ExpiryEvent: Hashable, Sendable {
    /// The key's bytes.
    public var key: [UInt8]
    /// When the key expired, on the store's clock.
    public var deadline: StoreClock.Instant
    /// When the store removed it, on the store's clock: the worker's
    /// removal, or, for a key a write or removal found expired, the worker
    /// round that reported it.
    public var removedAt: StoreClock.Instant

    /// An event for `key`, for stores outside this module.
    public init(key: [UInt8], deadline: StoreClock.Instant, removedAt: StoreClock.Instant) {
        self.key = key
        self.deadline = deadline
        self.removedAt = removedAt
    }

    /// How long after its deadline the key was removed.
    public var lag: Duration {
        deadline.duration(to: removedAt)
    }
}
