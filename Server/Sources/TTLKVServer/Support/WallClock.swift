#if canImport(Glibc)
import Glibc
#endif

/// Unix time, for the commands that speak it (EXPIREAT, EXPIRETIME, TIME).
/// Deadlines themselves live on the store's monotonic clock; these commands
/// convert at the moment they run.
enum WallClock {
    static func microseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    static func milliseconds() -> Int64 {
        microseconds() / 1000
    }
}
