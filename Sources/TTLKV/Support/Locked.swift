import Synchronization

/// A value behind a `Mutex` whose critical sections ThreadSanitizer can see
/// (see ``ThreadSanitizer``). Every lock in the module is one of these, so
/// that `swift test --sanitize=thread` reports real races only. Offered to
/// ttlkv-server as SPI (`@_spi(Internals) import TTLKV`), not as API.
@_spi(Internals)
public final class Locked<Value>: Sendable {
    @usableFromInline let mutex: Mutex<Value>

    public init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, under the lock.
    @inlinable
    public func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try mutex.withLock { value in
            ThreadSanitizer.acquire(self)
            defer { ThreadSanitizer.release(self) }
            return try body(&value)
        }
    }
}
