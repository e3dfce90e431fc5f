#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns values into bytes for a store and back: what the `Codable` methods
/// of ``KeyValueStore`` use (``KeyValueStore/set(encoding:forKey:ttl:coder:)``,
/// ``KeyValueStore/value(_:forKey:coder:)``).
///
/// Decoding gets the stored bytes in place, inside the store's read, so a
/// coder that can read a buffer directly never copies the value first.
/// ``JSONStoreCoder`` is the default; conform your own for another format.
public protocol StoreValueCoder: Sendable {
    /// The bytes to store for `value`.
    func encode<Value: Encodable>(_ value: Value) throws -> Data

    /// The value stored as `bytes`; the buffer is valid only during the call.
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value
}

/// Values as JSON, through a `JSONEncoder` and a `JSONDecoder` you can
/// configure.
///
/// ```swift
/// let encoder = JSONEncoder()
/// encoder.dateEncodingStrategy = .iso8601
/// let decoder = JSONDecoder()
/// decoder.dateDecodingStrategy = .iso8601
/// let coder = JSONStoreCoder(encoder: encoder, decoder: decoder)
/// try store.set(encoding: session, forKey: "session:42", coder: coder)
/// ```
///
/// Configure the encoder and decoder before handing them over: the coder
/// uses them from any thread.
public struct JSONStoreCoder: StoreValueCoder {
    /// The encoder for values being stored.
    public let encoder: JSONEncoder
    /// The decoder for values being read.
    public let decoder: JSONDecoder

    /// A coder with `encoder` and `decoder` (by default, Foundation's
    /// defaults).
    public init(encoder: JSONEncoder = JSONEncoder(), decoder: JSONDecoder = JSONDecoder()) {
        self.encoder = encoder
        self.decoder = decoder
    }

    /// One coder with the default encoder and decoder, shared.
    static let standard = JSONStoreCoder()

    public func encode<Value: Encodable>(_ value: Value) throws -> Data {
        try encoder.encode(value)
    }

    /// Decodes the stored bytes without copying them into a `Data` first: a
    /// `Data` that borrows the buffer for the call.
    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: UnsafeRawBufferPointer) throws -> Value {
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            return try decoder.decode(type, from: Data())
        }
        // Safe: the Data neither frees nor writes the buffer, and the
        // decoder keeps no reference to it after returning.
        let borrowed = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none)
        return try decoder.decode(type, from: borrowed)
    }
}

extension StoreValueCoder where Self == JSONStoreCoder {
    /// JSON with Foundation's default encoder and decoder.
    public static var json: JSONStoreCoder { .standard }
}
