/// A concurrent key/value store with a time to live per key.
///
/// ``Store`` (the C core on Concurrency Kit) and ``NativeStore`` (Swift's
/// standard library alone) both conform, so code and benchmarks can be
/// written once against either. Every method may be called from any thread
/// at any time. Keys and values are any ``StoreBytes``; TTLs are `Duration`s
/// and `nil` means the key never expires. Bad input throws ``StoreError``
/// and changes nothing.
///
/// ```swift
/// let store = try Store(capacity: 1_000)
/// try store.set("alice", forKey: "session:42", ttl: .seconds(30))
/// let user = try store.string(forKey: "session:42")   // "alice"
/// ```
public protocol KeyValueStore: AnyObject, Sendable {
    /// Stores `value` under `key`, replacing any previous value, expiring
    /// after `ttl` (`nil`: never).
    func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws

    /// Stores `value` only if `key` has no live value; returns whether it did.
    func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> Bool

    /// Calls `body` with the live value of `key`, without copying it, and
    /// returns its result; `nil` if the key is absent or expired. The buffer
    /// is valid only inside `body`, which should be short: ``Store`` holds
    /// back memory reclamation while it runs, and refuses writes from inside
    /// it with ``StoreError/writeDuringRead`` (``NativeStore`` allows them).
    func withValue<Result>(
        forKey key: some StoreBytes,
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result?

    /// Removes `key`; returns whether it had a live value.
    @discardableResult
    func removeValue(forKey key: some StoreBytes) throws -> Bool

    /// How long `key` has left; `nil` if absent or expired.
    func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive?

    /// Makes `key` expire `ttl` from now without rewriting its value: the
    /// way to implement `touch` and sliding expiration. Returns false if
    /// the key is absent or expired.
    @discardableResult
    func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool

    /// Makes `key` never expire; returns false if it is absent or expired.
    @discardableResult
    func persist(_ key: some StoreBytes) throws -> Bool

    /// Entries held, including expired ones not yet removed.
    var count: Int { get }

    /// A snapshot of the store's counters.
    var statistics: StoreStatistics { get }

    /// Registers `listener` to be told, on the expiry worker's thread and in
    /// batches, of every key the worker removes. Keep it short: the worker
    /// waits for it.
    func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void)

    /// Stops the expiry worker; later calls throw ``StoreError/closed``.
    /// Memory is released when the last reference goes away.
    func close()
}

extension KeyValueStore {
    /// Stores `value` under `key` with no expiry.
    public func set(_ value: some StoreBytes, forKey key: some StoreBytes) throws {
        try set(value, forKey: key, ttl: nil)
    }

    /// The live value of `key` as bytes; `nil` if absent or expired.
    public func value(forKey key: some StoreBytes) throws -> [UInt8]? {
        try withValue(forKey: key) { Array($0) }
    }

    /// The live value of `key` decoded as UTF-8; `nil` if absent or expired.
    public func string(forKey key: some StoreBytes) throws -> String? {
        try withValue(forKey: key) { String(decoding: $0, as: UTF8.self) }
    }
}

/// The milliseconds a store is given for `ttl`: 0 for `nil` (no expiry),
/// rounded up so that a positive TTL never means "no expiry".
@usableFromInline
func ttlMilliseconds(_ ttl: Duration?) throws -> UInt64 {
    guard let ttl else { return 0 }
    guard ttl > .zero, let ms = ttl.roundedUpMilliseconds, ms <= maximumTTLMilliseconds else {
        throw StoreError.invalidTTL
    }
    return ms
}

/// 100 years, the longest TTL either store accepts (as ttlkv.h).
let maximumTTLMilliseconds: UInt64 = 3_155_760_000_000
