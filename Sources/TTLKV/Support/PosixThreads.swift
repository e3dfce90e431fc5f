#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex and a condition variable on CLOCK_MONOTONIC, for the
/// module's own threads (the expiry worker, the snapshot writer), which
/// sleep in the kernel rather than on the cooperative pool.
final class PosixCondition: @unchecked Sendable {
    // Safe to share: the pthread objects live at fixed addresses allocated
    // here, are only touched through pthread calls, and are freed in deinit
    // when no thread can be waiting any more.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes every waiter; call with the mutex held.
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits for a broadcast, with the mutex held (it is released meanwhile).
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a broadcast until `deadline` on CLOCK_MONOTONIC, with the
    /// mutex held; false once the deadline has passed.
    func wait(until deadline: timespec) -> Bool {
        var deadline = deadline
        return pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }
}

/// Starts a pthread that runs `body`, which it keeps (and whatever `body`
/// captures) until `body` returns; nil if no thread could be started.
func startPosixThread(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
    final class Start: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Start(body)).toOpaque()
    var handle = pthread_t()
    guard pthread_create(&handle, nil, { context in
        Unmanaged<Start>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context) == 0 else {
        Unmanaged<Start>.fromOpaque(context).release()
        return nil
    }
    return handle
}
