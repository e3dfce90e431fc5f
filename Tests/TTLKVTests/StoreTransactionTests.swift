import Testing
import TTLKV

/// What the server's multi-key commands build on: ``Store/withLockedKeys(_:_:)``
/// and ``Store/withAllKeysLocked(_:)``, and the reads beside them
/// (``Store/deadline(forKey:)``, ``Store/randomKey(_:_:)``,
/// ``Store/deadline(after:)``, ``StoreUpdate/changesKey``).
@Suite struct StoreTransactionTests {
    private func makeStore(_ clock: ManualClock, maximumEntries: Int? = nil) throws -> Store {
        var configuration = StoreConfiguration(capacity: 4096)
        configuration.clock = .manual(clock)
        configuration.maximumValueSize = 1024
        configuration.maximumEntries = maximumEntries
        return try Store(configuration: configuration)
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// RENAME as the server does it: the value and deadline move, in one step.
    private func rename(_ store: Store, _ source: String, _ target: String) throws -> Bool {
        let (source, target) = (bytes(source), bytes(target))
        return try source.withUnsafeBytes { source in
            try target.withUnsafeBytes { target in
                try store.withLockedKeys([source, target]) { transaction -> Bool in
                    guard let (value, deadline) = try transaction.update(forKey: source, { key in
                        key.value.map { (Array($0), key.deadline) }
                    }) else { return false }
                    try transaction.update(forKey: target, sizeHint: value.count) { key in
                        key.replaceValue(count: value.count, deadline: deadline) { $0.copyBytes(from: value) }
                    }
                    try transaction.update(forKey: source) { $0.remove() }
                    return true
                }
            }
        }
    }

    @Test func renameMovesValueAndDeadlineExactly() throws {
        let clock = ManualClock(now: .init(sinceOrigin: .seconds(5)))
        let store = try makeStore(clock)
        try store.set("payload", forKey: "a", ttl: .milliseconds(1500))
        #expect(try rename(store, "a", "b"))
        #expect(try store.string(forKey: "a") == nil)
        #expect(try store.string(forKey: "b") == "payload")
        #expect(try store.deadline(forKey: "b") == .at(.init(sinceOrigin: .milliseconds(6500))))
        #expect(try !rename(store, "a", "b"))
        try store.set("forever", forKey: "c")
        #expect(try store.deadline(forKey: "c") == .never)
        #expect(try store.deadline(forKey: "absent") == nil)
    }

    @Test func writesInsideAreSeenInsideAndAfter() throws {
        let store = try makeStore(ManualClock())
        let key = bytes("k")
        let seenInside = try key.withUnsafeBytes { key in
            try store.withLockedKeys([key]) { transaction -> String? in
                try transaction.update(forKey: key, sizeHint: 3) { $0.replaceValue(count: 3) { $0.copyBytes(from: "new".utf8) } }
                return try store.string(forKey: key)
            }
        }
        #expect(seenInside == "new")
        #expect(try store.string(forKey: "k") == "new")
    }

    @Test func aKeyNotLockedIsRefused() throws {
        let store = try makeStore(ManualClock())
        // Some key lands in a shard other than "a"'s: every shard locked
        // finds it writable, "a"'s alone refuses it.
        let a = bytes("a")
        var refused = 0
        for index in 0..<64 {
            let other = bytes("other\(index)")
            try a.withUnsafeBytes { a in
                try other.withUnsafeBytes { other in
                    do {
                        try store.withLockedKeys([a]) { transaction in
                            try transaction.update(forKey: other) { $0.replaceValue(count: 1) { $0[0] = 1 } }
                        }
                        try store.removeValue(forKey: other)
                    } catch is StoreError {
                        refused += 1
                        #expect(try store.value(forKey: other) == nil)
                    }
                    try store.withAllKeysLocked { transaction in
                        try transaction.update(forKey: other) { $0.replaceValue(count: 1) { $0[0] = 1 } }
                    }
                    #expect(try store.value(forKey: other) == [1])
                }
            }
        }
        #expect(refused > 0)
    }

    @Test func aThrowingBodyReleasesTheLocksAndRethrows() throws {
        let store = try makeStore(ManualClock())
        struct Stop: Error {}
        let key = bytes("k")
        _ = key.withUnsafeBytes { key in
            #expect(throws: Stop.self) {
                try store.withLockedKeys([key]) { transaction in
                    try transaction.update(forKey: key) { $0.replaceValue(count: 1) { $0[0] = 7 } }
                    throw Stop()
                }
            }
        }
        // No rollback: the write made before the throw stays; the lock is free.
        #expect(try store.value(forKey: "k") == [7])
        try store.set("after", forKey: "k")
        #expect(try store.string(forKey: "k") == "after")
    }

