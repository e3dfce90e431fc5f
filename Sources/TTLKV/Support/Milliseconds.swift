import CTTLKV

/// The stores keep time in whole milliseconds, as the C core does.

extension Duration {
    /// Whole milliseconds, rounded up so that a positive duration is never 0;
    /// `nil` if negative or too large for 64 bits.
    var roundedUpMilliseconds: UInt64? {
        guard self >= .zero else { return nil }
        let (seconds, attoseconds) = components
        let fraction = UInt64((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        return overflow ? nil : whole + fraction
    }
}

/// The milliseconds a store is given for `ttl`: 0 for `nil` (no expiry),
/// rounded up so that a positive TTL never means "no expiry".
@usableFromInline
func ttlMilliseconds(_ ttl: Duration?) throws -> UInt64 {
    guard let ttl else { return 0 }
    guard ttl > .zero, let ms = ttl.roundedUpMilliseconds, ms <= maximumTTLMilliseconds else {
        throw StoreError.invalidTTL
    }
    return ms
}

/// 100 years, the longest TTL either store accepts: the C core's limit.
let maximumTTLMilliseconds = TTLKV_MAX_TTL_MS
