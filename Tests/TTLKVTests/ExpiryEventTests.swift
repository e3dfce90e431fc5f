#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@_spi(Internals) @testable import TTLKV

/// Collects every event a store reports, through a listener whose token it
/// keeps.
final class EventLog: Sendable {
    let events = Locked<[ExpiryEvent]>([])
    private let token: ExpiryListenerToken

    init(_ store: any ManagedStore) throws {
        let events = events
        token = try store.addExpiryListener { batch in events.withLock { $0.append(contentsOf: batch) } }
    }

    var keys: [String] {
        events.withLock { $0.map { String(decoding: $0.key, as: UTF8.self) } }
    }

    var count: Int { events.withLock { $0.count } }
}

/// Expiry events on both stores: one per counted expiry whoever removed the
/// key, listener tokens, no retain cycle through the worker, the
/// AsyncSequence with its bounded buffer, instants and durations.
@Suite struct ExpiryEventTests {
    /// The case first (a key expired and overwritten before the
    /// worker reached it was counted but never reported), then every other
    /// way an expired entry can go: each is reported exactly once, and the
    /// events add up to `statistics.expired`.
    @Test(arguments: StoreKind.allCases)
    func everyCountedExpiryIsReportedOnce(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let log = try EventLog(store)
        for name in ["overwritten", "inserted", "removed", "cleared", "touched"] {
            try store.set("v", forKey: name, ttl: .milliseconds(10))
        }
        // At the deadline the keys are expired, but their tick is not over:
        // the worker has not removed them, the writes below do.
        clock.advance(by: .milliseconds(10))
        try store.set("new", forKey: "overwritten")
        #expect(try store.insertIfAbsent("new", forKey: "inserted"))
        #expect(try store.removeValue(forKey: "removed") == false)
        #expect(try store.expire("touched", after: .seconds(1)) == false)   // expired: untouched, not removed
        try store.set("live", forKey: "kept")
        #expect(store.statistics.expired == 3)
        try store.removeAll()                                                 // "cleared" and "touched"
        #expect(store.statistics.expired == 5)
        #expect(await eventually { log.count == 5 })
        #expect(Set(log.keys) == ["overwritten", "inserted", "removed", "cleared", "touched"])
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.count == 5)
        let start = StoreClock.Instant(sinceOrigin: .seconds(1))
        #expect(log.events.withLock { $0 }.allSatisfy { $0.deadline == start.advanced(by: .milliseconds(10)) })
    }

    /// Keys expired by the worker and keys found expired by writes, mixed,
    /// many at once: the events and the counter agree, with no duplicate.
    @Test(arguments: StoreKind.allCases)
    func eventsMatchTheExpiredCounterUnderMixedRemovals(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock) { $0.capacity = 4096 }
        let log = try EventLog(store)
        for i in 0..<2_000 { try store.set("v", forKey: "k\(i)", ttl: .milliseconds(5 + UInt64(i % 7))) }
        clock.advance(by: .milliseconds(20))
        for i in stride(from: 0, to: 2_000, by: 3) { try store.set("w", forKey: "k\(i)") }
        for i in stride(from: 1, to: 2_000, by: 3) { try store.removeValue(forKey: "k\(i)") }
        #expect(await eventually { store.statistics.expired == 2_000 && log.count == 2_000 })
        #expect(Set(log.keys).count == 2_000)
        #expect(store.statistics.expired == 2_000)
    }

    /// A listener added while the worker is in the middle of a mass expiry
    /// hears of every key removed after it was added. The worker used to
    /// decide at the start of each round whether anyone listened, so the
    /// rest of a round that was under way lost its events (the server's
    /// first `expired` after `CONFIG SET notify-keyspace-events`, once in a
    /// while). Listeners are added a millisecond apart through the expiry,
    /// from a thread of their own, so that other tests on the cooperative
    /// pool cannot hold them back until it is over; 4,000 keys a tick make
    /// it last at least 25 ticks however fast the machine. The first
    /// listener may miss the one key whose removal was under way as it was
    /// added (ExpiryReport.swift): a batch's worth of slack.
    @Test(arguments: StoreKind.allCases)
    func aListenerAddedDuringARoundHearsEveryLaterExpiry(kind: StoreKind) async throws {
        let keys = 100_000
        let clock = ManualClock()
        let store = try kind.make(clock: clock) {
            $0.capacity = 2 * keys
            $0.expiryBudget.itemsPerTick = 4_000
        }
        for i in 0..<keys { try store.set("v", forKey: "k\(i)", ttl: .milliseconds(10)) }
        let logs = Mutex<[(log: EventLog, expiredBefore: Int)]>([])
        clock.advance(by: .milliseconds(20))
        ConcurrencyStressTests.onThreads(1) { _ in
            let start = ContinuousClock.now
            while store.statistics.expired == 0 && ContinuousClock.now - start < .seconds(60) { usleep(100) }
            while logs.withLock({ $0.count }) < 20, store.statistics.expired < keys, let log = try? EventLog(store) {
                let expiredBefore = store.statistics.expired
                logs.withLock { $0.append((log, expiredBefore)) }
                usleep(1000)
            }
        }
        let added = logs.withLock { $0 }
        #expect(added.contains { $0.expiredBefore < keys })
        // Generous: under ThreadSanitizer, beside the stress suites.
        #expect(await eventually(within: .seconds(120)) { store.statistics.expired == keys })
        for (log, expiredBefore) in added {
            #expect(await eventually(within: .seconds(30)) { log.count >= keys - expiredBefore - 64 },
                    "\(log.count) < \(keys - expiredBefore) - 64")
        }
    }

    /// `expire(after:)` with zero or a negative duration removes the key, as
    /// Redis's EXPIRE does; that is a removal, not an expiry.
    @Test(arguments: StoreKind.allCases)
    func expireWithANonPositiveDurationRemoves(kind: StoreKind) async throws {
        let store = try kind.make(clock: ManualClock())
        let log = try EventLog(store)
        try store.set("v", forKey: "zero")
        try store.set("v", forKey: "negative", ttl: .seconds(5))
        #expect(try store.expire("zero", after: .zero))
        #expect(try store.expire("negative", after: .seconds(-3)))
        #expect(try store.expire("absent", after: .zero) == false)
        #expect(try store.value(forKey: "zero") == nil)
        #expect(try store.value(forKey: "negative") == nil)
        #expect(store.count == 0)
        try await Task.sleep(for: .milliseconds(30))
        #expect(store.statistics.expired == 0)
        #expect(log.count == 0)
    }

    @Test(arguments: StoreKind.allCases)
    func cancellingOrDroppingTheTokenRemovesTheListener(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let kept = Atomic<Int>(0), cancelled = Atomic<Int>(0), dropped = Atomic<Int>(0)
        let keptToken = try store.addExpiryListener { kept.add($0.count, ordering: .relaxed) }
        let cancelledToken = try store.addExpiryListener { cancelled.add($0.count, ordering: .relaxed) }
        var droppedToken: ExpiryListenerToken? = try store.addExpiryListener { dropped.add($0.count, ordering: .relaxed) }
        #expect(droppedToken != nil)
        cancelledToken.cancel()
        cancelledToken.cancel()   // idempotent
        droppedToken = nil
        try store.set("v", forKey: "k", ttl: .milliseconds(5))
        clock.advance(by: .milliseconds(20))
        #expect(await eventually { kept.load(ordering: .relaxed) == 1 })
        try await Task.sleep(for: .milliseconds(30))
        #expect(cancelled.load(ordering: .relaxed) == 0)
        #expect(dropped.load(ordering: .relaxed) == 0)
        withExtendedLifetime(keptToken) {}
    }

    /// The leak: 20 stores, each with a listener that captures its
    /// store, dropped (tokens too) left 22 threads. Now each store and its
    /// worker (which its thread holds until the thread ends) are freed.
    @Test(arguments: StoreKind.allCases)
    func droppedStoresLeaveNoWorkerThreads(kind: StoreKind) throws {
        var stores: [(store: Weak<AnyObject>, worker: Weak<ExpiryWorker>)] = []
        do {
            var tokens: [ExpiryListenerToken] = []
            for _ in 0..<20 {
                let store = try kind.make(clock: ManualClock())
                tokens.append(try store.addExpiryListener { _ in _ = store.count })
                stores.append((Weak(store), Weak(worker(of: store))))
            }
            #expect(stores.allSatisfy { $0.store.value != nil && $0.worker.value != nil })
        }
        #expect(stores.allSatisfy { $0.store.value == nil })
        #expect(stores.allSatisfy { $0.worker.value == nil })
    }

    /// A store whose only reference is held by its own listener is released
    /// on the worker's thread when the listener's token goes; that thread
    /// then ends instead of waiting for itself.
    @Test(arguments: StoreKind.allCases)
    func aStoreReleasedOnItsWorkerThreadStops(kind: StoreKind) async throws {
        let clock = ManualClock()
        let workerRef: Weak<ExpiryWorker>
        do {
            let store = try kind.make(clock: clock)
            workerRef = Weak(worker(of: store))
            let holder = Locked<ExpiryListenerToken?>(nil)
            // The listener holds the store and drops its own token (and so
            // itself, and the store) from the worker's thread.
            holder.withLock {
                $0 = try? store.addExpiryListener { _ in _ = store.count; holder.withLock { $0 = nil } }
            }
            try store.set("v", forKey: "k", ttl: .milliseconds(1))
            clock.advance(by: .milliseconds(20))   // past the deadline's tick
        }
        #expect(await eventually { workerRef.value == nil })
    }

    @Test(arguments: StoreKind.allCases)
    func expiryEventsStreamDeliversAndEndsOnClose(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        let events = store.expiryEvents
        let consumer = Task {
            var keys: [String] = []
            for await event in events { keys.append(String(decoding: event.key, as: UTF8.self)) }
            return keys
        }
        for i in 0..<10 { try store.set("v", forKey: "k\(i)", ttl: .milliseconds(5)) }
        clock.advance(by: .milliseconds(10))
        #expect(await eventually { store.count == 0 })
        store.close()
        #expect(Set(await consumer.value) == Set((0..<10).map { "k\($0)" }))
    }

    /// A consumer slower than the expiries gets the oldest events up to the
    /// buffer size; the rest are dropped and counted.
    @Test(arguments: StoreKind.allCases)
    func aSlowConsumerLosesCountedEvents(kind: StoreKind) async throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock) { $0.expiryEventBufferSize = 8 }
        let events = store.expiryEvents
        let all = try EventLog(store)
        for i in 0..<50 { try store.set("v", forKey: "k\(i)", ttl: .milliseconds(5)) }
        clock.advance(by: .milliseconds(10))
        // Listeners are called in no set order: the log may have all 50
        // while the stream's listener is still counting its drops.
        #expect(await eventually { all.count == 50 && store.statistics.droppedExpiryEvents >= 42 })
        #expect(store.statistics.droppedExpiryEvents == 42)
        store.close()
        var received = 0
        for await _ in events { received += 1 }
        #expect(received == 8)
    }

    /// The sequence does not keep its store alive, and ends with it.
    @Test(arguments: StoreKind.allCases)
    func expiryEventsEndWhenTheStoreGoes(kind: StoreKind) async throws {
        var store: (any ManagedStore)? = try kind.make(clock: ManualClock())
        let weakStore = Weak<AnyObject>(store!)
        let events = store!.expiryEvents
        store = nil
        #expect(weakStore.value == nil)
        var received = 0
        for await _ in events { received += 1 }
        #expect(received == 0)
    }

    /// Times are instants on the store's clock and durations.
    @Test(arguments: StoreKind.allCases)
    func eventsCarryInstantsOnTheStoresClock(kind: StoreKind) async throws {
        let clock = ManualClock(now: .init(sinceOrigin: .seconds(100)))
        let store = try kind.make(clock: clock)
        let log = try EventLog(store)
        #expect(store.now == clock.now)
        try store.set("v", forKey: "k", ttl: .milliseconds(250))
        clock.advance(by: .milliseconds(300))
        #expect(await eventually { log.count == 1 })
        let event = try #require(log.events.withLock { $0.first })
        #expect(event.deadline == StoreClock.Instant(sinceOrigin: .milliseconds(100_250)))
        #expect(event.removedAt >= event.deadline && event.removedAt <= clock.now)
        #expect(event.lag == event.deadline.duration(to: event.removedAt))
    }
}

/// A weak reference, to see whether something was freed.
final class Weak<Object: AnyObject>: @unchecked Sendable {
    // Safe to share: only read after the writes of init, and weak loads are
    // atomic.
    weak var value: Object?

    init(_ value: Object) {
        self.value = value
    }
}

/// The expiry worker of either store.
func worker(of store: any ManagedStore) -> ExpiryWorker {
    guard let store = store as? any _StoreFrontEnd else { preconditionFailure("not a store of this module") }
    return store._frontEnd.worker
}
