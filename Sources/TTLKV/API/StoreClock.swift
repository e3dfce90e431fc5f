#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The clock a store measures deadlines on, in milliseconds.
///
/// ``system`` is `CLOCK_BOOTTIME`: it keeps counting while the machine is
/// suspended, so a key given 60 seconds is gone 60 seconds of real time later
/// even if the machine slept in between (`CLOCK_MONOTONIC` stops during
/// suspend and would keep it alive for the whole sleep; the wall clock jumps
/// with NTP). It is read through the kernel's cached coarse clock (a few
/// nanoseconds, no system call, 4 ms resolution) plus a suspend offset
/// re-read once a second. Tests use ``manual(_:)`` to move time by hand.
public struct StoreClock: Sendable {
    enum Source: Sendable {
        case system
        case custom(@Sendable () -> UInt64)
    }

    let source: Source

    /// Boot time in milliseconds, read cheaply. The default.
    public static let system = StoreClock(source: .system)

    /// A clock read from `milliseconds`, which must never decrease and must
    /// be safe to call from any thread.
    public static func custom(_ milliseconds: @escaping @Sendable () -> UInt64) -> StoreClock {
        StoreClock(source: .custom(milliseconds))
    }

    /// A clock that moves only when `clock` is advanced.
    public static func manual(_ clock: ManualClock) -> StoreClock {
        .custom { clock.milliseconds }
    }
}

/// A clock for tests: time stands still until ``advance(by:)`` moves it.
public final class ManualClock: Sendable {
    private let value: Atomic<UInt64>

    /// A clock reading `milliseconds`.
    public init(milliseconds: UInt64 = 1_000) {
        value = Atomic(milliseconds)
    }

    /// The current reading.
    public var milliseconds: UInt64 {
        value.load(ordering: .acquiring)
    }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        value.add(duration.roundedUpMilliseconds ?? 0, ordering: .releasing)
    }
}

/// ``StoreClock/system`` in Swift, for the native store (the C store has
/// the same clock in C): coarse monotonic time plus the suspend offset.
final class BootClock: Sendable {
    private let offset = Atomic<UInt64>(0)
    private let nextCheck = Atomic<UInt64>(0)

    private static func milliseconds(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }

    var milliseconds: UInt64 {
        let coarse = Self.milliseconds(CLOCK_MONOTONIC_COARSE)
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

extension StoreClock {
    /// A reader for this clock, for the Swift side of the stores.
    func makeReader() -> @Sendable () -> UInt64 {
        switch source {
        case .system:
            let clock = BootClock()
            return { clock.milliseconds }
        case .custom(let read):
            return read
        }
    }
}
