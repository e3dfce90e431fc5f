#if canImport(Glibc)
import Glibc
#endif

/// Happens-before annotations for ThreadSanitizer, active only when the TSan
/// runtime is loaded (`swift test --sanitize=thread`), free otherwise.
///
/// On Linux, `Synchronization.Mutex` waits with raw futex calls that TSan
/// cannot see, so TSan reports every Mutex-protected access as a race (a
/// ten-line program with two threads and one `Mutex` shows it). Telling TSan
/// "this lock was acquired / released" restores exactly the ordering the
/// Mutex provides, and no more, so real races are still reported. The C core
/// does the same for Concurrency Kit's inline-assembly atomics.
@usableFromInline
enum ThreadSanitizer {
    private typealias Hook = @convention(c) (UnsafeMutableRawPointer?) -> Void

    private static let hooks: (acquire: Hook, release: Hook)? = {
        guard let acquire = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_acquire"),
              let release = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_release") else { return nil }
        return (unsafeBitCast(acquire, to: Hook.self), unsafeBitCast(release, to: Hook.self))
    }()

    /// After taking the lock that guards `object`'s state.
    @inline(__always)
    @usableFromInline
    static func acquire(_ object: AnyObject) {
        if let hooks { hooks.acquire(Unmanaged.passUnretained(object).toOpaque()) }
    }

    /// Before dropping the lock that guards `object`'s state.
    @inline(__always)
    @usableFromInline
    static func release(_ object: AnyObject) {
        if let hooks { hooks.release(Unmanaged.passUnretained(object).toOpaque()) }
    }
}
