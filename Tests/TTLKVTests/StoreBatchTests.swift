import Testing
import TTLKV

/// The batched reads and writes on both stores: every per-key result of a
/// batch is the single call's, checked against a twin store driven by the
/// single calls; duplicates, expiring and overwritten keys, batches of 0, 1
/// and many keys (several chunks of 64), oversized keys, a closed store.
@Suite struct StoreBatchTests {
    /// A store and its twin on one manual clock, with the same contents.
    struct Twins {
        let clock = ManualClock()
        let batched: any ManagedStore
        let single: any ManagedStore

        init(_ kind: StoreKind, configure: (inout StoreConfiguration) -> Void = { _ in }) throws {
            batched = try kind.make(clock: clock, configure: configure)
            single = try kind.make(clock: clock, configure: configure)
        }

        /// Runs `write` on both stores.
        func both(_ write: (any ManagedStore) throws -> Void) rethrows {
            try write(batched)
            try write(single)
        }
    }

    /// What a batch of single calls threw, in the form of a batch's error.
    static func failures(_ count: Int, _ body: (Int) throws -> Void) -> [StoreBatchError.Failure] {
        (0..<count).compactMap { i in
            do {
                try body(i)
                return nil
            } catch {
                return StoreBatchError.Failure(offset: i, error: error as! StoreError)
            }
        }
    }

    /// The failures a batched write threw (none if it returned).
    static func failures(of write: () throws -> Void) throws -> [StoreBatchError.Failure] {
        do {
            try write()
            return []
        } catch let error as StoreBatchError {
            #expect(!error.failures.isEmpty)
            return error.failures
        }
    }

    /// Keys of every kind a batch meets: live, expired, overwritten,
    /// absent, empty, oversized, and some of them twice.
    static func readKeys() -> [String] {
        var keys = (0..<150).map { "key\($0)" }
        keys += ["", "absent", String(repeating: "k", count: 65), "key7", "key7", "expired3", "key149"]
        keys += (0..<20).map { "expired\($0)" }
        return keys.shuffled()
    }

    static func fill(_ store: any KeyValueStore) throws {
        for i in 0..<150 { try store.set("value\(i)", forKey: "key\(i)") }
        for i in 0..<150 where i % 3 == 0 { try store.set("new\(i)", forKey: "key\(i)", ttl: .seconds(60)) }
        for i in 0..<20 { try store.set("soon", forKey: "expired\(i)", ttl: .milliseconds(10)) }
        try store.set("empty key", forKey: "")
    }

    @Test(arguments: StoreKind.allCases)
    func readsGiveWhatSingleReadsGive(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try Self.fill(store)
        let keys = Self.readKeys()
        #expect(try store.values(forKeys: keys) == keys.map { try store.value(forKey: $0) })

        let found = keys.indices.filter { (try? store.value(forKey: keys[$0])) != nil }
        let before = store.statistics
        var offsets: [Int] = []
        try store.withValues(forKeys: keys) { offset, _ in offsets.append(offset) }
        let after = store.statistics
        #expect(offsets == found)   // in key order, live keys only
        #expect(after.hits - before.hits == found.count)
        #expect(after.misses - before.misses == keys.count - found.count)
    }

