#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// ``StoreClock/system`` in Swift, for the native store (the C store has the
/// same clock in C): the kernel's cached coarse monotonic clock (no system
/// call) plus the time spent suspended, re-read once a second. Deadlines are
/// computed from the precise clock rounded up instead (see clock.c): the
/// coarse one lags by up to a tick, and a deadline computed from it would
/// expire a key up to a tick early.
final class BootClock: Sendable {
    private let offset = Atomic<UInt64>(0)
    private let nextCheck = Atomic<UInt64>(0)

    private static func milliseconds(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    var milliseconds: UInt64 {
        suspendAdjusted(Self.milliseconds(CLOCK_MONOTONIC_COARSE))
    }

    /// The precise reading, rounded up to the next millisecond.
    var millisecondsRoundedUp: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return suspendAdjusted(UInt64(ts.tv_sec) * 1000 + (UInt64(ts.tv_nsec) + 999_999) / 1_000_000)
    }

    private func suspendAdjusted(_ coarse: UInt64) -> UInt64 {
        if coarse >= nextCheck.load(ordering: .relaxed) {
            let monotonic = Self.milliseconds(CLOCK_MONOTONIC)
            let boot = Self.milliseconds(CLOCK_BOOTTIME)
            // The offset only grows (suspend time accumulates): max keeps
            // the clock from stepping back on measurement jitter.
            offset.max(boot &- monotonic, ordering: .relaxed)
            nextCheck.store(coarse + 1000, ordering: .relaxed)
        }
        return coarse + offset.load(ordering: .relaxed)
    }
}
