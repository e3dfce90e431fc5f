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
        try _frontEnd.checkRunning()
        return try core.putAll(pairs, onlyIfNoneExist: onlyIfNoneExist)
    }
}
