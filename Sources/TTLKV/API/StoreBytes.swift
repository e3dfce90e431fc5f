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

extension StoreBytes where Self: Sequence, Element == UInt8 {
    /// The bytes in place when they are contiguous (always, for the
    /// conforming standard types), else a copy.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        if let result = try withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(self).withUnsafeBytes(body)
    }
}

extension StoreBytes where Self: StringProtocol {
    /// The UTF-8 bytes, in place when the string is stored contiguously.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        if let result = try utf8.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(utf8).withUnsafeBytes(body)
    }
}

extension String: StoreBytes {}
extension Substring: StoreBytes {}
extension Array: StoreBytes where Element == UInt8 {}
extension ArraySlice: StoreBytes where Element == UInt8 {}
extension ContiguousArray: StoreBytes where Element == UInt8 {}
extension UnsafeBufferPointer: StoreBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: StoreBytes {
    /// The buffer itself; the caller keeps it valid for the call.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(self)
    }
}
