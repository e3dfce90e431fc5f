import Foundation
import Synchronization
import Testing
@_spi(Internals) @testable import TTLKV

/// A byte type of a user's own: ContiguousBytes, made StoreBytes by an
/// empty extension.
struct Token: ContiguousBytes, Equatable {
    var bytes: [UInt8]

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }
}

extension Token: StoreBytes {}

struct Session: Codable, Equatable {
    var user: String
    var roles: [String]
    var started: Date
}

/// The 1.0 API contract on both stores: removal of everything, key
/// traversal, subscript, Data and ContiguousBytes, Codable, get-or-insert,
/// hit and miss counts, errors, edge cases, and what a closed store does.
@Suite struct StoreAPITests {
    @Test(arguments: StoreKind.allCases)
    func removeAllEmptiesTheStoreAndFreesItsQuota(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock()) { $0.maximumEntries = 100 }
        for i in 0..<100 { try store.set("v", forKey: "k\(i)") }
        #expect(throws: StoreError.full) { try store.set("v", forKey: "one more") }
        try store.removeAll()
        #expect(store.count == 0)
        #expect(try store.value(forKey: "k7") == nil)
        #expect(Array(store.keys).isEmpty)
        for i in 0..<100 { try store.set("w", forKey: "again\(i)") }
        #expect(store.count == 100)
    }

    /// Iteration reports each live key once, never an expired one, and
    /// holds nothing between batches: writers go on mid-iteration.
    @Test(arguments: StoreKind.allCases)
    func keysAreTheLiveKeys(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock) { $0.capacity = 4096 }
        for i in 0..<3_000 { try store.set("v", forKey: "k\(i)", ttl: i % 3 == 0 ? .milliseconds(5) : nil) }
        clock.advance(by: .milliseconds(5))   // a third expired, none removed yet
        var iterator = store.keys.makeIterator()
        var seen: [String] = []
        if let first = iterator.next() { seen.append(String(decoding: first, as: UTF8.self)) }
        // Mid-iteration, from another thread: writes complete.
        let wrote = Atomic<Bool>(false)
        ConcurrencyStressTests.onThreads(1) { _ in
            try? store.set("x", forKey: "written meanwhile")
            wrote.store(true, ordering: .relaxed)
        }
        #expect(wrote.load(ordering: .relaxed) == true)
        while let key = iterator.next() { seen.append(String(decoding: key, as: UTF8.self)) }
        let expected = Set((0..<3_000).filter { $0 % 3 != 0 }.map { "k\($0)" })
        #expect(Set(seen).subtracting(["written meanwhile"]) == expected)
        #expect(seen.count == Set(seen).count)
    }

    /// Keys that stay put are all reported while writers churn others.
    @Test(arguments: StoreKind.allCases)
    func keysBesideWriters(kind: StoreKind) throws {
        let store = try kind.make(StoreConfiguration(capacity: 64))   // small: tables grow meanwhile
        for i in 0..<500 { try store.set("v", forKey: "stable\(i)") }
        let stop = Atomic<Bool>(false)
        let missing = Atomic<Int>(0)
        ConcurrencyStressTests.onThreads(2) { thread in
            if thread == 0 {
                var i = 0
                while !stop.load(ordering: .relaxed) {
                    try? store.set("v", forKey: "churn\(i % 5_000)", ttl: i % 2 == 0 ? .milliseconds(1) : nil)
                    if i % 3 == 0 { _ = try? store.removeValue(forKey: "churn\((i + 7) % 5_000)") }
                    i += 1
                }
            } else {
                for _ in 0..<20 {
                    let keys = Set(store.keys.map { String(decoding: $0, as: UTF8.self) })
                    missing.add((0..<500).filter { !keys.contains("stable\($0)") }.count, ordering: .relaxed)
                }
                stop.store(true, ordering: .relaxed)
            }
        }
        #expect(missing.load(ordering: .relaxed) == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func scanKeysRefusesACursorItDidNotMake(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        #expect(throws: StoreError.invalidCursor) {
            try store.scanKeys(from: ScanCursor(rawValue: .max), count: 1) { _ in }
        }
        var cursor: ScanCursor? = .start
        var keys = 0
        try store.set("v", forKey: "k")
        while let from = cursor { cursor = try store.scanKeys(from: from, count: 1) { _ in keys += 1 } }
        #expect(keys == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func subscriptReads(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set([1, 2, 3] as [UInt8], forKey: "k")
        #expect(try store["k"] == [1, 2, 3])
        #expect(try store["nothing"] == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func dataAndAnyContiguousBytes(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set(Data([9, 8, 7]), forKey: Data("data key".utf8))
        #expect(try store.data(forKey: "data key") == Data([9, 8, 7]))
        try store.set(Token(bytes: [1, 1]), forKey: Token(bytes: [2, 2]))
        #expect(try store.value(forKey: [2, 2] as [UInt8]) == [1, 1])
        func save<Bytes: ContiguousBytes>(_ bytes: Bytes, as key: String) throws {
            try store.set(ContiguousStoreBytes(bytes), forKey: key)
        }
        try save(Data([5]), as: "generic")
        #expect(try store.value(forKey: "generic") == [5])
        #expect(try store.data(forKey: "missing") == nil)
    }

    @Test(arguments: StoreKind.allCases)
    func codableValuesThroughAConfigurableCoder(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        let session = Session(user: "alice", roles: ["admin"], started: Date(timeIntervalSince1970: 1_700_000_000))
        try store.set(encoding: session, forKey: "default", ttl: .seconds(30))
        #expect(try store.value(Session.self, forKey: "default") == session)
        #expect(try store.timeToLive(forKey: "default") == .remaining(.seconds(30)))

        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let iso = JSONStoreCoder(encoder: encoder, decoder: decoder)
        try store.set(encoding: session, forKey: "iso", coder: iso)
        #expect(try store.string(forKey: "iso")?.contains("2023-11-14T22:13:20Z") == true)
        #expect(try store.value(Session.self, forKey: "iso", coder: iso) == session)
        #expect(try store.value(Session.self, forKey: "missing") == nil)
        #expect(throws: DecodingError.self) { try store.value(Int.self, forKey: "iso") }
    }

    // MARK: Get-or-insert

    /// Sixteen threads miss the same key at once: the loader runs once and
    /// every caller gets its value.
    @Test(arguments: StoreKind.allCases)
    func concurrentLoadsOfOneKeyRunTheLoaderOnce(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        for round in 0..<20 {
            let runs = Atomic<Int>(0)
            let results = Locked<[[UInt8]]>([])
            ConcurrencyStressTests.onThreads(16) { _ in
                let value = try? store.value(forKey: "key\(round)", ttl: .seconds(10)) {
                    runs.add(1, ordering: .relaxed)
                    usleep(2_000)   // slow enough for the others to arrive
                    return "loaded \(round)"
                }
                results.withLock { $0.append(value ?? []) }
            }
            #expect(runs.load(ordering: .relaxed) == 1)
            #expect(results.withLock { $0 }.allSatisfy { $0 == Array("loaded \(round)".utf8) })
        }
        #expect(try store.timeToLive(forKey: "key0") == .remaining(.seconds(10)))
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentAsyncLoadsOfOneKeyRunTheLoaderOnce(kind: StoreKind) async throws {
        let store = try kind.make(clock: ManualClock())
        let runs = Locked(0)
        let values = try await withThrowingTaskGroup(of: Session.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    try await store.value(Session.self, forKey: "session") {
                        runs.withLock { $0 += 1 }
                        try await Task.sleep(for: .milliseconds(20))
                        return Session(user: "bob", roles: [], started: Date(timeIntervalSince1970: 0))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.withLock { $0 } == 1)
        #expect(values.count == 32 && values.allSatisfy { $0.user == "bob" })
        #expect(try store.value(Session.self, forKey: "session")?.user == "bob")
    }

    struct LoadFailed: Error {}

    /// A failing loader fails every caller waiting for it and stores
    /// nothing; the next call loads again. A hit never calls the loader.
    @Test(arguments: StoreKind.allCases)
    func aFailedLoadStoresNothing(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        let failures = Atomic<Int>(0)
        ConcurrencyStressTests.onThreads(8) { _ in
            do {
                _ = try store.value(forKey: "k") { () throws -> [UInt8] in
                    usleep(2_000)
                    throw LoadFailed()
                }
            } catch is LoadFailed {
                failures.add(1, ordering: .relaxed)
            } catch {}
        }
        #expect(failures.load(ordering: .relaxed) == 8)
        #expect(store.count == 0)
        #expect(try store.value(forKey: "k") { "second try" } == Array("second try".utf8))
        #expect(try store.value(forKey: "k") { () throws -> String in throw LoadFailed() } == Array("second try".utf8))
    }

    /// A value set while the loader runs wins, for the loader's caller too.
    @Test(arguments: StoreKind.allCases)
    func aValueSetDuringTheLoadWins(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        let got = try store.value(forKey: "k") {
            try store.set("set meanwhile", forKey: "k")
            return "loaded"
        }
        #expect(got == Array("set meanwhile".utf8))
        #expect(try store.string(forKey: "k") == "set meanwhile")
    }

    @Test(arguments: StoreKind.allCases)
    func aLoaderThatAsksForItsOwnKeyIsRefused(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        #expect(throws: StoreError.recursiveLoad) {
            try store.value(forKey: "k") { try store.value(forKey: "k") { "inner" } }
        }
        #expect(store.count == 0)
    }

    /// Synchronous and asynchronous callers of one key, mixed: all get the
    /// same value, and no synchronous caller waits for an asynchronous
    /// loader (it loads alone, and the first value stored wins).
    @Test(arguments: StoreKind.allCases)
    func mixedSyncAndAsyncCallersAgree(kind: StoreKind) async throws {
        let store = try kind.make(clock: ManualClock())
        let values = Locked<Set<[UInt8]>>([])
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    let value = i % 2 == 0
                        ? try? await store.value(forKey: "k") { () async throws -> String in
                            try await Task.sleep(for: .milliseconds(5))
                            return "async"
                        }
                        : try? store.value(forKey: "k") { () throws -> String in
                            usleep(5_000)
                            return "sync"
                        }
                    values.withLock { _ = $0.insert(value ?? []) }
                }
            }
        }
        #expect(values.withLock { $0.count } == 1)
    }

    // MARK: Counters, errors, edge cases

    @Test(arguments: StoreKind.allCases)
    func hitsAndMissesAreCounted(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "k", ttl: .milliseconds(10))
        _ = try store.value(forKey: "k")
        _ = try store.string(forKey: "k")
        _ = try store["nothing"]
        _ = try store.value(forKey: String(repeating: "x", count: 100))   // too long to exist
        clock.advance(by: .milliseconds(10))
        _ = try store.value(forKey: "k")                                    // expired
        _ = try store.value(forKey: "loaded") { "v" }                       // a miss, then loads
        _ = try store.value(forKey: "loaded") { "unused" }                  // a hit
        let stats = store.statistics
        #expect(stats.hits == 3)
        #expect(stats.misses == 4)
    }

    /// Counts stay exact with many reading threads, and with more threads
    /// over time than stripes (short-lived threads leave their claims).
    @Test(arguments: StoreKind.allCases)
    func hitsAndMissesAreExactAcrossThreads(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        try store.set("v", forKey: "present")
        for _ in 0..<10 {
            ConcurrencyStressTests.onThreads(8) { thread in
                for i in 0..<1_000 {
                    _ = try? store.value(forKey: (i + thread) % 2 == 0 ? "present" : "absent")
                }
            }
        }
        let stats = store.statistics
        #expect(stats.hits == 40_000)
        #expect(stats.misses == 40_000)
    }

    @Test func errorsDescribeThemselves() {
        let error: any Error = StoreError.full
        #expect(error.localizedDescription == "The store holds its maximum number of entries.")
        #expect("\(error)" == "StoreError.full: The store holds its maximum number of entries.")
        #expect(!error.localizedDescription.contains("could not be completed"))
        for each in [StoreError.keyTooLarge, .valueTooLarge, .invalidTTL, .full, .outOfMemory, .invalidConfiguration,
                     .closed, .writeDuringRead, .invalidCursor, .recursiveLoad, .unexpectedStatus] {
            #expect(each.errorDescription?.isEmpty == false)
            #expect(each.description.hasPrefix("StoreError."))
        }
        var configuration = StoreConfiguration()
        configuration.shards = 0
        #expect {
            try Store(configuration: configuration)
        } throws: { error in
            guard let error = error as? StoreError, error == .invalidConfiguration else { return false }
            return error.localizedDescription.contains("shards must be in 1...4096")
        }
    }

    @Test func errorsMatchInASwitchWithADefault() {
        func kind(_ error: StoreError) -> String {
            switch error {
            case .full: "full"
            case .keyTooLarge, .valueTooLarge: "too large"
            default: "other"
            }
        }
        #expect(kind(.full) == "full")
        #expect(kind(.valueTooLarge) == "too large")
        #expect(kind(.closed) == "other")
        #expect(StoreError.full != StoreError.closed)
    }

    /// A key longer than the maximum cannot exist: lookups find nothing,
    /// writes are refused.
    @Test(arguments: StoreKind.allCases)
    func anOversizedKeyIsNeverThere(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        let long = String(repeating: "k", count: 65)
        #expect(try store.value(forKey: long) == nil)
        #expect(try store.timeToLive(forKey: long) == nil)
        #expect(try store.removeValue(forKey: long) == false)
        #expect(try store.expire(long, after: .seconds(1)) == false)
        #expect(try store.persist(long) == false)
        #expect(throws: StoreError.keyTooLarge) { try store.set("v", forKey: long) }
        #expect(throws: StoreError.keyTooLarge) { try store.insertIfAbsent("v", forKey: long) }
    }

    @Test(arguments: StoreKind.allCases)
    func insertIfAbsentNeedsNoTTL(kind: StoreKind) throws {
        let store = try kind.make(clock: ManualClock())
        #expect(try store.insertIfAbsent("first", forKey: "k"))
        #expect(try store.insertIfAbsent("second", forKey: "k") == false)
        #expect(try store.timeToLive(forKey: "k") == .never)
        #expect(try store.string(forKey: "k") == "first")
    }

    /// After close: the store is empty, reports its final statistics, and
    /// refuses everything else; listeners and event sequences have ended.
    @Test(arguments: StoreKind.allCases)
    func aClosedStore(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let events = store.expiryEvents
        try store.set("v", forKey: "live")
        try store.set("v", forKey: "expired", ttl: .milliseconds(5))
        _ = try store.value(forKey: "live")
        clock.advance(by: .milliseconds(5))
        store.close()
        store.close()   // idempotent

        #expect(store.count == 0)
        #expect(Array(store.keys).isEmpty)
        let stats = store.statistics
        #expect(stats.entries == 0)     // the memory went back at close
        #expect(stats.hits == 1)
        #expect(stats.expired == 1)     // found expired by the close
        var received: [ExpiryEvent] = []
        for await event in events { received.append(event) }
        #expect(received.map(\.key) == [Array("expired".utf8)])
        for await _ in store.expiryEvents { Issue.record("a closed store's sequence must be empty") }

        #expect(throws: StoreError.closed) { try store.addExpiryListener { _ in } }
        #expect(throws: StoreError.closed) { try store.set("v", forKey: "k") }
        #expect(throws: StoreError.closed) { try store.insertIfAbsent("v", forKey: "k") }
        #expect(throws: StoreError.closed) { try store.value(forKey: "k") }
        #expect(throws: StoreError.closed) { try store.removeValue(forKey: "k") }
        #expect(throws: StoreError.closed) { try store.removeAll() }
        #expect(throws: StoreError.closed) { try store.timeToLive(forKey: "k") }
        #expect(throws: StoreError.closed) { try store.expire("k", after: .seconds(1)) }
        #expect(throws: StoreError.closed) { try store.expire("k", after: .zero) }
        #expect(throws: StoreError.closed) { try store.persist("k") }
        #expect(throws: StoreError.closed) { try store.scanKeys(from: .start, count: 1) { _ in } }
        #expect(throws: StoreError.closed) { try store.value(forKey: "k") { "loaded" } }
    }
}
