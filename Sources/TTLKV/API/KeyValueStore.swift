#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A concurrent key/value store with a time to live per key: the data
/// operations.
///
/// ``Store`` (the C core on Concurrency Kit) and ``NativeStore`` (Swift's
/// standard library alone) conform, and so can a third party's store: the
/// protocol asks for data operations only. What a store with its own expiry
/// worker adds (statistics, expiry events, closing) is ``ManagedStore``.
///
/// Every method may be called from any thread at any time. Keys and values
/// are any ``StoreBytes``; TTLs are `Duration`s and `nil` means the key
/// never expires. Bad input to a write throws ``StoreError`` and changes
/// nothing; a lookup of a key that cannot exist (longer than the maximum key
/// size) finds nothing.
///
/// ```swift
/// let store = try Store(capacity: 1_000)
/// try store.set("alice", forKey: "session:42", ttl: .seconds(30))
/// let user = try store.string(forKey: "session:42")   // "alice"
/// ```
public protocol KeyValueStore: AnyObject, Sendable {
    /// Stores `value` under `key`, replacing any previous value, expiring
    /// after `ttl` (`nil`: never; zero or negative: ``StoreError/invalidTTL``).
    func set(_ value: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws

    /// Stores `value` only if `key` has no live value; returns whether it did.
    @discardableResult
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

    /// Looks `keys` up together and calls `body`, in key order, with the
    /// offset in `keys` and the live value of each key that has one,
    /// without copying it; keys absent or expired are skipped. Each key is
    /// found or not exactly as ``withValue(forKey:_:)`` would find it, and a
    /// key may appear more than once.
    ///
    /// ``Store`` overlaps the memory accesses of the keys, which makes a
    /// batch several times faster per key than a loop of single reads in a
    /// large store; ``NativeStore`` takes each shard's lock once per 64
    /// keys. The rules of ``withValue(forKey:_:)`` apply to `body`: the
    /// buffer is valid only during the call, ``Store`` refuses writes from
    /// inside it, and it should be short (``Store`` runs it inside a read
    /// section of at most 64 keys). If `body` throws, it is not called
    /// again and the error is rethrown.
    func withValues<Keys: Collection>(
        forKeys keys: Keys,
        _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws where Keys.Element: StoreBytes

    /// Stores each item as ``set(_:forKey:ttl:)`` would, independently of
    /// the others (not atomically: see ``Store/setAll(_:onlyIfNoneExist:)``
    /// for an all-or-nothing write), in order: a key given twice ends with
    /// its last value.
    ///
    /// Items that are refused are reported together: the call throws a
    /// ``StoreBatchError`` listing each one with the ``StoreError`` its
    /// single write would have thrown, after writing all the others. (When
    /// the store fills up during the batch, which items find it full can
    /// differ from a loop of single writes: batches write shard by shard.)
    /// A ``StoreError`` thrown for the whole call (``StoreError/closed``,
    /// ``StoreError/writeDuringRead``) means nothing was written.
    func set<Key: StoreBytes, Value: StoreBytes>(
        _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>
    ) throws

    /// Removes each of `keys`; returns how many had a live value (a key
    /// given twice is removed once). A key longer than the maximum key size
    /// is not there, as for ``removeValue(forKey:)``. Keys whose removal
    /// fails (out of memory) are reported together in a ``StoreBatchError``
    /// after the others are removed; a ``StoreError`` means nothing was.
    @discardableResult
    func removeValues<Keys: Collection>(forKeys keys: Keys) throws -> Int where Keys.Element: StoreBytes

    /// Removes every key. Not atomic: keys written while it runs may stay.
    func removeAll() throws

    /// How long `key` has left; `nil` if absent or expired.
    func timeToLive(forKey key: some StoreBytes) throws -> TimeToLive?

    /// Makes `key` expire `ttl` from now without rewriting its value: the
    /// way to implement `touch` and sliding expiration. Returns false if the
    /// key is absent or expired. A zero or negative `ttl` removes the key at
    /// once (as Redis's EXPIRE does) and returns whether it was live; that
    /// is a removal, not an expiry: no ``ExpiryEvent`` reports it. Under a
    /// ``StoreConfiguration/maximumBytes`` budget the new deadline's record
    /// for the expiry worker needs room as a write's does: it may evict
    /// other keys, or throw ``StoreError/outOfMemory``, changing nothing.
    @discardableResult
    func expire(_ key: some StoreBytes, after ttl: Duration) throws -> Bool

    /// Makes `key` never expire; returns false if it is absent or expired.
    @discardableResult
    func persist(_ key: some StoreBytes) throws -> Bool

    /// Entries held, including expired ones not yet removed.
    var count: Int { get }

    /// One step of a traversal of the live keys, the primitive behind
    /// ``KeyValueStore/keys`` (and what a server needs for Redis's SCAN).
    ///
    /// Start with ``ScanCursor/start`` and pass each returned cursor to the
    /// next call; `nil` means the traversal is complete. Each call does
    /// about `count` units of work (table slots for ``Store``, whole shards
    /// for ``NativeStore``) and calls `body` with each live key it finds.
    /// The traversal is weakly consistent: it never blocks writers for long
    /// and never reports an expired key; a key live and unwritten
    /// throughout is reported at least once; keys may be reported twice
    /// (when a table grows meanwhile), and keys written meanwhile may or
    /// may not be. For ``Store`` `body` runs inside a read section: keep it
    /// short and do not write to the store there.
    func scanKeys(
        from cursor: ScanCursor, count: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws -> ScanCursor?
}

extension KeyValueStore {
    /// Stores `value` under `key` with no expiry.
    public func set(_ value: some StoreBytes, forKey key: some StoreBytes) throws {
        try set(value, forKey: key, ttl: nil)
    }

    /// Stores `value` with no expiry, only if `key` has no live value;
    /// returns whether it did.
    @discardableResult
    public func insertIfAbsent(_ value: some StoreBytes, forKey key: some StoreBytes) throws -> Bool {
        try insertIfAbsent(value, forKey: key, ttl: nil)
    }

    /// The live value of `key` as bytes; `nil` if absent or expired.
    public func value(forKey key: some StoreBytes) throws -> [UInt8]? {
        try withValue(forKey: key) { Array($0) }
    }

    /// The live value of `key` decoded as UTF-8; `nil` if absent or expired.
    public func string(forKey key: some StoreBytes) throws -> String? {
        try withValue(forKey: key) { String(decoding: $0, as: UTF8.self) }
    }

    /// The live value of `key` as `Data`; `nil` if absent or expired.
    public func data(forKey key: some StoreBytes) throws -> Data? {
        try withValue(forKey: key) { Data($0) }
    }

    /// The live value of `key` as bytes, like ``value(forKey:)``.
    ///
    /// There is no setter: a subscript cannot throw when it sets, and a
    /// write can fail (a full store, a value too large), so writes go
    /// through ``set(_:forKey:ttl:)``.
    public subscript(key: some StoreBytes) -> [UInt8]? {
        get throws { try value(forKey: key) }
    }

    /// The live keys, as a sequence that traverses the store while it is
    /// iterated, with the guarantees of ``scanKeys(from:count:_:)``: never
    /// an expired key, never blocking writers, weakly consistent. Iteration
    /// ends early if the store is closed meanwhile.
    public var keys: StoreKeys {
        StoreKeys(store: self)
    }
}
