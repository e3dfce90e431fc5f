import CTTLKV

/// Which live keys a ``Store`` with a memory budget
/// (``StoreConfiguration/maximumBytes``) may evict to make room: the
/// families of Redis's `maxmemory-policy`. Expired keys always make room.
public struct EvictionScope: Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt32
    /// Its name, for descriptions.
    public let description: String

    private init(_ rawValue: UInt32, _ name: String) {
        self.rawValue = rawValue
        description = name
    }

    /// Every key, by S3-FIFO (the default).
    public static let allKeys = EvictionScope(TTLKV_EVICT_ALL, "allKeys")
    /// Only keys with a time to live, by S3-FIFO; keys without one are kept.
    public static let keysWithTimeToLive = EvictionScope(TTLKV_EVICT_VOLATILE, "keysWithTimeToLive")
    /// Only keys with a time to live, the nearest deadline first, chosen
    /// from a small sample of the oldest keys, as Redis's `volatile-ttl`.
    public static let nearestDeadline = EvictionScope(TTLKV_EVICT_VOLATILE_TTL, "nearestDeadline")
    /// No live key: a write that does not fit throws ``StoreError/outOfMemory``.
    public static let none = EvictionScope(TTLKV_EVICT_NONE, "none")
}

extension Store {
    /// Which keys the memory budget may evict; takes effect for the writes
    /// that start after it is set. Without a budget it changes nothing.
    /// Under ``EvictionScope/allKeys`` a write that cannot fit only throws
    /// ``StoreError/exceedsMemoryBudget``; under the other scopes a write
    /// that finds nothing it may evict among the entries it examines (a
    /// bounded number) throws ``StoreError/outOfMemory`` and changes nothing.
    public var evictionScope: EvictionScope {
        get { core.evictionScope }
        set { core.evictionScope = newValue }
    }
}
