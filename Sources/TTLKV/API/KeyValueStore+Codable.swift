/// `Codable` values, through a ``StoreValueCoder`` (JSON by default).
///
/// ```swift
/// struct Session: Codable { var user: String; var roles: [String] }
/// try store.set(encoding: Session(user: "alice", roles: ["admin"]), forKey: "session:42", ttl: .seconds(30))
/// let session = try store.value(Session.self, forKey: "session:42")
/// ```
extension KeyValueStore {
    /// Stores `value`, encoded by `coder`, under `key`, expiring after `ttl`
    /// (`nil`: never).
    public func set<Value: Encodable>(
        encoding value: Value, forKey key: some StoreBytes, ttl: Duration? = nil,
        coder: some StoreValueCoder = .json
    ) throws {
        try set(coder.encode(value), forKey: key, ttl: ttl)
    }

    /// The live value of `key` decoded by `coder` as `type`; `nil` if absent
    /// or expired. Decoding reads the stored bytes in place, inside the read
    /// (for ``Store``, inside its read section: a decoder that writes to the
    /// store is refused with ``StoreError/writeDuringRead``).
    public func value<Value: Decodable>(
        _ type: Value.Type, forKey key: some StoreBytes, coder: some StoreValueCoder = .json
    ) throws -> Value? {
        try withValue(forKey: key) { try coder.decode(type, from: $0) }
    }
}
