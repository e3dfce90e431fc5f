#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import TTLKV

/// ``StoreConfiguration/maximumBytes``: the budget holds, evictions are
/// reported exactly once, scans do not flush what is read, and a write that
/// can never fit changes nothing, on both stores.
@Suite struct MemoryBudgetTests {
    static let budgeted = StoreKind.allCases

    private func makeStore(_ kind: StoreKind, budget: Int = 1 << 20, capacity: Int = 1024,
                           clock: ManualClock = ManualClock()) throws -> any ManagedStore {
        var configuration = StoreConfiguration(capacity: capacity)
        configuration.maximumBytes = budget
        configuration.clock = .manual(clock)
        return try kind.make(configuration)
    }

    /// Written to ten times its budget with keys and values of random sizes,
    /// the store never counts more than its budget, and it evicts.
    @Test(arguments: budgeted)
    func theBudgetHoldsUnderTenTimesItsSize(kind: StoreKind) throws {
        let budget = 1 << 20
        let store = try makeStore(kind, budget: budget)
        var generator = SeededGenerator(seed: 7)
        var written = 0, index = 0
        while written < 10 * budget {
            let value = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: Int.random(in: 0...4000, using: &generator))
            let key = "key:\(index):" + String(repeating: "k", count: Int.random(in: 0...40, using: &generator))
            try store.set(value, forKey: key)
            written += key.utf8.count + value.count
            index += 1
            let used = store.statistics.usedBytes
            #expect(used <= budget, "after \(index) writes: \(used) bytes counted")
            if used > budget { break }
        }
        let stats = store.statistics
        #expect(stats.evicted > 0)
        #expect(stats.usedBytes > budget / 2, "a full store uses most of its budget: \(stats.usedBytes)")
        #expect(stats.entries + stats.evicted == index)
    }

    static let churnValue = [UInt8](repeating: 0x76, count: 32)

    /// A store of 4 MiB on the system clock, sized for 16-byte keys with
    /// 32-byte values, for the churn tests below; and its budget.
    private func makeChurnStore(_ kind: StoreKind) throws -> (any ManagedStore, budget: Int) {
        let budget = 4 << 20
        var configuration = StoreConfiguration(capacity: max(1024, budget / 98 / 4))
        configuration.maximumBytes = budget
        return (try kind.make(configuration), budget)
    }

    /// Cache-aside churn with expiry tracking on (the Store always tracks):
    /// 200,000 distinct 16-byte keys with 32-byte values set in a tight
    /// loop into a 4 MiB budget. The records of evicted keys wait for the
    /// worker, but they never displace the entries nor refuse a set, and the
    /// store never counts more than its budget (issue 19).
    @Test(arguments: budgeted)
    func evictionRecordsNeverStarveWrites(kind: StoreKind) throws {
        let (store, budget) = try makeChurnStore(kind)
        var refused = 0, over = 0, full = 0, fewest = Int.max
        for index in 0..<200_000 {
            let key = "key:" + String(index + 100_000_000_000, radix: 10)
            do { try store.set(Self.churnValue, forKey: key) } catch { refused += 1 }
            let stats = store.statistics
            if stats.usedBytes > budget { over += 1 }
            // Entries once the first evictions began, and the fewest after.
            if stats.evicted > 0 {
                if full == 0 { full = stats.entries }
                fewest = min(fewest, stats.entries)
            }
        }
        let entries = store.statistics.entries
        #expect(refused == 0, "\(refused) of 200000 sets refused; \(entries) entries left")
        #expect(over == 0, "usedBytes passed the budget after \(over) sets")
        #expect(fewest * 10 >= full * 9, "\(full) entries when eviction began, as few as \(fewest) later")
    }

    /// The same churn as one batched set: the items refused while the
    /// records of the batch's own evictions filled their slice are written
    /// again once the worker drained them, as a single set is.
    @Test(arguments: budgeted)
    func aBatchedSetWaitsForDrainsToo(kind: StoreKind) throws {
        let (store, budget) = try makeChurnStore(kind)
        let items = (0..<200_000).map {
            (key: "key:" + String($0 + 100_000_000_000, radix: 10), value: Self.churnValue, ttl: Duration?.none)
        }
        #expect(throws: Never.self) { try store.set(items) }
        let stats = store.statistics
        #expect(stats.usedBytes <= budget)
        #expect(stats.entries + stats.evicted == items.count)
    }

    /// A budgeted one-shard store with values up to 1 MiB on a manual clock.
    private func makeOneShardStore(_ kind: StoreKind, clock: ManualClock) throws -> any ManagedStore {
        var configuration = StoreConfiguration(capacity: 64)
        configuration.maximumBytes = 1 << 20
        configuration.shards = 1
        configuration.maximumValueSize = 1 << 20
        configuration.clock = .manual(clock)
        return try kind.make(configuration)
    }

    /// A key whose deadline has passed, written again with a larger value
    /// when the store is full, is replaced, never evicted as the write's
    /// own victim: it reads back, counts as expired once, and a removal
    /// removes it (found by review: NativeStore evicted it, then stored the
    /// new entry where lookups could not see it).
    @Test(arguments: budgeted)
    func anExpiredKeyWrittenAgainWhenFullIsReplaced(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try makeOneShardStore(kind, clock: clock)
        try store.set([UInt8](repeating: 1, count: 20_000), forKey: "k", ttl: .milliseconds(5))
        for filler in 0..<40 {
            try store.set([UInt8](repeating: 2, count: 20_000), forKey: "filler:\(filler)")
        }
        #expect(store.statistics.evicted == 0)
        clock.advance(by: .milliseconds(10))
        // Needs room: the first candidate is "k" itself, at small's head.
        let value = [UInt8](repeating: 3, count: 250_000)
        try store.set(value, forKey: "k")
        #expect(try store.value(forKey: "k") == value)
        #expect(store.statistics.expired <= 1)
        #expect(store.statistics.usedBytes <= 1 << 20)
        try store.set("x", forKey: "k")
        #expect(try store.removeValue(forKey: "k"))
        #expect(try store.value(forKey: "k") == nil)
    }

    /// A key that fills most of the store, written again a little larger
    /// while a small key waits in the small queue, evicts what it must and
    /// returns (found by review: NativeStore rotated the key it replaces
    /// through the main queue forever, holding the shard's lock).
    @Test(.timeLimit(.minutes(1)), arguments: budgeted)
    func rewritingTheOnlyLargeKeyEndsAndFits(kind: StoreKind) throws {
        let store = try makeOneShardStore(kind, clock: ManualClock())
        try store.set([UInt8](repeating: 1, count: 945_000), forKey: "x")
        try store.set([UInt8](repeating: 2, count: 945_000), forKey: "y")
        try store.set([UInt8](repeating: 3, count: 20_000), forKey: "a")
        let larger = [UInt8](repeating: 4, count: 965_000)
        do {
            try store.set(larger, forKey: "y")
            #expect(try store.value(forKey: "y") == larger)
        } catch let error as StoreError {
            // Refusing is allowed, changing something then is not.
            #expect(error == .outOfMemory)
            #expect(try store.value(forKey: "y")?.count == 945_000)
        }
        #expect(store.statistics.usedBytes <= 1 << 20)
    }

    /// TTLs set in a tight loop on keys that had none: each appends a
    /// record for the worker, which needs room as a write's records do, so
    /// the store never counts more than its budget (found by review: the C
    /// core's ttlkv_set_ttl and NativeStore appended without a check).
    @Test(arguments: budgeted)
    func settingTimeToLiveStaysWithinTheBudget(kind: StoreKind) throws {
        let store = try makeOneShardStore(kind, clock: ManualClock())
        var written = 0
        while store.statistics.evicted == 0 {
            try store.set(Self.churnValue, forKey: "key:\(100_000_000_000 + written)")
            written += 1
        }
        // The worker stays in this listener from its first delivery (the
        // fill's evictions) on, so that nothing drains the records.
        let gate = WorkerGate()
        let token = try store.addExpiryListener { _ in gate.hold() }
        defer { gate.release(); token.cancel() }
        #expect(gate.awaitHeld(), "the worker never delivered the fill's evictions")
        var over = 0, refused = 0, index = 0
        // A refusal waits 100 ms for a drain that cannot come: a few do.
        while index < written && refused < 3 {
            do { try store.expire("key:\(100_000_000_000 + index)", after: .seconds(3600)) } catch { refused += 1 }
            if store.statistics.usedBytes > 1 << 20 { over += 1 }
            index += 1
        }
        #expect(over == 0, "usedBytes passed the budget after \(over) of \(index) TTLs (\(refused) refused)")
    }

    /// Every key written is, at the end, either still there or reported
    /// evicted, exactly once, with its cause, from several threads.
    @Test(arguments: budgeted)
    func everyEvictionIsReportedOnce(kind: StoreKind) async throws {
        let store = try makeStore(kind, budget: 2 << 20)
        let events = Mutex<[ExpiryEvent]>([])
        let token = try store.addExpiryListener { batch in events.withLock { $0.append(contentsOf: batch) } }
        let threads = 4, perThread = 5000
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    for i in 0..<perThread {
                        try? store.set([UInt8](repeating: 1, count: 600), forKey: "t\(thread):\(i)")
                    }
                }
            }
        }
        store.close()   // reports what is left
        token.cancel()
        let evicted = events.withLock { $0 }
        #expect(evicted.allSatisfy { $0.cause == .evicted })
        let names = evicted.map { String(decoding: $0.key, as: UTF8.self) }
        #expect(Set(names).count == names.count, "a key reported twice")
        #expect(names.count == store.statistics.evicted)
        #expect(store.statistics.evicted > 0)
        #expect(store.statistics.entries == 0 || store.statistics.entries + names.count == threads * perThread)
    }

    /// A hot set read over and over survives a scan of keys written once,
    /// which would flush a plain FIFO or LRU of the same size.
    @Test(arguments: budgeted)
    func aScanDoesNotFlushTheHotSet(kind: StoreKind) throws {
        let store = try makeStore(kind, budget: 1 << 20, capacity: 4096)
        let value = [UInt8](repeating: 3, count: 200)
        let hot = (0..<500).map { "hot:\($0)" }
        for key in hot { try store.set(value, forKey: key) }
        for round in 0..<3 { for key in hot { _ = try store.value(forKey: key) }; _ = round }
        // Many times the budget of keys that are never read.
        for i in 0..<50_000 { try store.set(value, forKey: "scan:\(i)") }
        let survivors = try hot.filter { try store.value(forKey: $0) != nil }.count
        #expect(survivors >= 450, "\(survivors) of 500 hot keys left after the scan")
    }

    /// A value that could never fit in a shard's share throws its own error
    /// and leaves the store as it was.
    @Test(arguments: budgeted)
    func aWriteThatCanNeverFitChangesNothing(kind: StoreKind) throws {
        let store = try makeStore(kind, budget: 1 << 20)
        try store.set("kept", forKey: "a")
        try store.set("old", forKey: "b")
        let before = store.statistics
        #expect(throws: StoreError.exceedsMemoryBudget) {
            try store.set([UInt8](repeating: 0, count: 2 << 20), forKey: "b")
        }
        #expect(throws: StoreError.exceedsMemoryBudget) {
            try store.set([UInt8](repeating: 0, count: 2 << 20), forKey: "c")
        }
        #expect(try store.string(forKey: "a") == "kept")
        #expect(try store.string(forKey: "b") == "old")
        #expect(try store.value(forKey: "c") == nil)
        #expect(store.statistics.entries == before.entries && store.statistics.evicted == 0)
    }

    /// Store's eviction scopes (the server's maxmemory policies): keys
    /// without a TTL survive under keysWithTimeToLive, and under none a
    /// write that does not fit throws outOfMemory and changes nothing.
    @Test func storeEvictsOnlyWhatItsScopeAllows() throws {
        let clock = ManualClock()
        let store = try makeStore(.ck, budget: 1 << 20, clock: clock) as! Store
        #expect(store.evictionScope == .allKeys)
        store.evictionScope = .keysWithTimeToLive
        let value = [UInt8](repeating: 5, count: 1000)
        for i in 0..<200 { try store.set(value, forKey: "keep:\(i)") }
        for i in 0..<3000 { try? store.set(value, forKey: "ttl:\(i)", ttl: .seconds(600)) }
        #expect(store.statistics.evicted > 0)
        #expect(try (0..<200).allSatisfy { try store.value(forKey: "keep:\($0)") != nil })
        store.evictionScope = .none
        #expect(store.evictionScope == .none)
        let evicted = store.statistics.evicted
        var refused = false
        for i in 0..<3000 where !refused {
            do { try store.set(value, forKey: "more:\(i)") } catch let error as StoreError {
                #expect(error == .outOfMemory)
                #expect(try store.value(forKey: "more:\(i)") == nil)
                refused = true
            }
        }
        #expect(refused)
        #expect(store.statistics.evicted == evicted)
    }

    @Test(arguments: budgeted)
    func aBudgetMustHoldItsTables(kind: StoreKind) throws {
        var tooSmall = StoreConfiguration(capacity: 16)
        tooSmall.maximumBytes = 1000
        #expect(throws: StoreError.invalidConfiguration) { try kind.make(tooSmall) }
        var tablesTooBig = StoreConfiguration(capacity: 10_000_000)
        tablesTooBig.maximumBytes = 16 << 20
        #expect(throws: StoreError.invalidConfiguration) { try kind.make(tablesTooBig) }
    }
}

/// A small deterministic generator (SplitMix64), so that a failing size
/// sequence can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Holds the expiry worker inside a listener until released.
private final class WorkerGate: Sendable {
    private let held = Atomic<Bool>(false)
    private let released = Atomic<Bool>(false)

    /// Called on the worker's thread: waits until ``release()``.
    func hold() {
        held.store(true, ordering: .releasing)
        while !released.load(ordering: .acquiring) { usleep(1000) }
    }

    /// Whether the worker got held within five seconds.
    func awaitHeld() -> Bool {
        for _ in 0..<5000 where !held.load(ordering: .acquiring) { usleep(1000) }
        return held.load(ordering: .acquiring)
    }

    func release() {
        released.store(true, ordering: .releasing)
    }
}