    @Test func setAllInsideIsAllOrNothing() throws {
        let store = try makeStore(ManualClock(), maximumEntries: 3)
        let keys = ["x", "y", "z", "w"].map(bytes)
        let value = bytes("v")
        try value.withUnsafeBytes { value in
            try keys[0].withUnsafeBytes { x in
                try keys[1].withUnsafeBytes { y in
                    try keys[2].withUnsafeBytes { z in
                        try keys[3].withUnsafeBytes { w in
                            try store.withLockedKeys([x, y, z, w]) { (transaction: StoreTransaction) throws in
                                #expect(try transaction.setAll([(x, value), (y, value)]))
                                #expect(try !transaction.setAll([(x, value), (z, value)], onlyIfNoneExist: true))
                                #expect(throws: StoreError.full) {
                                    try transaction.setAll([(z, value), (w, value)])
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(store.count == 2)
        #expect(try store.value(forKey: "z") == nil)
    }

    @Test func randomKeyPicksLiveKeys() throws {
        let clock = ManualClock()
        let store = try makeStore(clock)
        var generator = SystemRandomNumberGenerator()
        #expect(try store.randomKey(using: &generator) { Array($0) } == nil)
        try store.set("v", forKey: "short", ttl: .milliseconds(10))
        #expect(try store.randomKey(using: &generator) { Array($0) } == bytes("short"))
        clock.advance(by: .milliseconds(10))
        #expect(try store.randomKey(using: &generator) { Array($0) } == nil)
        for index in 0..<50 { try store.set("v", forKey: "key\(index)") }
        var seen = Set<[UInt8]>()
        for _ in 0..<5_000 {
            seen.insert(try #require(try store.randomKey(using: &generator) { Array($0) }))
        }
        #expect(seen == Set((0..<50).map { bytes("key\($0)") }))
    }

    @Test func deadlineAfterIsTheClockPlusTheTimeToLive() throws {
        let clock = ManualClock(now: .init(sinceOrigin: .seconds(3)))
        let store = try makeStore(clock)
        #expect(store.deadline(after: .milliseconds(250)) == .init(sinceOrigin: .milliseconds(3250)))
        // On the system clock: never before the cheap reading plus the TTL.
        let system = try Store(capacity: 16)
        let before = system.now
        let deadline = system.deadline(after: .seconds(1))
        #expect(deadline >= before.advanced(by: .seconds(1)))
    }

    @Test func changesKeySaysWhetherTheDecisionWritesTheKey() throws {
        let store = try makeStore(ManualClock())
        try store.set("v", forKey: "k")
        #expect(try store.update(forKey: "k") { $0.changesKey } == false)
        #expect(try store.update(forKey: "k") { key -> Bool in key.setDeadline(nil); return key.changesKey })
        #expect(try store.update(forKey: "k") { key -> Bool in
            key.replaceValue(count: 1) { $0[0] = 1 }
            return key.changesKey
        })
        #expect(try store.update(forKey: "absent") { key -> Bool in key.remove(); return key.changesKey } == false)
        #expect(try store.update(forKey: "k") { key -> Bool in key.remove(); return key.changesKey })
    }

    /// Transfers between accounts under both accounts' locks; an auditor
    /// holding every lock always counts the same total.
    @Test func transfersNeverInterleave() async throws {
        let store = try makeStore(ManualClock())
        let accounts = (0..<6).map { bytes("account\($0)") }
        for account in accounts { try store.set("1000", forKey: account) }
        func add(_ transaction: StoreTransaction, _ key: UnsafeRawBufferPointer, _ amount: Int) throws {
            try transaction.update(forKey: key, sizeHint: 20) { entry in
                let balance = Int(String(decoding: entry.value!, as: UTF8.self))! + amount
                let digits = Array(String(balance).utf8)
                entry.replaceValue(count: digits.count) { $0.copyBytes(from: digits) }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    for round in 0..<3_000 {
                        let from = accounts[Int.random(in: 0..<6, using: &random)]
                        let to = accounts[(worker + round) % 6]
                        try from.withUnsafeBytes { from in
                            try to.withUnsafeBytes { to in
                                try store.withLockedKeys([to, from]) { transaction in
                                    try add(transaction, from, -3)
                                    try add(transaction, to, 3)
                                }
                            }
                        }
                    }
                }
            }
            group.addTask {
                for _ in 0..<500 {
                    let total = try store.withAllKeysLocked { _ in
                        try accounts.reduce(0) { $0 + Int(try store.string(forKey: $1)!)! }
                    }
                    #expect(total == 6_000)
                    await Task.yield()
                }
            }
            try await group.waitForAll()
        }
    }
}
