#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// ``StoreClock/system`` in Swift, for the native store (the C store has the
/// same clock in C, clock.c): for expiry checks, the kernel's cached coarse
/// monotonic clock (no system call) plus the time spent suspended, re-read
/// once a second; for deadlines, the precise boot time rounded up; for the
/// expiry worker, rounded down.
///
/// The coarse reading lags by up to a tick, and after a resume from suspend
/// by the time slept until the offset is re-read (up to a second): it may
/// show a key late, never early. A deadline computed from it would be early
/// by as much (a 60 s key written just after a one-hour suspend would be gone
/// within a second), so deadlines come from `CLOCK_BOOTTIME` itself.
final class BootClock: Sendable {
    /// Reads a kernel clock in nanoseconds: `clock_gettime`, or a test's
    /// simulated machine.
    typealias Source = @Sendable (clockid_t) -> UInt64

    private let read: Source
    private let offset = Atomic<UInt64>(0)
    private let nextCheck = Atomic<UInt64>(0)

    init(read: @escaping Source = BootClock.systemNanoseconds) {
        self.read = read
    }

    static func systemNanoseconds(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The expiry clock: never ahead of boot time.
    var milliseconds: UInt64 {
        let coarse = read(CLOCK_MONOTONIC_COARSE) / 1_000_000
        if coarse >= nextCheck.load(ordering: .relaxed) {
            // Boot time first: a preemption between the two reads then makes
            // the offset too small (the clock lags), never too large (it
            // would run ahead for good, since the offset only grows). In
            // nanoseconds, so that truncation cannot round it up either.
            let boot = read(CLOCK_BOOTTIME)
            let monotonic = read(CLOCK_MONOTONIC)
            offset.max(boot > monotonic ? (boot - monotonic) / 1_000_000 : 0, ordering: .relaxed)
            nextCheck.store(coarse + 1000, ordering: .relaxed)
        }
        return coarse + offset.load(ordering: .relaxed)
    }

    /// The deadline base: the precise boot time, rounded up to the next
    /// millisecond (so never behind ``milliseconds``).
    var millisecondsRoundedUp: UInt64 {
        (read(CLOCK_BOOTTIME) + 999_999) / 1_000_000
    }

    /// The expiry worker's time: the precise boot time, rounded down (never
    /// ahead of real time, never behind ``milliseconds``).
    var preciseMilliseconds: UInt64 {
        read(CLOCK_BOOTTIME) / 1_000_000
    }
}
