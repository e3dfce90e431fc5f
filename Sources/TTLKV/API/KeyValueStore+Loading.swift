/// Get-or-insert with a loader: a cache in front of something slow.
///
/// ```swift
/// let profile = try store.value(forKey: "user:42", ttl: .seconds(60)) {
///     try database.profileJSON(for: 42)     // runs once, however many callers miss at once
/// }
/// let session = try await store.value(Session.self, forKey: "session:42", ttl: .seconds(30)) {
///     try await authService.session(42)
/// }
/// ```
///
/// When several callers miss the same key of the same store at the same
/// time, one runs its loader and the others wait for it and get its value
/// (as Caffeine's `get(key, mappingFunction)` does). If the loader throws,
/// every caller waiting for it gets the error and nothing is stored; the
/// next caller loads again. If someone stores a value under the key while
/// the loader runs, that value wins and is what every caller gets. Each
/// call counts one hit or one miss in ``StoreStatistics`` (rarely two reads:
/// see the race in LoadCoalescer.swift).
///
/// A synchronous caller blocks its thread while another synchronous caller
/// loads; it never waits for an asynchronous loader (that could need the
/// thread it blocks) but loads alone. Waiting callers are not cancelled with
/// their task: they get the leader's result. A loader must not ask for its
/// own key: synchronously that throws ``StoreError/recursiveLoad``;
/// asynchronously it would wait for itself.
extension KeyValueStore {
    /// The live value of `key`, or, if there is none, the value `load`
    /// makes, stored under `key` with `ttl` (`nil`: never expires).
    public func value(
        forKey key: some StoreBytes, ttl: Duration? = nil, orInsert load: () throws -> some StoreBytes
    ) throws -> [UInt8] {
        let id = loadKey(key)
        let resolvedBefore = LoadCoalescer.shared.resolvedCount(for: id)
        if let found = try value(forKey: key) { return found }
        switch LoadCoalescer.shared.join(id, isAsync: false, resolvedBeforeMiss: resolvedBefore) {
        case .follower(let inFlight):
            return try inFlight.wait()
        case .alone:
            return try storeLoaded(load(), forKey: key, ttl: ttl)
        case .leader(let inFlight, let recheck):
            let result = Result { () throws -> [UInt8] in
                if recheck, let found = try value(forKey: key) { return found }
                return try storeLoaded(load(), forKey: key, ttl: ttl)
            }
            LoadCoalescer.shared.resolve(id, inFlight, with: result)
            return try result.get()
        }
    }

    /// The live value of `key`, or, if there is none, the value `load`
    /// makes, stored under `key` with `ttl`; for loaders that `await`.
    public func value(
        forKey key: some StoreBytes, ttl: Duration? = nil,
        isolation: isolated (any Actor)? = #isolation,
        orInsert load: () async throws -> some StoreBytes
    ) async throws -> [UInt8] {
        let id = loadKey(key)
        let resolvedBefore = LoadCoalescer.shared.resolvedCount(for: id)
        if let found = try value(forKey: key) { return found }
        switch LoadCoalescer.shared.join(id, isAsync: true, resolvedBeforeMiss: resolvedBefore) {
        case .follower(let inFlight):
            return try await inFlight.value()
        case .alone:
            preconditionFailure("an asynchronous caller always waits")
        case .leader(let inFlight, let recheck):
            let result: Result<[UInt8], any Error>
            do {
                if recheck, let found = try value(forKey: key) {
                    result = .success(found)
                } else {
                    result = .success(try storeLoaded(await load(), forKey: key, ttl: ttl))
                }
            } catch {
                result = .failure(error)
            }
            LoadCoalescer.shared.resolve(id, inFlight, with: result)
            return try result.get()
        }
    }

    /// The live value of `key` decoded as `type`, or, if there is none, the
    /// value `load` makes, encoded and stored under `key` with `ttl`.
    public func value<Value: Codable>(
        _ type: Value.Type, forKey key: some StoreBytes, ttl: Duration? = nil,
        coder: some StoreValueCoder = .json, orInsert load: () throws -> Value
    ) throws -> Value {
        let bytes = try value(forKey: key, ttl: ttl) { try coder.encode(load()) }
        return try bytes.withUnsafeBytes { try coder.decode(type, from: $0) }
    }

    /// The live value of `key` decoded as `type`, or, if there is none, the
    /// value `load` makes, encoded and stored; for loaders that `await`.
    public func value<Value: Codable>(
        _ type: Value.Type, forKey key: some StoreBytes, ttl: Duration? = nil,
        coder: some StoreValueCoder = .json,
        isolation: isolated (any Actor)? = #isolation,
        orInsert load: () async throws -> Value
    ) async throws -> Value {
        let bytes = try await value(forKey: key, ttl: ttl) { try coder.encode(await load()) }
        return try bytes.withUnsafeBytes { try coder.decode(type, from: $0) }
    }

    private func loadKey(_ key: some StoreBytes) -> LoadCoalescer.Key {
        LoadCoalescer.Key(store: ObjectIdentifier(self), bytes: key.withStoreBytes { Array($0) })
    }

    /// Stores what a loader made unless a live value appeared meanwhile, and
    /// returns whichever is stored.
    private func storeLoaded(_ loaded: some StoreBytes, forKey key: some StoreBytes, ttl: Duration?) throws -> [UInt8] {
        while true {
            if try insertIfAbsent(loaded, forKey: key, ttl: ttl) { return loaded.withStoreBytes { Array($0) } }
            if let existing = try value(forKey: key) { return existing }
        }
    }
}
