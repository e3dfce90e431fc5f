import TTLKV

/// Redis's `maxmemory-policy`, by its names, and the store's eviction scope
/// each one maps to. Redis approximates LRU and LFU by sampling; the store
/// runs S3-FIFO for all six LRU, LFU and random policies (a scan-resistant
/// policy that keeps what is read, which is what they aim at), restricted
/// to keys with a TTL for the volatile ones.
enum MaxMemoryPolicy: String, CaseIterable, Sendable {
    case noeviction
    case allkeysLRU = "allkeys-lru"
    case allkeysLFU = "allkeys-lfu"
    case allkeysRandom = "allkeys-random"
    case volatileLRU = "volatile-lru"
    case volatileLFU = "volatile-lfu"
    case volatileRandom = "volatile-random"
    case volatileTTL = "volatile-ttl"

    /// The policy called `name`, in any case, as Redis accepts it.
    init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    /// Which keys the store may evict under it.
    var scope: EvictionScope {
        switch self {
        case .noeviction: .none
        case .allkeysLRU, .allkeysLFU, .allkeysRandom: .allKeys
        case .volatileLRU, .volatileLFU, .volatileRandom: .keysWithTimeToLive
        case .volatileTTL: .nearestDeadline
        }
    }

    /// Redis's refusal of an unknown name.
    static let invalid = ConfigError("argument(s) must be one of the following: "
        + allCases.map(\.rawValue).joined(separator: ", "))
}
