import CTTLKV

/// The keys a ``Store/withLockedKeys(_:_:)`` body may write, and the writes
/// it may make: valid only inside the body, on its thread.
///
/// Writes go through the transaction, never through the store itself (a
/// write to a shard the body holds would wait for the body). Reads go
/// through the store as usual and see the writes made so far.
public struct StoreTransaction {
    // Valid only during the body: ttlkv_lock_keys refuses the handle after.
    @usableFromInline let held: OpaquePointer
    @usableFromInline let store: Store

    init(held: OpaquePointer, store: Store) {
        self.held = held
        self.store = store
    }

    /// ``Store/update(forKey:sizeHint:_:)`` of a key whose shard this
    /// transaction holds. The new value's room is allocated under the locks;
    /// if `body` asks for more than `sizeHint`, it runs again at once, on the
    /// same value. Throws ``StoreError`` as ``Store/update(forKey:sizeHint:_:)``
    /// does, and for a key the transaction did not lock.
    public func update<Result>(
        forKey key: some StoreBytes, sizeHint: Int = 0, _ body: (inout StoreUpdate) throws -> Result
    ) throws -> Result {
        try key.withStoreBytes { key in
            try store.runUpdate(body) { step in store.core.lockedUpdate(held, key, sizeHint: max(0, sizeHint), step) }
        }
    }

    /// The live value and deadline of a key whose shard this transaction
    /// holds, in place: valid until the transaction writes the key or ends
    /// (while the shard is locked, no other write can replace the value or
    /// free it), so that a value can be copied straight into another key's
    /// new one (Redis's RENAME, COPY, BITOP). Nil if the key is absent.
    public func value(forKey key: some StoreBytes) throws -> (bytes: UnsafeRawBufferPointer, deadline: StoreClock.Instant?)? {
        try update(forKey: key) { key in key.value.map { ($0, key.deadline) } }
    }

    /// ``Store/setAll(_:onlyIfNoneExist:)`` of keys this transaction holds:
    /// all pairs or none.
    @discardableResult
    public func setAll(
        _ pairs: some Collection<(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)>,
        onlyIfNoneExist: Bool = false
    ) throws -> Bool {
        try store.core.lockedPutAll(held, pairs, onlyIfNoneExist: onlyIfNoneExist)
    }
}

extension Store {
    /// Runs `body` holding the writer locks of every shard `keys` hash to,
    /// so that no other write to those keys runs while it reads and writes
    /// them (Redis's RENAME, COPY, MULTI / EXEC): writes through the
    /// ``StoreTransaction`` it is given, reads through the store.
    ///
    /// Writers of the locked shards wait for `body`, so keep it short and do
    /// not block in it; readers never wait, and a reader may see some of its
    /// writes before the others. A write that fails throws, and the writes
    /// before it stay: there is no rollback. Locks are taken in shard
    /// order, so transactions over overlapping keys, and ``setAll(_:onlyIfNoneExist:)``,
    /// cannot deadlock; a transaction inside another one's body throws.
    public func withLockedKeys<Result>(
        _ keys: some Collection<UnsafeRawBufferPointer>, _ body: (StoreTransaction) throws -> Result
    ) throws -> Result {
        let keys = Array(keys)
        return try keys.withUnsafeBufferPointer { keys in try withLocks(keys, body) }
    }

    /// ``withLockedKeys(_:_:)`` holding every shard's lock: every key may be
    /// written, and no other write runs at all while `body` does.
    public func withAllKeysLocked<Result>(_ body: (StoreTransaction) throws -> Result) throws -> Result {
        try withLocks(nil, body)
    }

    private func withLocks<Result>(
        _ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>?, _ body: (StoreTransaction) throws -> Result
    ) throws -> Result {
        try _frontEnd.checkRunning()
        var result: Result?
        var failure: (any Error)?
        let status = core.lockKeys(keys) { held in
            do {
                result = try body(StoreTransaction(held: held, store: self))
            } catch {
                failure = error
            }
            return TTLKV_OK
        }
        if let failure { throw failure }
        try check(status)
        return result!
    }
}
