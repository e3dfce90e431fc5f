/// A value whose bytes a store can read in place, without copying them first.
///
/// Keys and values of every store operation are `StoreBytes`: `String`,
/// `Substring`, `[UInt8]`, `ArraySlice<UInt8>`, `ContiguousArray<UInt8>`,
/// `UnsafeRawBufferPointer` and `UnsafeBufferPointer<UInt8>` conform. The only
/// copy an operation makes is the one into the store.
public protocol StoreBytes {
    /// Calls `body` with the bytes; the buffer is valid only during the call.
    func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result
}

extension String: StoreBytes {
    /// The UTF-8 bytes, in place when the string is stored contiguously.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension Substring: StoreBytes {
    /// The UTF-8 bytes, in place when the substring is stored contiguously.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        var copy = self
        return try copy.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }
}

extension Array: StoreBytes where Element == UInt8 {
    /// The array's bytes, in place.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension ArraySlice: StoreBytes where Element == UInt8 {
    /// The slice's bytes, in place.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension ContiguousArray: StoreBytes where Element == UInt8 {
    /// The array's bytes, in place.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension UnsafeRawBufferPointer: StoreBytes {
    /// The buffer itself; the caller keeps it valid for the call.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(self)
    }
}

extension UnsafeBufferPointer: StoreBytes where Element == UInt8 {
    /// The buffer's bytes; the caller keeps it valid for the call.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeRawBufferPointer(self))
    }
}