    /// Raw buffers as keys and values (what the server passes) take a path
    /// of their own, without a closure per key: the same results.
    @Test(arguments: StoreKind.allCases)
    func rawBufferKeysAndValues(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try Self.fill(store)
        let keys = Self.readKeys().map { Array($0.utf8) }
        let values = (0..<keys.count).map { Array("raw\($0)".utf8) }
        try withRawBuffers(keys) { rawKeys in
            #expect(try store.values(forKeys: rawKeys) == keys.map { try store.value(forKey: $0) })
            let storable = keys.indices.filter { keys[$0].count <= 64 }
            try withRawBuffers(values) { rawValues in
                try store.set(storable.map { (key: rawKeys[$0], value: rawValues[$0], ttl: Duration?.none) })
            }
            #expect(try store.values(forKeys: rawKeys.reversed()) == keys.reversed().map { try store.value(forKey: $0) })
            // A key given twice ends with its last value.
            #expect(try store.values(forKeys: storable.map { rawKeys[$0] }) == storable.map { i in
                Array("raw\(storable.last { keys[$0] == keys[i] }!)".utf8)
            })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func expiringAndOverwrittenKeys(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let keys = (0..<100).map { "k\($0)" }
        try store.set(keys.map { (key: $0, value: "old", ttl: Duration?.some(.milliseconds(100))) })
        clock.advance(by: .milliseconds(99))
        #expect(try store.values(forKeys: keys).allSatisfy { $0 == Array("old".utf8) })
        try store.set(keys.prefix(50).map { (key: $0, value: "new", ttl: Duration?.none) })
        clock.advance(by: .milliseconds(1))   // the other 50 reach their deadline
        let values = try store.values(forKeys: keys)
        #expect(values.prefix(50).allSatisfy { $0 == Array("new".utf8) })
        #expect(values.suffix(50).allSatisfy { $0 == nil })
        #expect(try store.removeValues(forKeys: keys) == 50)   // expired keys were not live
        #expect(store.count == 0)
        #expect(store.statistics.expired == 50)
    }

    @Test(arguments: StoreKind.allCases)
    func writesGiveWhatSingleWritesGive(kind: StoreKind) async throws {
        let twins = try Twins(kind)
        try twins.both(Self.fill)
        let longValue = [UInt8](repeating: 1, count: 1025)
        var items: [(key: String, value: [UInt8], ttl: Duration?)] = (0..<200).map { i in
            (key: "key\(i % 170)", value: Array("batch\(i)".utf8), ttl: i % 2 == 0 ? nil : .milliseconds(i))
        }
        items += [
            (key: String(repeating: "k", count: 65), value: [1], ttl: nil),
            (key: "long value", value: longValue, ttl: nil),
            (key: "zero ttl", value: [1], ttl: .zero),
            (key: "negative ttl", value: [1], ttl: .seconds(-1)),
            (key: "century ttl", value: [1], ttl: .seconds(101 * 365 * 86_400)),
            (key: String(repeating: "k", count: 65), value: longValue, ttl: .zero),
            (key: "expired4", value: [4], ttl: nil),
            (key: "", value: [], ttl: .milliseconds(1)),
        ]
        items.shuffle()
        twins.clock.advance(by: .milliseconds(10))   // the expired keys' deadline

        let batched = try Self.failures { try twins.batched.set(items) }
        let single = Self.failures(items.count) { try twins.single.set(items[$0].value, forKey: items[$0].key, ttl: items[$0].ttl) }
        #expect(batched == single)
        #expect(batched.count == 6)
        try await Self.expectSameContents(twins, keys: items.map { $0.key } + Self.readKeys())
        // Each twin's worker expires the keys that no write replaced on its
        // own tick: the counts agree once both have run.
        #expect(await eventually { twins.batched.statistics.expired == twins.single.statistics.expired })
        #expect(await eventually { twins.batched.statistics.pendingExpiryRecords == twins.single.statistics.pendingExpiryRecords })
    }

    @Test(arguments: StoreKind.allCases)
    func removalsGiveWhatSingleRemovalsGive(kind: StoreKind) async throws {
        let twins = try Twins(kind)
        try twins.both(Self.fill)
        twins.clock.advance(by: .milliseconds(10))
        let keys = Self.readKeys() + Self.readKeys().prefix(30)
        let removed = try twins.batched.removeValues(forKeys: keys)
        #expect(removed == keys.filter { (try? twins.single.removeValue(forKey: $0)) == true }.count)
        #expect(removed == 151)   // 150 keys and the empty one, each once
        try await Self.expectSameContents(twins, keys: keys)
        #expect(await eventually { twins.batched.statistics.expired == twins.single.statistics.expired })
    }

