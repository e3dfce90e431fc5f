/// What the expiry worker needs from a store: its clock, the expiry records
/// its writes handed over, the expired keys its writes removed, and the
/// remove-if-due primitive. ``Store`` and ``NativeStore`` each provide one,
/// so both share one wheel and one worker.
protocol ExpiryBackend: AnyObject, Sendable {
    /// The store's clock, in milliseconds.
    func now() -> UInt64

    /// Moves every expiry record written since the last call into `wheel`.
    func drainIntake(into wheel: inout TimingWheel)

    /// Records handed over by writes and not yet drained.
    var intakeCount: Int { get }

    /// Calls `body` with the key and deadline of every expired entry that a
    /// write, removal or clear removed (rather than ``expire(_:scheduled:outcomes:)``)
    /// since the last call, so that the worker can report it.
    func drainExpired(_ body: (UnsafeRawBufferPointer, UInt64) -> Void)

    /// Removes every entry, for ``ManagedStore/close()``.
    func removeAll() throws

    /// For each i, removes `keys[i]` if its deadline has passed, and sets
    /// `outcomes[i]`. `scheduled[i]` is the deadline of the record being
    /// fired, so the store can tell stale records. The keys (at most 64) are
    /// looked up together, and each shard's under one hold of its lock.
    func expire(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, scheduled: UnsafeBufferPointer<UInt64>,
                outcomes: UnsafeMutableBufferPointer<ExpiryOutcome>)

    /// Frees memory the store holds back for readers, without waiting for
    /// them; the worker calls it about once a second.
    func reclaimMemory()

    /// A slice of table upkeep (rebuilding tables that removals filled with
    /// tombstones); the worker calls it every tick.
    func maintainTable()
}

/// What became of a fired expiry record.
enum ExpiryOutcome {
    /// The key was due and is gone; its deadline was this.
    case removed(deadline: UInt64)
    /// The key lives on until this deadline: schedule the record again.
    case notDue(UInt64)
    /// Nothing to do: the key is gone, no longer expires, or another
    /// record covers it.
    case drop
    /// The store could not look (out of memory): try again next tick.
    case retry
}
