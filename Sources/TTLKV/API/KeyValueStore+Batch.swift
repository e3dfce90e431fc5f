/// Batched reads and writes: conveniences, and the behaviour of a store
/// that has no batched path of its own.
///
/// ```swift
/// try store.set([(key: "a", value: "1", ttl: .seconds(30)), (key: "b", value: "2", ttl: nil)])
/// let values = try store.values(forKeys: ["a", "b", "c"])   // [[49], [50], nil]
/// let removed = try store.removeValues(forKeys: ["a", "c"])  // 1
/// ```
extension KeyValueStore {
    /// The live value of each of `keys` as bytes, in key order; `nil` for a
    /// key absent or expired. One batch: see
    /// ``KeyValueStore/withValues(forKeys:_:)``.
    public func values<Keys: Collection>(forKeys keys: Keys) throws -> [[UInt8]?] where Keys.Element: StoreBytes {
        var values = [[UInt8]?](repeating: nil, count: keys.count)
        try withValues(forKeys: keys) { offset, value in values[offset] = Array(value) }
        return values
    }

    /// A loop of ``withValue(forKey:_:)``, for a store with no batched read.
    public func withValues<Keys: Collection>(
        forKeys keys: Keys,
        _ body: (_ offset: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws where Keys.Element: StoreBytes {
        for (offset, key) in keys.enumerated() {
            _ = try withValue(forKey: key) { try body(offset, $0) }
        }
    }

    /// A loop of ``set(_:forKey:ttl:)``, for a store with no batched write:
    /// every ``StoreError`` an item throws is that item's failure.
    public func set<Key: StoreBytes, Value: StoreBytes>(
        _ items: some Collection<(key: Key, value: Value, ttl: Duration?)>
    ) throws {
        try StoreBatchError.collecting(items) { try set($0.value, forKey: $0.key, ttl: $0.ttl) }
    }

    /// A loop of ``removeValue(forKey:)``, for a store with no batched
    /// removal: every ``StoreError`` a key throws is that key's failure.
    @discardableResult
    public func removeValues<Keys: Collection>(forKeys keys: Keys) throws -> Int where Keys.Element: StoreBytes {
        var removed = 0
        try StoreBatchError.collecting(keys) { if try removeValue(forKey: $0) { removed += 1 } }
        return removed
    }
}

extension StoreBatchError {
    /// Runs `body` on each element, then throws the ``StoreError``s it threw
    /// as one batch error.
    static func collecting<Elements: Collection>(_ elements: Elements, _ body: (Elements.Element) throws -> Void) throws {
        var failures: [Failure] = []
        for (offset, element) in elements.enumerated() {
            do {
                try body(element)
            } catch let error as StoreError {
                failures.append(Failure(offset: offset, error: error))
            }
        }
        try throwIfAny(failures, itemCount: elements.count)
    }
}
