import TTLKV

/// When a write makes its key expire, as SET and GETEX options say it.
enum Expiry {
    /// No option: SET makes the key persistent, GETEX leaves it alone.
    case unchanged
    /// KEEPTTL (SET): keep the key's deadline.
    case keep
    /// PERSIST (GETEX): remove the deadline.
    case persist
    /// EX, PX: this many milliseconds from now.
    case after(milliseconds: Int64)
    /// EXAT, PXAT: at this Unix time in milliseconds.
    case at(unixMilliseconds: Int64)

    /// Whether a relative expiry overflows once added to the Unix time
    /// `unixNow`, which Redis's SET checks before it looks at the key.
    func overflows(unixNow: Int64) -> Bool {
        guard case .after(let milliseconds) = self else { return false }
        return unixNow.addingReportingOverflow(milliseconds).overflow
    }

    /// The deadline on the store's clock, given that clock's `now` and the
    /// Unix time the command started at; nil: no deadline. A deadline at or
    /// before `now` makes the store remove the key.
    func deadline(now: StoreClock.Instant, unixNow: Int64) -> StoreClock.Instant? {
        switch self {
        case .unchanged, .keep, .persist: nil
        case .after(let milliseconds): now.advanced(by: .milliseconds(milliseconds))
        case .at(let unix): storeDeadline(unixMilliseconds: unix, now: now, unixNow: unixNow)
        }
    }
}

/// The store-clock deadline of a Unix time: the same distance from `now`
/// as `unix` is from `unixNow` (an instant before the clock's origin is
/// long past; one far ahead the store refuses as more than 100 years).
func storeDeadline(unixMilliseconds unix: Int64, now: StoreClock.Instant, unixNow: Int64) -> StoreClock.Instant {
    let (ahead, overflow) = unix.subtractingReportingOverflow(unixNow)
    // Past 2^63 ms either way: further than any clock reading can be.
    if overflow { return now.advanced(by: .seconds(ahead < 0 ? Int64.max / 2 : -Int64.max / 2)) }
    return now.advanced(by: .milliseconds(ahead))
}
