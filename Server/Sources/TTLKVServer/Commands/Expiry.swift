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

    /// The deadline on the store's clock; nil: no deadline. A Unix time at
    /// or before now, or a relative time of zero or less, is
    /// ``Keyspace/past``, which makes the store remove the key; one more
    /// than 100 years ahead is kept as 100 years ahead.
    func deadline(in keyspace: Keyspace) -> StoreClock.Instant? {
        switch self {
        case .unchanged, .keep, .persist: nil
        case .after(let milliseconds): keyspace.deadline(afterMilliseconds: milliseconds)
        case .at(let unix): keyspace.instant(unixMilliseconds: unix)
        }
    }
}
