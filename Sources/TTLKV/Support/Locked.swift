import Synchronization

/// A value behind a `Mutex` whose critical sections ThreadSanitizer can see
/// (see ``ThreadSanitizer``). Every lock in the module is one of these, so
/// that `swift test --sanitize=thread` reports real races only.
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
