import Synchronization

/// The clock a store measures deadlines on.
///
/// ``system`` is the machine's boot-time clock (Linux `CLOCK_BOOTTIME`): it
/// keeps counting while the machine is suspended, so a key given 60 seconds
/// is gone 60 seconds of real time later even if the machine slept in
/// between (a monotonic clock that stops during suspend would keep it alive
/// for the whole sleep; the wall clock jumps with NTP). Tests use
/// ``manual(_:)`` to move time by hand. Stores keep time in whole
/// milliseconds: instants they report are on that grid.
public struct StoreClock: Sendable {
    enum Source: Sendable {
        case system
        case manual(ManualClock)
        case custom(@Sendable () -> Instant)
    }

    let source: Source

    /// The boot-time clock, read cheaply. The default.
    public static let system = StoreClock(source: .system)

    /// A clock that moves only when `clock` is advanced.
    public static func manual(_ clock: ManualClock) -> StoreClock {
        StoreClock(source: .manual(clock))
    }

    /// A clock read from `now`, which must never go back and must be safe to
    /// call from any thread, often (every read of a key with a deadline
    /// calls it), and from inside a store's read section: it must not block
    /// or call into the store.
    public static func custom(_ now: @escaping @Sendable () -> Instant) -> StoreClock {
        StoreClock(source: .custom(now))
    }
}

extension StoreClock {
    /// A point in time on a store's clock: how long after the clock's origin
    /// (for ``StoreClock/system``, the machine's boot).
    public struct Instant: InstantProtocol, Sendable {
        /// The time since the clock's origin.
        public var sinceOrigin: Duration

        /// The instant `sinceOrigin` after the clock's origin.
        public init(sinceOrigin: Duration) {
            self.sinceOrigin = sinceOrigin
        }

        public func advanced(by duration: Duration) -> Instant {
            Instant(sinceOrigin: sinceOrigin + duration)
        }

        public func duration(to other: Instant) -> Duration {
            other.sinceOrigin - sinceOrigin
        }

        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.sinceOrigin < rhs.sinceOrigin
        }
    }
}

extension StoreClock.Instant {
    /// The instant at `milliseconds` on the stores' millisecond grid.
    init(milliseconds: UInt64) {
        sinceOrigin = .milliseconds(Int64(clamping: milliseconds))
    }

    /// Whole milliseconds since the origin, rounded down; 0 before it.
    var milliseconds: UInt64 {
        let (seconds, attoseconds) = sinceOrigin.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1000 &+ UInt64(attoseconds / 1_000_000_000_000_000)
    }

    /// This instant as a deadline in the stores' milliseconds: rounded up,
    /// so that a key never expires before it; saturated below "no expiry"
    /// when it lies beyond 64 bits of milliseconds (the store refuses such
    /// a deadline as more than 100 years ahead).
    var deadlineMilliseconds: UInt64 {
        let (seconds, attoseconds) = sinceOrigin.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        let fraction = UInt64((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(fraction)
        return overflow || carry || total == .max ? .max - 1 : total
    }
}

/// A clock for tests: time stands still until ``advance(by:)`` moves it.
public final class ManualClock: Sendable {
    private let value: Atomic<UInt64>

    /// A clock reading `now`; by default one second after its origin.
    public init(now: StoreClock.Instant = StoreClock.Instant(sinceOrigin: .seconds(1))) {
        value = Atomic(now.milliseconds)
    }

    /// The current reading.
    public var now: StoreClock.Instant {
        StoreClock.Instant(milliseconds: milliseconds)
    }

    /// Moves the clock forward by `duration`, rounded up to whole
    /// milliseconds; a negative duration does nothing (time never goes back).
    public func advance(by duration: Duration) {
        value.add(duration.roundedUpMilliseconds ?? 0, ordering: .releasing)
    }

    var milliseconds: UInt64 {
        value.load(ordering: .acquiring)
    }
}

extension StoreClock {
    /// Readers of this clock in milliseconds, for the Swift side of the
    /// stores (the C store reads ``system`` in C): `now` for expiry checks,
    /// `deadlineBase` for computing deadlines, `precise` for the expiry
    /// worker. For ``system`` the first is the cheap coarse reading, which
    /// lags real time by up to a kernel tick, the second the precise one
    /// rounded up, so that a deadline is never early, and the third the
    /// precise one rounded down, so that the worker removes a key as soon as
    /// it is due, never before; other clocks serve all three.
    func makeReaders() -> (now: @Sendable () -> UInt64, deadlineBase: @Sendable () -> UInt64,
                           precise: @Sendable () -> UInt64) {
        switch source {
        case .system:
            let clock = BootClock()
            return ({ clock.milliseconds }, { clock.millisecondsRoundedUp }, { clock.preciseMilliseconds })
        case .manual(let clock):
            return ({ clock.milliseconds }, { clock.milliseconds }, { clock.milliseconds })
        case .custom(let now):
            return ({ now().milliseconds }, { now().milliseconds }, { now().milliseconds })
        }
    }
}
