import TTLKV

extension StoreUpdate {
    /// `deadline` as a write stores it. The server judges a deadline past
    /// once, when its command runs (``Keyspace/past``); any other deadline
    /// is kept at least a millisecond after ``now``, so that a write that
    /// waited in between (a preemption, a wait for the expiry worker's
    /// drain under a memory budget) still stores the key its command saw
    /// live, which then expires and is counted and reported as in Redis,
    /// instead of vanishing as a deletion.
    private func storable(_ deadline: StoreClock.Instant?) -> StoreClock.Instant? {
        guard let deadline, deadline != Keyspace.past else { return deadline }
        return max(deadline, now.advanced(by: .milliseconds(1)))
    }

    /// ``replaceValue(count:deadline:initializingWith:)`` with a deadline
    /// its command judged.
    mutating func replaceValue(
        count: Int, judgedDeadline deadline: StoreClock.Instant?,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) -> Void
    ) {
        let stored = storable(deadline)
        replaceValue(count: count, deadline: stored, initializingWith: initialize)
    }

    /// ``setDeadline(_:)`` with a deadline its command judged.
    mutating func setDeadline(judged deadline: StoreClock.Instant?) {
        let stored = storable(deadline)
        setDeadline(stored)
    }
}
