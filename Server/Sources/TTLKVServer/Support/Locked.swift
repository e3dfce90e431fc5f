import Synchronization

/// A value behind a `Mutex` whose critical sections ThreadSanitizer can see
/// (see ``ThreadSanitizer``): the locks of pub/sub, which publishers take
/// from every event loop and the expiry worker.
final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, under the lock.
    @inline(__always)
    func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { value in
            ThreadSanitizer.acquire(self)
            defer { ThreadSanitizer.release(self) }
            return try body(&value)
        }
    }
}
