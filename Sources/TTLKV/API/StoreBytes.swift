#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value whose bytes a store can read in place, without copying them first.
///
/// Keys and values of every store operation are `StoreBytes`: `String`,
/// `Substring`, `[UInt8]`, `ArraySlice<UInt8>`, `ContiguousArray<UInt8>`,
/// `Data`, and the raw and typed buffer pointers conform. The only copy an
/// operation makes is the one into the store.
///
/// Any other `ContiguousBytes` type conforms with an empty extension (its
/// `withUnsafeBytes` is used), and a `ContiguousBytes` value of a generic
/// type can be passed wrapped in ``ContiguousStoreBytes``:
///
/// ```swift
/// extension MyBuffer: StoreBytes {}       // MyBuffer: ContiguousBytes
/// func save<Bytes: ContiguousBytes>(_ bytes: Bytes, as key: String) throws {
///     try store.set(ContiguousStoreBytes(bytes), forKey: key)
/// }
/// ```
public protocol StoreBytes {
    /// Calls `body` with the bytes; the buffer is valid only during the call.
    func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result
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

extension StoreBytes where Self: ContiguousBytes {
    /// The bytes `withUnsafeBytes` gives, in place: for every conforming
    /// type but the strings.
    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try withUnsafeBytes(body)
    }
}

extension String: StoreBytes {}
extension Substring: StoreBytes {}
extension Array: StoreBytes where Element == UInt8 {}
extension ArraySlice: StoreBytes where Element == UInt8 {}
extension ContiguousArray: StoreBytes where Element == UInt8 {}
extension UnsafeBufferPointer: StoreBytes where Element == UInt8 {}
extension UnsafeMutableBufferPointer: StoreBytes where Element == UInt8 {}
extension UnsafeRawBufferPointer: StoreBytes {}
extension UnsafeMutableRawBufferPointer: StoreBytes {}
extension Data: StoreBytes {}

/// Any `ContiguousBytes` value as ``StoreBytes``, for generic code whose
/// byte type is not known to conform: `ContiguousStoreBytes(bytes)`.
public struct ContiguousStoreBytes<Bytes: ContiguousBytes>: StoreBytes {
    /// The wrapped bytes.
    public var bytes: Bytes

    /// Wraps `bytes`; nothing is copied.
    @inlinable
    public init(_ bytes: Bytes) {
        self.bytes = bytes
    }

    @inlinable
    public func withStoreBytes<Result>(
        _ body: (UnsafeRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try bytes.withUnsafeBytes(body)
    }
}
