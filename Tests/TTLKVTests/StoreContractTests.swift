import Testing
import TTLKV

/// The kinds of store under test: every contract test runs against both.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case ck, native

    var testDescription: String { rawValue }

    func make(_ configuration: StoreConfiguration) throws -> any ManagedStore {
        switch self {
        case .ck: try Store(configuration: configuration)
        case .native: try NativeStore(configuration: configuration)
        }
    }

    /// A small store on a manual clock.
    func make(clock: ManualClock, configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> any ManagedStore {
        var configuration = StoreConfiguration(capacity: 256)
        configuration.clock = .manual(clock)
        configuration.maximumKeySize = 64
        configuration.maximumValueSize = 1024
        configure(&configuration)
        return try make(configuration)
    }
}

extension ManualClock {
    /// The reading in whole milliseconds, for tests that compute deadlines.
    var nowMilliseconds: UInt64 {
        UInt64(now.sinceOrigin.components.seconds) * 1000
            + UInt64(now.sinceOrigin.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// The API contract of ``KeyValueStore``, one suite for both stores.
@Suite struct StoreContractTests {
    @Test(arguments: StoreKind.allCases)
    func setAndReadEveryByteType(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("string value", forKey: "string")
        try store.set([1, 2, 3] as [UInt8], forKey: [0, 255] as [UInt8])
        try store.set("sub"[...], forKey: "substring key".dropFirst(3))
        try store.set(ContiguousArray<UInt8>([9]), forKey: ArraySlice<UInt8>([1, 2, 3, 4])[1...])
        try [UInt8](repeating: 5, count: 4).withUnsafeBytes { try store.set($0, forKey: "raw") }

        #expect(try store.string(forKey: "string") == "string value")
        #expect(try store.value(forKey: [0, 255] as [UInt8]) == [1, 2, 3])
        #expect(try store.string(forKey: "string key") == "sub")
        #expect(try store.value(forKey: [2, 3, 4] as [UInt8]) == [9])
        #expect(try store.value(forKey: "raw") == [5, 5, 5, 5])
        #expect(try store.value(forKey: "missing") == nil)
        #expect(store.count == 5)
    }

    @Test(arguments: StoreKind.allCases)
    func overwriteInsertIfAbsentAndRemove(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("one", forKey: "k")
        try store.set("two", forKey: "k")
        #expect(try store.string(forKey: "k") == "two")
        #expect(try store.insertIfAbsent("three", forKey: "k", ttl: nil) == false)
        #expect(try store.string(forKey: "k") == "two")
        #expect(try store.insertIfAbsent("new", forKey: "fresh", ttl: nil))
        #expect(try store.removeValue(forKey: "k"))
        #expect(try store.removeValue(forKey: "k") == false)
        #expect(try store.string(forKey: "k") == nil)
        #expect(store.count == 1)
        try store.set("", forKey: "")
        #expect(try store.value(forKey: "") == [])
    }

    @Test(arguments: StoreKind.allCases)
    func timeToLiveExpireAndPersist(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "t", ttl: .milliseconds(500))
        try store.set("v", forKey: "p")
        #expect(try store.timeToLive(forKey: "t") == .remaining(.milliseconds(500)))
        #expect(try store.timeToLive(forKey: "p") == .never)
        #expect(try store.timeToLive(forKey: "none") == nil)

        clock.advance(by: .milliseconds(499))
        #expect(try store.string(forKey: "t") == "v")
        clock.advance(by: .milliseconds(1))
        #expect(try store.string(forKey: "t") == nil)   // lazily expired
        #expect(try store.timeToLive(forKey: "t") == nil)
        #expect(try store.expire("t", after: .seconds(1)) == false)

        #expect(try store.expire("p", after: .milliseconds(1500)))
        #expect(try store.timeToLive(forKey: "p") == .remaining(.milliseconds(1500)))
        #expect(try store.persist("p"))
        #expect(try store.timeToLive(forKey: "p") == .never)
        #expect(try store.persist("none") == false)

        // Sub-millisecond TTLs round up: they never mean "no expiry".
        try store.set("v", forKey: "tiny", ttl: .microseconds(10))
        #expect(try store.timeToLive(forKey: "tiny") == .remaining(.milliseconds(1)))
    }

    @Test(arguments: StoreKind.allCases)
    func badInputThrowsAndChangesNothing(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock()) { $0.maximumEntries = 2 }
        try store.set("old", forKey: "k")
        let longKey = String(repeating: "k", count: 65)
        let longValue = [UInt8](repeating: 0, count: 1025)
        #expect(throws: StoreError.keyTooLarge) { try store.set("v", forKey: longKey) }
        #expect(try store.value(forKey: longKey) == nil)   // it cannot exist
        #expect(throws: StoreError.valueTooLarge) { try store.set(longValue, forKey: "k") }
        #expect(throws: StoreError.invalidTTL) { try store.set("new", forKey: "k", ttl: .zero) }
        #expect(throws: StoreError.invalidTTL) { try store.set("new", forKey: "k", ttl: .seconds(-1)) }
        #expect(throws: StoreError.invalidTTL) { try store.set("new", forKey: "k", ttl: .seconds(101 * 365 * 86_400)) }
        try store.set("v", forKey: "second")
        #expect(throws: StoreError.full) { try store.set("v", forKey: "third") }
        #expect(throws: StoreError.full) { try store.insertIfAbsent("v", forKey: "third", ttl: nil) }
        try store.set("overwrite is fine", forKey: "second")
        #expect(try store.string(forKey: "k") == "old")
        #expect(try store.timeToLive(forKey: "k") == .never)
        #expect(store.count == 2)
    }

    @Test(arguments: StoreKind.allCases)
    func invalidConfigurationThrows(kind: StoreKind) {
        var configuration = StoreConfiguration(capacity: -1)
        #expect(throws: StoreError.self) { try kind.make(configuration) }
        configuration = StoreConfiguration()
        configuration.shards = 0
        #expect(throws: StoreError.self) { try kind.make(configuration) }
        configuration = StoreConfiguration()
        configuration.tickResolution = .zero
        #expect(throws: StoreError.self) { try kind.make(configuration) }
    }

    struct Boom: Error {}

    @Test(arguments: StoreKind.allCases)
    func withValueIsZeroCopyAndRethrows(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("0123456789", forKey: "k")
        let length = try store.withValue(forKey: "k") { bytes in bytes.count }
        #expect(length == 10)
        #expect(try store.withValue(forKey: "nope") { _ in 1 } == nil)
        #expect(throws: Boom.self) { try store.withValue(forKey: "k") { _ in throw Boom() } }
        #expect(try store.string(forKey: "k") == "0123456789")
    }

    /// A write from inside `withValue` never hangs: `Store` refuses it and
    /// keeps the old value, `NativeStore` (which runs the closure outside
    /// its locks) performs it.
    @Test(arguments: StoreKind.allCases)
    func writesInsideWithValue(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("old", forKey: "k")
        try store.withValue(forKey: "k") { _ in
            switch kind {
            case .ck:
                #expect(throws: StoreError.writeDuringRead) { try store.set("new", forKey: "k") }
                #expect(throws: StoreError.writeDuringRead) { try store.removeValue(forKey: "k") }
                #expect(throws: StoreError.writeDuringRead) { try store.expire("k", after: .seconds(1)) }
                #expect(try store.string(forKey: "k") == "old")
            case .native:
                try store.set("new", forKey: "k")
            }
        }
        #expect(try store.string(forKey: "k") == (kind == .ck ? "old" : "new"))
        try store.set("after", forKey: "k")
        #expect(try store.string(forKey: "k") == "after")
    }

    @Test(arguments: StoreKind.allCases)
    func statisticsCountWhatTheStoreHolds(kind: StoreKind) async throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("abc", forKey: "k1")
        try store.set("de", forKey: "k2", ttl: .seconds(5))
        let stats = store.statistics
        #expect(stats.entries == 2)
        #expect(stats.bytes == 2 + 3 + 2 + 2)
        #expect(stats.tableSlots >= 256)
        #expect(stats.shards >= 1)
        // Records move from the schedule buffers to the worker's wheel: the sum is a
        // snapshot of two counters, so look again until it settles.
        #expect(await eventually { store.statistics.pendingExpiryRecords == 1 })
    }

    @Test(arguments: StoreKind.allCases)
    func closeStopsTheStore(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("v", forKey: "k")
        store.close()
        store.close()
        #expect(throws: StoreError.closed) { try store.set("v", forKey: "k") }
        #expect(throws: StoreError.closed) { try store.value(forKey: "k") }
    }

    @Test(arguments: StoreKind.allCases)
    func growsPastCapacityWithoutLosingKeys(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock()) { $0.capacity = 16 }
        for i in 0..<5_000 { try store.set("\(i)", forKey: "key\(i)") }
        for i in 0..<5_000 { #expect(try store.string(forKey: "key\(i)") == "\(i)") }
        #expect(store.count == 5_000)
        #expect(store.statistics.tableGrows > 0)
    }
}
