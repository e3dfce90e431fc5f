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
        let items = pairs.map { ttlkv_item(key: $0.key.baseAddress, key_len: $0.key.count, value: $0.value.baseAddress, value_len: $0.value.count) }
        let status = items.withUnsafeBufferPointer {
            ttlkv_put_many(core.pointer, $0.baseAddress, $0.count, onlyIfNoneExist ? UInt32(TTLKV_PUT_IF_NONE_EXIST) : 0)
        }
        if status == TTLKV_EXISTS { return false }
        try check(status)
        return true
    }

    /// Visits up to `count` live keys from `cursor` (0 starts a pass) and
    /// returns the cursor to pass next, 0 once the pass is over: a cursor
    /// over live keys in the manner of Redis `SCAN`, needing no memory
    /// between calls.
    ///
    /// A key present and untouched for the whole pass is visited exactly
    /// once; a key written during the pass may be visited twice or missed,
    /// as may every key of a shard whose table grows meanwhile. `body` runs
    /// inside a read section: keep it short and do not write to the store
    /// from it (see ``withValue(forKey:_:)``). The key buffer is valid only
    /// during the call.
    public func scanKeys(from cursor: UInt64, count: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws -> UInt64 {
        try worker.checkRunning()
        precondition(count > 0, "a scan must ask for at least one key")
        var next: UInt64 = 0
        let status = withoutActuallyEscaping(body) { body in
            var visit = body
            return withUnsafeMutablePointer(to: &visit) { visit in
                // ttlkv_scan calls back only before it returns, while `visit` is alive.
                ttlkv_scan(core.pointer, cursor, count, { key, length, context in
                    let visit = context!.assumingMemoryBound(to: ((UnsafeRawBufferPointer) -> Void).self)
                    visit.pointee(UnsafeRawBufferPointer(start: key, count: length))
                }, visit, &next)
            }
        }
        try check(status)
        return next
    }
}
