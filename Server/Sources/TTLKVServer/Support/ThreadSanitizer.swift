#if canImport(Glibc)
import Glibc
#endif

/// Happens-before annotations for ThreadSanitizer, active only when the TSan
/// runtime is loaded (`swift test --sanitize=thread`), free otherwise: on
/// Linux `Synchronization.Mutex` waits with raw futex calls TSan cannot see,
/// so without them TSan reports every Mutex-protected access as a race.
/// The same as the TTLKV module's (internal there, so not reachable here).
enum ThreadSanitizer {
    private typealias Hook = @convention(c) (UnsafeMutableRawPointer?) -> Void

    private static let hooks: (acquire: Hook, release: Hook)? = {
        guard let acquire = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_acquire"),
              let release = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_release") else { return nil }
        return (unsafeBitCast(acquire, to: Hook.self), unsafeBitCast(release, to: Hook.self))
    }()

    /// After taking the lock that guards `object`'s state.
    @inline(__always)
    static func acquire(_ object: AnyObject) {
        if let hooks { hooks.acquire(Unmanaged.passUnretained(object).toOpaque()) }
    }

    /// Before dropping the lock that guards `object`'s state.
    @inline(__always)
    static func release(_ object: AnyObject) {
        if let hooks { hooks.release(Unmanaged.passUnretained(object).toOpaque()) }
    }
}
