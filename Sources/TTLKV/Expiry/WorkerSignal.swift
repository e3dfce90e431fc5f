#if canImport(Glibc)
import Glibc
#endif

/// A wake-up for the expiry worker: it sleeps until a moment on
/// CLOCK_MONOTONIC and can be woken early.
final class WorkerSignal: Sendable {
    private let condition = PosixCondition()
    // Guarded by condition's mutex.
    nonisolated(unsafe) private var signalled = false

    /// Sleeps for up to `milliseconds` or until ``signal()``, whichever comes
    /// first; a signal sent while awake makes the next wait return at once.
    func wait(milliseconds: UInt64) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = UInt64(deadline.tv_nsec) + (milliseconds % 1000) * 1_000_000
        deadline.tv_sec += Int(milliseconds / 1000) + Int(nanoseconds / 1_000_000_000)
        deadline.tv_nsec = Int(nanoseconds % 1_000_000_000)
        condition.lock()
        while !signalled {
            if !condition.wait(until: deadline) { break }
        }
        signalled = false
        condition.unlock()
    }

    /// Wakes the waiter, or makes its next wait return at once.
    func signal() {
        condition.lock()
        signalled = true
        condition.broadcast()
        condition.unlock()
    }
}
