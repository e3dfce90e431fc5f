import Foundation
import Synchronization
import Testing
import TTLKV

/// The clock of the stress test: shared time that a ticker thread moves,
/// which a writer can pin for its own thread while it writes, so that the
/// deadline it puts in a value is exactly the one the store computes.
enum StressClock {
    @TaskLocal static var pinned: UInt64?
}

/// Several threads set (with and without TTL, one key at a time and in
/// batches), shorten TTLs, read (one key at a time and in batches) and
/// delete (both ways), while the expiry worker expires, in batches, and a
/// ticker moves time. Readers check that no value is torn or belongs to
/// another key, that sequence numbers never go backwards, and that no value
/// is read at or after its deadline. Afterwards, once the clock has passed every deadline, the worker
/// must remove every key whose last write gave it a TTL, within the lag
/// bound, and keep every key last written without one, holding exactly its
/// last value; and it must never have removed a key before its deadline.
/// `make test` also runs this suite under ThreadSanitizer.
@Suite struct ConcurrencyStressTests {
    static let keys = 256
    static let writers = 2
    static let readers = 2
    static let iterations = 20_000

    struct Value {
        var key: UInt32
        var seq: UInt64
        var deadline: UInt64
        var check: UInt64 { UInt64(key) &* 0x9E37_79B9_7F4A_7C15 ^ seq ^ deadline &* 31 }

        var bytes: [UInt8] {
            var out = [UInt8]()
            for part in [UInt64(key), seq, deadline, check] {
                withUnsafeBytes(of: part) { out.append(contentsOf: $0) }
            }
            return out
        }

        init(key: UInt32, seq: UInt64, deadline: UInt64) {
            (self.key, self.seq, self.deadline) = (key, seq, deadline)
        }

        /// Parses and verifies; nil if torn.
        init?(_ raw: UnsafeRawBufferPointer) {
            guard raw.count == 32 else { return nil }
            key = UInt32(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            seq = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            deadline = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
            guard raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self) == check else { return nil }
        }
    }