    /// Random batches against the single calls, over a small key space so
    /// that batches repeat keys and overwrite what earlier ones wrote.
    @Test(arguments: StoreKind.allCases)
    func randomBatchesMatchSingleCalls(kind: StoreKind) async throws {
        let twins = try Twins(kind)
        var random = SystemRandomNumberGenerator()
        func key() -> String {
            Int.random(in: 0..<50, using: &random) == 0 ? String(repeating: "x", count: 65) : "k\(Int.random(in: 0..<300, using: &random))"
        }
        for _ in 0..<200 {
            let count = [0, 1, 2, 63, 64, 65, 150].randomElement(using: &random)!
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                let items = (0..<count).map { i in
                    (key: key(), value: Array(repeating: UInt8(i & 255), count: Int.random(in: 0...1030, using: &random)),
                     ttl: Bool.random(using: &random) ? nil : Duration.milliseconds(Int.random(in: -1...50, using: &random)))
                }
                let batched = try Self.failures { try twins.batched.set(items) }
                #expect(batched == Self.failures(count) { try twins.single.set(items[$0].value, forKey: items[$0].key, ttl: items[$0].ttl) })
            case 1:
                let keys = (0..<count).map { _ in key() }
                let removed = try twins.batched.removeValues(forKeys: keys)
                #expect(removed == keys.filter { (try? twins.single.removeValue(forKey: $0)) == true }.count)
            default:
                let keys = (0..<count).map { _ in key() }
                #expect(try twins.batched.values(forKeys: keys) == keys.map { try twins.single.value(forKey: $0) })
            }
            twins.clock.advance(by: .milliseconds(Int.random(in: 0...5, using: &random)))
        }
        try await Self.expectSameContents(twins, keys: (0..<300).map { "k\($0)" })
    }

    /// The same live values and TTLs; then, a second later, once both
    /// workers have removed what expired, the same entry count. (Until then
    /// the counts of expired entries not yet removed may differ: a worker
    /// that fires a key's earlier record after a rewrite's deadline removes
    /// it then, one that fires it before reschedules it for its tick.)
    static func expectSameContents(_ twins: Twins, keys: [String]) async throws {
        for key in Set(keys) {
            #expect(try twins.batched.value(forKey: key) == twins.single.value(forKey: key), "\(key)")
            #expect(try twins.batched.timeToLive(forKey: key) == twins.single.timeToLive(forKey: key), "\(key)")
        }
        twins.clock.advance(by: .seconds(1))
        #expect(await eventually { twins.batched.count == twins.single.count })
    }

    @Test(arguments: StoreKind.allCases)
    func batchesOfNoneOneAndMany(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock()) { $0.capacity = 16_384 }
        #expect(try store.values(forKeys: [String]()) == [])
        try store.withValues(forKeys: [String]()) { _, _ in Issue.record("called for no key") }
        try store.set([(key: String, value: String, ttl: Duration?)]())
        #expect(try store.removeValues(forKeys: [String]()) == 0)
        #expect(store.count == 0)

        try store.set([(key: "one", value: "1", ttl: nil)])
        #expect(try store.values(forKeys: ["one"]) == [Array("1".utf8)])
        #expect(try store.removeValues(forKeys: ["one"]) == 1)

        let keys = (0..<10_000).map { "key\($0)" }
        try store.set(keys.map { (key: $0, value: $0.utf8.reversed() as [UInt8], ttl: nil) })
        #expect(store.count == 10_000)
        #expect(try store.values(forKeys: keys) == keys.map { $0.utf8.reversed() as [UInt8] })
        #expect(try store.removeValues(forKeys: keys.filter { $0.hasSuffix("7") }) == 1_000)
        #expect(store.count == 9_000)
    }

    @Test(arguments: StoreKind.allCases)
    func duplicatesReadEachTimeWriteInOrderRemoveOnce(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set([(key: "k", value: "1", ttl: nil), (key: "other", value: "o", ttl: nil),
                       (key: "k", value: "2", ttl: .seconds(5)), (key: "k", value: "3", ttl: nil)])
        #expect(try store.string(forKey: "k") == "3")
        #expect(try store.timeToLive(forKey: "k") == .never)
        #expect(try store.values(forKeys: ["k", "k", "other", "k"]).map { $0.map { String(decoding: $0, as: UTF8.self) } }
                == ["3", "3", "o", "3"])
        #expect(try store.removeValues(forKeys: ["k", "k", "k"]) == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func aFullStoreRefusesTheRestOfABatch(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock()) { $0.maximumEntries = 100 }
        for i in 0..<40 { try store.set("v", forKey: "old\(i)") }
        let items = (0..<100).map { (key: "new\($0)", value: "v", ttl: Duration?.none) }
        let failures = try Self.failures { try store.set(items) }
        #expect(failures.count == 40)
        #expect(failures.allSatisfy { $0.error == .full })
        #expect(store.count == 100)
        #expect(try store.values(forKeys: items.map { $0.key }).filter { $0 != nil }.count == 60)
        // Overwrites need no room.
        try store.set((0..<40).map { (key: "old\($0)", value: "w", ttl: nil) })
    }

    @Test(arguments: StoreKind.allCases)
    func aClosedStoreRefusesEveryBatch(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("v", forKey: "k")
        store.close()
        #expect(throws: StoreError.closed) { try store.values(forKeys: ["k"]) }
        #expect(throws: StoreError.closed) { try store.values(forKeys: [String]()) }
        #expect(throws: StoreError.closed) { try store.set([(key: "k", value: "v", ttl: nil)]) }
        #expect(throws: StoreError.closed) { try store.removeValues(forKeys: ["k"]) }
    }

    struct Boom: Error {}

    @Test(arguments: StoreKind.allCases)
    func aThrowingBodyStopsTheBatch(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        let keys = (0..<200).map { "k\($0)" }
        try store.set(keys.map { (key: $0, value: "v", ttl: nil) })
        var calls = 0
        #expect(throws: Boom.self) {
            try store.withValues(forKeys: keys) { offset, _ in
                calls += 1
                if offset == 70 { throw Boom() }
            }
        }
        #expect(calls == 71)
    }

    /// Inside a read, ``Store`` refuses batched writes as it refuses single
    /// ones, and nothing is written; ``NativeStore`` runs them.
    @Test(arguments: StoreKind.allCases)
    func writesInsideABatchedRead(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set([(key: "a", value: "old", ttl: nil), (key: "b", value: "old", ttl: nil)])
        try store.withValues(forKeys: ["a", "b"]) { offset, _ in
            guard offset == 0 else { return }
            switch kind {
            case .ck:
                #expect(throws: StoreError.writeDuringRead) { try store.set([(key: "a", value: "new", ttl: nil)]) }
                #expect(throws: StoreError.writeDuringRead) { try store.removeValues(forKeys: ["b"]) }
                #expect(throws: StoreError.writeDuringRead) { try store.set("new", forKey: "a") }
            case .native:
                try store.set([(key: "a", value: "new", ttl: nil)])
                #expect(try store.removeValues(forKeys: ["b"]) == 1)
            }
        }
        #expect(try store.values(forKeys: ["a", "b"]) == (kind == .ck ? [Array("old".utf8), Array("old".utf8)] : [Array("new".utf8), nil]))
    }

    @Test(arguments: StoreKind.allCases)
    func batchedTTLsExpireThroughTheWorker(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set((0..<100).map { (key: "t\($0)", value: "v", ttl: Duration?.some(.milliseconds(100 + $0))) })
        try store.set((0..<10).map { (key: "p\($0)", value: "v", ttl: Duration?.none) })
        #expect(try store.timeToLive(forKey: "t5") == .remaining(.milliseconds(105)))
        #expect(await eventually { store.statistics.pendingExpiryRecords == 100 })
        clock.advance(by: .milliseconds(250))
        #expect(await eventually { store.count == 10 && store.statistics.keysExpiredByWorker == 100 })
    }

    @Test func aBatchErrorSaysWhichItemsFailed() {
        let error = StoreBatchError(failures: [.init(offset: 2, error: .keyTooLarge)], itemCount: 5)
        #expect(error.description.hasPrefix("1 of 5 items refused: item 2: StoreError.keyTooLarge"))
    }
}

/// Calls body with raw buffers over each array's bytes, all valid during the
/// call.
private func withRawBuffers<Result>(
    _ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> Result
) rethrows -> Result {
    // Copies that live until body returns: the buffers point into them.
    let storage = arrays.map { bytes -> UnsafeMutableRawBufferPointer in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        buffer.copyBytes(from: bytes)
        return buffer
    }
    defer { storage.forEach { $0.deallocate() } }
    return try body(storage.map { UnsafeRawBufferPointer($0) })
}
