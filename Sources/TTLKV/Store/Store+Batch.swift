import CTTLKV

extension Store {
    /// Stores every pair as one write, all or nothing, with no expiry (Redis
    /// `MSET`; with `onlyIfNoneExist`, `MSETNX`). No other write runs between
    /// the first pair and the last; a key given twice takes its last value.
    /// Returns false, storing nothing, if `onlyIfNoneExist` and any key has a
    /// live value.
    ///
    /// The buffers must stay valid for the call. Readers are not blocked:
    /// one that reads several of the keys while the write runs may see some
    /// new values before the others.
    ///
    /// Throws ``StoreError`` (the store unchanged) if any key or value is too
    /// large, the store is full, or memory runs out.
    @discardableResult
    public func setAll(
        _ pairs: some Collection<(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)>,
        onlyIfNoneExist: Bool = false
    ) throws -> Bool {
        try worker.checkRunning()
        // The caller keeps every buffer valid for the call (see above).
        let items = pairs.map { ttlkv_item(key: $0.key.baseAddress, key_len: $0.key.count, value: $0.value.baseAddress, value_len: $0.value.count, ttl_ms: 0) }
        let status = items.withUnsafeBufferPointer {
            ttlkv_put_all(core.pointer, $0.baseAddress, $0.count, onlyIfNoneExist ? UInt32(TTLKV_PUT_IF_NONE_EXIST) : 0)
        }
        if status == TTLKV_EXISTS { return false }
        try check(status)
        return true
    }
}

extension Store {
    /// Looks the keys up in read sections of up to 64 keys, each key's
    /// memory accesses overlapped with the others' (`ttlkv_read_many`).
    @inlinable
    public func withValues<Keys: Collection>(
        forKeys keys: Keys,
        _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws where Keys.Element: StoreBytes {
        try batchRead(keys, core: core, worker: worker, reads: reads, body)
    }

    /// Writes 64 items at a time: their entries made and their keys looked
    /// up together, then each shard's items under one hold of its lock
    /// (`ttlkv_put_many`).
    @inlinable
    public func set<Key: StoreBytes, Value: StoreBytes>(
        _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>
    ) throws {
        try batchPut(items, core: core, worker: worker)
    }

    /// Removes 64 keys at a time, looked up together, each shard's under one
    /// hold of its lock (`ttlkv_delete_many`).
    @inlinable @discardableResult
    public func removeValues<Keys: Collection>(forKeys keys: Keys) throws -> Int where Keys.Element: StoreBytes {
        try batchRemove(keys, core: core, worker: worker)
    }
}
