#if canImport(Glibc)
import Glibc
#endif

/*
 Unix time and a store's clock. A store measures deadlines on a monotonic
 clock (``StoreClock/system`` counts from the machine's boot), but snapshots
 and the Redis protocol speak Unix time. Both directions use one offset,
 Unix time minus the boot-time clock, read once per process: so an absolute
 time turned into an instant and back comes out exactly as it went in, and
 instants keep their order. Should the wall clock be stepped afterwards (by
 NTP, by hand), conversions keep the offset they started with; a snapshot
 written by one process and loaded by another converts through each
 process's own offset, which is what makes a key's remaining life survive a
 restart on the same machine and a move to another.
 */
extension StoreClock {
    /// The Unix time, in milliseconds, of `instant` on this clock.
    public func unixMilliseconds(at instant: Instant) -> Int64 {
        let milliseconds = Int64(clamping: instant.milliseconds)
        let (unix, overflow) = milliseconds.addingReportingOverflow(Self.unixOffsetMilliseconds)
        return overflow ? .max : unix
    }

    /// The instant on this clock of the Unix time `unix` (milliseconds).
    public func instant(atUnixMilliseconds unix: Int64) -> Instant {
        let (milliseconds, overflow) = unix.subtractingReportingOverflow(Self.unixOffsetMilliseconds)
        return Instant(sinceOrigin: .milliseconds(overflow ? (unix < 0 ? Int64.min : Int64.max) : milliseconds))
    }

    /// Unix time minus the boot-time clock, in milliseconds, read once: the
    /// two clocks read back to back, the pair with the shortest gap of a few
    /// tries, so that the offset is off by well under a millisecond.
    static let unixOffsetMilliseconds: Int64 = {
        func nanoseconds(_ id: clockid_t) -> Int64 {
            var now = timespec()
            clock_gettime(id, &now)
            return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        }
        var best = (gap: Int64.max, offset: Int64(0))
        for _ in 0..<5 {
            let before = nanoseconds(CLOCK_BOOTTIME)
            let unix = nanoseconds(CLOCK_REALTIME)
            let after = nanoseconds(CLOCK_BOOTTIME)
            if after - before < best.gap { best = (after - before, unix - (before + after) / 2) }
        }
        return best.offset / 1_000_000
    }()
}
