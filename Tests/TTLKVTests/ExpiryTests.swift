import Synchronization
import Testing
import TTLKV

/// Waits (polling every 2 ms) until `condition` holds or `timeout` passes;
/// returns whether it held.
func eventually(within timeout: Duration = .seconds(5), _ condition: () throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let end = clock.now + timeout
    while clock.now < end {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return try condition()
}

/// The expiry worker end to end, on both stores.
@Suite struct ExpiryTests {
    /// On the real clock, whose cheap coarse reading lags by up to a kernel
    /// tick: keys with TTLs of 1-6 ms, put at random phases of the tick, are
    /// never seen gone before their full TTL has passed since the put began.
    @Test(arguments: StoreKind.allCases)
    func aKeyNeverExpiresEarly(kind: StoreKind) throws {
        let store = try kind.make(StoreConfiguration(capacity: 64))
        let clock = ContinuousClock()
        var early = 0
        for _ in 0..<200 {
            let phase = clock.now + .microseconds(Int.random(in: 0..<5000))
            while clock.now < phase {}
            let ttl = Duration.milliseconds(Int.random(in: 1...6))
            let begun = clock.now
            try store.set("v", forKey: "k", ttl: ttl)
            while try store.value(forKey: "k") != nil {}
            if clock.now - begun < ttl { early += 1 }
        }
        #expect(early == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func expiredKeysAreRemovedAndOthersSurvive(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "soon", ttl: .milliseconds(100))
        try store.set("v", forKey: "later", ttl: .seconds(10))
        try store.set("v", forKey: "never")
        try store.set("v", forKey: "rewritten", ttl: .milliseconds(100))
        try store.set("v2", forKey: "rewritten")
        #expect(await eventually { store.statistics.pendingExpiryRecords == 3 })

        clock.advance(by: .milliseconds(150))
        #expect(await eventually { store.count == 3 })
        #expect(try store.value(forKey: "soon") == nil)
        #expect(try store.string(forKey: "rewritten") == "v2")
        #expect(await eventually { store.statistics.pendingExpiryRecords == 1 })
        let stats = store.statistics
        #expect(stats.keysExpiredByWorker == 1)
        #expect(stats.expired == 1)
        #expect(stats.expiryLag.totalCount == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func rewriteWithALaterDeadlineReschedulesOneRecord(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "k", ttl: .milliseconds(100))
        clock.advance(by: .milliseconds(50))
        try store.set("v", forKey: "k", ttl: .milliseconds(200))  // due at 250
        #expect(await eventually { store.statistics.pendingExpiryRecords == 1 })
        clock.advance(by: .milliseconds(100))                      // first deadline passes
        #expect(await eventually { store.statistics.pendingExpiryRecords == 1 && store.statistics.expired == 0 })
        try await Task.sleep(for: .milliseconds(30))
        #expect(try store.string(forKey: "k") == "v")
        clock.advance(by: .milliseconds(100))                      // at the deadline: gone for readers
        #expect(try store.string(forKey: "k") == nil)
        clock.advance(by: .milliseconds(10))                       // its tick is over: removed
        // The worker removes the key, then settles its record count.
        #expect(await eventually { store.count == 0 && store.statistics.pendingExpiryRecords == 0 })
    }

    @Test(arguments: StoreKind.allCases)
    func removalAndPersistBeforeExpiryDropTheRecord(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "removed", ttl: .milliseconds(100))
        try store.set("v", forKey: "persisted", ttl: .milliseconds(100))
        #expect(try store.removeValue(forKey: "removed"))
        #expect(try store.persist("persisted"))
        clock.advance(by: .milliseconds(200))
        #expect(await eventually { store.statistics.pendingExpiryRecords == 0 })
        #expect(try store.string(forKey: "persisted") == "v")
        #expect(store.statistics.keysExpiredByWorker == 0)
        // Re-inserting a removed key gets a record of its own.
        try store.set("v", forKey: "removed", ttl: .milliseconds(10))
        clock.advance(by: .milliseconds(20))
        #expect(await eventually { store.count == 1 })
    }

    @Test(arguments: StoreKind.allCases)
    func slidingRewritesKeepAboutOneRecordPerKey(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        for round in 0..<2_000 {
            for key in 0..<10 {
                try store.set("\(round)", forKey: "key\(key)", ttl: .seconds(1))
            }
            if round % 2 == 0 {
                _ = try store.expire("key0", after: .seconds(2))   // touch: later deadline
            }
            clock.advance(by: .milliseconds(1))
        }
        #expect(await eventually { store.statistics.pendingExpiryRecords <= 10 * 2 })
        #expect(store.count == 10)
    }

    @Test(arguments: StoreKind.allCases)
    func shorteningATTLAddsARecordThatFiresOnTime(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("v", forKey: "k", ttl: .seconds(3600))
        #expect(try store.expire("k", after: .milliseconds(50)))
        clock.advance(by: .milliseconds(60))
        #expect(await eventually { store.count == 0 })
    }

    @Test(arguments: StoreKind.allCases)
    func listenersHearOfEveryExpiry(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let heard = Mutex<[ExpiryEvent]>([])
        let token = try store.addExpiryListener { events in heard.withLock { $0.append(contentsOf: events) } }
        defer { token.cancel() }
        for i in 0..<50 { try store.set("v", forKey: "k\(i)", ttl: .milliseconds(100)) }
        try store.set("v", forKey: "stays")
        clock.advance(by: .milliseconds(120))
        #expect(await eventually { heard.withLock { $0.count } == 50 })
        let events = heard.withLock { $0 }
        #expect(Set(events.map { String(decoding: $0.key, as: UTF8.self) }) == Set((0..<50).map { "k\($0)" }))
        #expect(events.allSatisfy { $0.removedAt >= $0.deadline && $0.lag >= .zero })
    }

    /// 100,000 keys with a short TTL on the real clock: gone from `count`
    /// within a second (plus a few ticks) of their deadline, while keys
    /// without TTL and keys rewritten without TTL stay. The lag is the one
    /// the worker records at each removal: polling from this test would
    /// also measure how long the shared test pool took to run it again.
    @Test(arguments: StoreKind.allCases)
    func hundredThousandKeysVanishOnTheRealClock(kind: StoreKind) async throws {
        let store = try kind.make(StoreConfiguration(capacity: 110_000))
        let ttl = Duration.milliseconds(300)
        for i in 0..<100_000 { try store.set("v", forKey: "short\(i)", ttl: ttl) }
        for i in 0..<1_000 { try store.set("v", forKey: "forever\(i)") }
        for i in 0..<1_000 {
            try store.set("v", forKey: "rewritten\(i)", ttl: ttl)
            try store.set("w", forKey: "rewritten\(i)")
        }
        #expect(await eventually(within: .seconds(10)) { store.count == 2_000 })
        #expect(await eventually { store.statistics.keysExpiredByWorker == 100_000 })
        let lag = store.statistics.expiryLag
        #expect(lag.totalCount == 100_000)
        #expect(lag.max <= 1_050, "the last key went \(lag.max) ms after its deadline")
        #expect(try store.string(forKey: "forever7") == "v")
        #expect(try store.string(forKey: "rewritten7") == "w")
    }
}