    /// Runs `body(i)` on `count` dedicated threads and waits for all.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                body(i)
                group.leave()
            }
        }
        group.wait()
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentReadersWritersAndExpiry(kind: StoreKind) async throws {
        let shared = ManualClock(now: .init(sinceOrigin: .seconds(10)))
        var configuration = StoreConfiguration(capacity: 64)   // small: tables grow under load
        configuration.clock = .custom { StressClock.pinned.map { .init(sinceOrigin: .milliseconds(Int64($0))) } ?? shared.now }
        configuration.tickResolution = .milliseconds(1)
        let store = try kind.make(configuration)
        let early = Atomic<Int>(0)
        let token = try store.addExpiryListener { events in
            early.add(events.filter { $0.removedAt < $0.deadline }.count, ordering: .relaxed)
        }
        defer { token.cancel() }
        let stop = Atomic<Bool>(false)
        let failures = Atomic<Int>(0)
        let finalValues = Mutex<[Int: [UInt8]]>([:])
        let writersDone = Atomic<Int>(0)

        Self.onThreads(Self.writers + Self.readers + 1) { thread in
            if thread < Self.writers {
                var seq = [UInt64](repeating: 0, count: Self.keys)
                var deadline = [UInt64](repeating: 0, count: Self.keys)
                var last = [Int: [UInt8]]()
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<Self.iterations {
                    let key = Int.random(in: 0..<(Self.keys / Self.writers), using: &rng) * Self.writers + thread
                    let name = "key\(key)"
                    let now = shared.nowMilliseconds
                    /// A value for `key` with a new sequence number.
                    func next(_ key: Int, ttl: UInt64) -> [UInt8] {
                        seq[key] += 1
                        deadline[key] = ttl == 0 ? 0 : now + ttl
                        let value = Value(key: UInt32(key), seq: seq[key], deadline: deadline[key]).bytes
                        last[key] = ttl == 0 ? value : nil
                        return value
                    }
                    do {
                        switch Int.random(in: 0..<20, using: &rng) {
                        case 0:
                            try store.removeValue(forKey: name)
                            last[key] = nil
                        case 2:
                            // A batch of this writer's keys, some twice: in order.
                            let keys = (0..<5).map { _ in Int.random(in: 0..<(Self.keys / Self.writers), using: &rng) * Self.writers + thread }
                            let items = keys.map { key in
                                let ttl: UInt64 = Bool.random(using: &rng) ? 0 : UInt64.random(in: 1...30, using: &rng)
                                return (key: "key\(key)", value: next(key, ttl: ttl), ttl: ttl == 0 ? nil : Duration.milliseconds(ttl))
                            }
                            try StressClock.$pinned.withValue(now) { try store.set(items) }
                        case 3:
                            let keys = (0..<3).map { _ in Int.random(in: 0..<(Self.keys / Self.writers), using: &rng) * Self.writers + thread }
                            try store.removeValues(forKeys: keys.map { "key\($0)" })
                            for key in keys { last[key] = nil }
                        case 1:
                            // Only ever shorten, so a value's deadline stays an upper bound.
                            let ttl = UInt64.random(in: 1...5, using: &rng)
                            if deadline[key] == 0 || now + ttl < deadline[key] {
                                if try StressClock.$pinned.withValue(now, operation: { try store.expire(name, after: .milliseconds(ttl)) }) {
                                    deadline[key] = now + ttl
                                    last[key] = nil
                                }
                            }
                        default:
                            let ttl: UInt64 = Bool.random(using: &rng) ? 0 : UInt64.random(in: 1...30, using: &rng)
                            let value = next(key, ttl: ttl)
                            try StressClock.$pinned.withValue(now) {
                                try store.set(value, forKey: name, ttl: ttl == 0 ? nil : .milliseconds(ttl))
                            }
                        }
                    } catch {
                        failures.add(1, ordering: .relaxed)
                    }
                }
                finalValues.withLock { $0.merge(last) { $1 } }
                writersDone.add(1, ordering: .relaxed)
                if writersDone.load(ordering: .relaxed) == Self.writers { stop.store(true, ordering: .releasing) }
            } else if thread < Self.writers + Self.readers {
                // The first reader reads one key at a time, the others in
                // batches of up to 16 keys (some twice).
                let batched = thread > Self.writers
                var lastSeen = [UInt64](repeating: 0, count: Self.keys)
                var rng = SystemRandomNumberGenerator()
                /// Checks a value read for `key` (nil: torn) that was read
                /// after `before`.
                func check(_ value: Value?, key: Int, before: UInt64) {
                    guard let value, value.key == key, value.seq >= lastSeen[key],
                          value.deadline == 0 || before < value.deadline else {
                        failures.add(1, ordering: .relaxed)
                        return
                    }
                    lastSeen[key] = value.seq
                }
                while !stop.load(ordering: .acquiring) {
                    let before = shared.nowMilliseconds
                    if batched {
                        let keys = (0..<Int.random(in: 1...16, using: &rng)).map { _ in Int.random(in: 0..<Self.keys, using: &rng) }
                        do {
                            try store.withValues(forKeys: keys.map { "key\($0)" }) { offset, value in
                                check(Value(value), key: keys[offset], before: before)
                            }
                        } catch {
                            failures.add(1, ordering: .relaxed)
                        }
                    } else {
                        let key = Int.random(in: 0..<Self.keys, using: &rng)
                        // Outer nil: absent or expired; inner nil: a torn value.
                        guard let value = try? store.withValue(forKey: "key\(key)", { Value($0) }) else { continue }
                        check(value, key: key, before: before)
                    }
                }
            } else {
                while !stop.load(ordering: .acquiring) {
                    shared.advance(by: .milliseconds(1))
                    usleep(50)
                }
            }
        }

        #expect(failures.load(ordering: .relaxed) == 0)
        let persistent = finalValues.withLock { $0 }
        // Every TTL given was at most 30 ms: a second later all are due, and
        // the worker must have removed them within a second of real time.
        shared.advance(by: .seconds(1))
        #expect(await eventually(within: .seconds(2)) { store.count == persistent.count })
        for (key, value) in persistent {
            #expect(try store.value(forKey: "key\(key)") == value)
        }
        #expect(store.statistics.keysExpiredByWorker > 0)
        #expect(early.load(ordering: .relaxed) == 0)
    }
}
