import CTTLKV

/// When a key expires, as ``Store/deadline(forKey:)`` reports it.
public enum StoreDeadline: Hashable, Sendable {
    /// The key never expires.
    case never
    /// The key expires at this instant of the store's clock.
    case at(StoreClock.Instant)
}

extension Store {
    /// The longest time to live a store accepts (100 years): a deadline
    /// further ahead than this from the store's clock is refused with
    /// ``StoreError/invalidTTL``.
    public static let longestTimeToLive = Duration.milliseconds(Int64(maximumTTLMilliseconds))

    /// The deadline of `key` as an instant of the store's clock, exactly as
    /// it was set (``timeToLive(forKey:)`` is what is left of it, which
    /// moves with the clock); nil if the key is absent or expired. For a
    /// server that converts deadlines to Unix time and back. A lock-free read.
    public func deadline(forKey key: some StoreBytes) throws -> StoreDeadline? {
        try _frontEnd.checkRunning()
        guard let milliseconds = try key.withStoreBytes({ try core.deadline($0) }) else { return nil }
        return milliseconds == TTLKV_NO_EXPIRY ? .never : .at(StoreClock.Instant(milliseconds: milliseconds))
    }

    /// The deadline `ttl` from now, as the store computes one for
    /// ``set(_:forKey:ttl:)``: from a precise reading of its clock, rounded
    /// up, so that a key given it never expires before `ttl` has passed.
    /// (``StoreUpdate/now`` is the cheap reading lookups use, which may lag
    /// by a tick: a deadline built on it may come early by as much.)
    public func deadline(after ttl: Duration) -> StoreClock.Instant {
        StoreClock.Instant(milliseconds: core.deadlineBase()).advanced(by: ttl)
    }

    /// Calls `body` with one live key picked with `generator` (Redis's
    /// RANDOMKEY) and returns its result; nil if the store holds no live
    /// key. Not uniform: a key that follows empty table slots comes up more
    /// often. `body` runs inside a read section: keep it short, and do not
    /// write to a store from it. A lock-free read.
    public func randomKey<Result>(
        using generator: inout some RandomNumberGenerator, _ body: (UnsafeRawBufferPointer) -> Result
    ) throws -> Result? {
        try _frontEnd.checkRunning()
        var result: Result?
        guard try core.randomKey(generator.next(), { result = body($0) }) else { return nil }
        return result
    }
}
