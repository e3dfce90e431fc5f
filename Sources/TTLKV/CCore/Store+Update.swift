import CTTLKV

/// One key as ``Store/update(forKey:sizeHint:_:)`` shows it to its closure,
/// and the decision the closure takes about it.
///
/// The closure runs under the key's shard lock: it reads ``value`` and
/// ``deadline``, then calls at most one of ``remove()``,
/// ``setDeadline(_:)`` or one of the `replaceValue` methods (calling none
/// keeps the key as it is). Deadlines are instants on the store's clock
/// (``StoreClock``), as ``now`` is; `nil` means the key never expires.
public struct StoreUpdate: ~Copyable {
    // Valid only during the closure: ttlkv_update owns the state it points to.
    @usableFromInline let state: UnsafeMutablePointer<ttlkv_update_state>
    @usableFromInline var action = TTLKV_UPDATE_KEEP

    @usableFromInline
    init(state: UnsafeMutablePointer<ttlkv_update_state>) {
        self.state = state
    }

    /// The live value; `nil` if the key is absent or expired. Valid only
    /// inside the closure.
    public var value: UnsafeRawBufferPointer? {
        guard state.pointee.found != 0 else { return nil }
        return UnsafeRawBufferPointer(start: state.pointee.value, count: state.pointee.value_len)
    }

    /// The key's deadline; `nil` if it never expires or is absent.
    public var deadline: StoreClock.Instant? {
        guard state.pointee.found != 0 && state.pointee.deadline_ms != TTLKV_NO_EXPIRY else { return nil }
        return StoreClock.Instant(milliseconds: state.pointee.deadline_ms)
    }

    /// The store's clock, read under the lock.
    public var now: StoreClock.Instant { StoreClock.Instant(milliseconds: state.pointee.now_ms) }

    /// Removes the key (nothing happens if it is absent).
    public mutating func remove() {
        action = TTLKV_UPDATE_DELETE
    }

    /// Gives the live key a new deadline (`nil`: never expires), keeping its
    /// value; a deadline at or before ``now`` removes it. The key must exist.
    public mutating func setDeadline(_ deadline: StoreClock.Instant?) {
        state.pointee.new_deadline_ms = deadline?.deadlineMilliseconds ?? TTLKV_NO_EXPIRY
        action = TTLKV_UPDATE_SET_DEADLINE
    }

    /// Replaces the value with `count` bytes that `initialize` writes, and
    /// the deadline with `deadline` (`nil`: never expires). `initialize` is
    /// not called when the store must first allocate more room; the closure
    /// of the update then runs again.
    public mutating func replaceValue(
        count: Int, deadline: StoreClock.Instant?, initializingWith initialize: (UnsafeMutableRawBufferPointer) -> Void
    ) {
        state.pointee.new_deadline_ms = deadline?.deadlineMilliseconds ?? TTLKV_NO_EXPIRY
        replaceValue(count: count, initializingWith: initialize)
    }

    /// Replaces the value with `count` bytes that `initialize` writes,
    /// keeping the key's deadline (none for a new key).
    public mutating func replaceValue(count: Int, initializingWith initialize: (UnsafeMutableRawBufferPointer) -> Void) {
        precondition(count >= 0, "a value cannot have a negative size")
        state.pointee.new_len = count
        action = TTLKV_UPDATE_REPLACE
        if count <= state.pointee.buffer_len {
            initialize(UnsafeMutableRawBufferPointer(start: state.pointee.buffer, count: count))
        }
    }
}

extension Store {
    /// Reads and changes `key` in one atomic step: no other write to the
    /// key happens between the closure's look at the value and the change
    /// it decides, so counters, appends and conditional writes lose nothing
    /// under concurrent writers.
    ///
    /// `body` runs under the key's shard lock: keep it short, and do not call
    /// into any store from it. It may run more than once, when its new value
    /// is larger than the room prepared for it (pass the expected size as
    /// `sizeHint` to avoid that); only its last run counts, and its result is
    /// that run's.
    ///
    /// ```swift
    /// let visits = try store.update(forKey: "visits", sizeHint: 20) { key -> Int in
    ///     let count = key.value.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
    ///     let digits = Array(String(count + 1).utf8)
    ///     key.replaceValue(count: digits.count) { $0.copyBytes(from: digits) }
    ///     return count + 1
    /// }
    /// ```
    ///
    /// Throws ``StoreError`` (the store unchanged) for a key or value too
    /// large, a deadline more than 100 years ahead, a full store, or memory
    /// exhaustion; rethrows what `body` throws (the store unchanged). Under
    /// a byte budget, an update refused because records of evictions fill
    /// the room kept for them waits (at most 100 ms) for the expiry worker
    /// to drain them, then runs once more, `body` included.
    public func update<Result>(
        forKey key: some StoreBytes, sizeHint: Int = 0, _ body: (inout StoreUpdate) throws -> Result
    ) throws -> Result {
        try _frontEnd.checkRunning()
        // A second run sees the value as it is by then, `body` included.
        return try _frontEnd.writeWaitingForDrain {
            try key.withStoreBytes { key in
                try runUpdate(body) { step in core.update(key, sizeHint: max(0, sizeHint), step) }
            }
        }
    }

    /// Runs `body` as the closure of the update that `perform` makes with
    /// the step it is given (ttlkv_update, or ttlkv_locked_update inside a
    /// transaction): rethrows what `body` throws, throws the store's error,
    /// tells the worker of a new deadline, and returns `body`'s last result.
    func runUpdate<Result>(
        _ body: (inout StoreUpdate) throws -> Result, _ perform: (CCore.UpdateStep) -> ttlkv_status
    ) throws -> Result {
        // `perform` calls the step only before it returns: `body` does not escape.
        try withoutActuallyEscaping(body) { body in
            var result: Result?
            var failure: (any Error)?
            var newTimeToLive: UInt64?
            let status = perform { state in
                var update = StoreUpdate(state: state)
                do {
                    result = try body(&update)
                    failure = nil
                } catch {
                    failure = error
                    return TTLKV_UPDATE_KEEP
                }
                newTimeToLive = update.timeToLiveSet
                return update.action
            }
            if let failure { throw failure }
            try check(status)
            if let newTimeToLive { _frontEnd.noteDeadline(afterMilliseconds: newTimeToLive) }
            return result!
        }
    }
}


extension StoreUpdate {
    /// Milliseconds to the deadline this decision sets, if it sets one
    /// ahead: the expiry worker is told so that it does not oversleep it.
    fileprivate var timeToLiveSet: UInt64? {
        guard action == TTLKV_UPDATE_REPLACE || action == TTLKV_UPDATE_SET_DEADLINE else { return nil }
        let deadline = state.pointee.new_deadline_ms, now = state.pointee.now_ms
        return deadline != TTLKV_NO_EXPIRY && deadline > now ? deadline - now : nil
    }
}
