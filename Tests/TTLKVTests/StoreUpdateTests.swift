import Testing
import TTLKV

/// The Swift face of the server's primitives: ``Store/update(forKey:sizeHint:_:)``
/// and ``Store/setAll(_:onlyIfNoneExist:)``.
@Suite struct StoreUpdateTests {
    private func makeStore(_ clock: ManualClock) throws -> Store {
        var configuration = StoreConfiguration(capacity: 4096)
        configuration.clock = .manual(clock)
        configuration.maximumValueSize = 1024
        return try Store(configuration: configuration)
    }

    /// INCR as the server does it: returns the new count.
    private func increment(_ store: Store, _ key: String) throws -> Int {
        try store.update(forKey: key, sizeHint: 20) { key -> Int in
            let count = key.value.flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            let digits = Array(String(count + 1).utf8)
            key.replaceValue(count: digits.count) { $0.copyBytes(from: digits) }
            return count + 1
        }
    }

    @Test func updateSeesValueDeadlineAndClock() throws {
        let clock = ManualClock(now: .init(sinceOrigin: .seconds(5)))
        let store = try makeStore(clock)
        try store.set("abc", forKey: "k", ttl: .seconds(2))
        let seen = try store.update(forKey: "k") { key in
            (key.value.map { String(decoding: $0, as: UTF8.self) }, key.deadline, key.now)
        }
        #expect(seen.0 == "abc" && seen.1 == .init(sinceOrigin: .seconds(7)) && seen.2 == .init(sinceOrigin: .seconds(5)))

        // Append without a hint: the closure runs again with room.
        var runs = 0
        try store.update(forKey: "k") { key in
            runs += 1
            let old = Array(key.value ?? UnsafeRawBufferPointer(start: nil, count: 0))
            key.replaceValue(count: old.count + 3) { buffer in
                buffer.copyBytes(from: old + Array("def".utf8))
            }
        }
        #expect(runs == 2)
        #expect(try store.string(forKey: "k") == "abcdef")
        #expect(try store.timeToLive(forKey: "k") == .remaining(.seconds(2))) // kept

        try store.update(forKey: "k") { (key: inout StoreUpdate) in key.setDeadline(nil) }
        #expect(try store.timeToLive(forKey: "k") == .never)
        // A deadline given as an instant comes back as that instant.
        try store.update(forKey: "k") { $0.setDeadline($0.now.advanced(by: .milliseconds(1500))) }
        #expect(try store.update(forKey: "k") { $0.deadline } == .init(sinceOrigin: .milliseconds(6500)))
        try store.update(forKey: "k") { $0.setDeadline($0.now) } // past: removed
        #expect(try store.string(forKey: "k") == nil)
        try store.update(forKey: "k") { $0.remove() } // absent: nothing to do
    }

    @Test func updateRefusalsChangeNothing() throws {
        let store = try makeStore(ManualClock())
        try store.set("v", forKey: "k")
        #expect(throws: StoreError.valueTooLarge) {
            try store.update(forKey: "k") { $0.replaceValue(count: 2048) { _ in } }
        }
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try store.update(forKey: "k") { key in
                key.remove()
                throw Refused()
            }
        }
        #expect(try store.string(forKey: "k") == "v")
    }

    @Test func concurrentIncrementsLoseNothing() async throws {
        let store = try makeStore(ManualClock())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<2_000 { _ = try increment(store, "counter") }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.string(forKey: "counter") == "8000")
    }

    @Test func setAllIsAllOrNothing() throws {
        let store = try makeStore(ManualClock())
        let keys = ["a", "b", "a"].map { Array($0.utf8) }
        let values = ["1", "2", "3"].map { Array($0.utf8) }
        try withPairs(keys, values) { pairs in
            let stored = try store.setAll(pairs)
            #expect(stored)
        }
        #expect(try store.string(forKey: "a") == "3")
        #expect(try store.string(forKey: "b") == "2")
        let fresh = [Array("b".utf8), Array("c".utf8)]
        try withPairs(fresh, values) { pairs in
            let stored = try store.setAll(pairs, onlyIfNoneExist: true)
            #expect(!stored)
        }
        #expect(try store.string(forKey: "c") == nil)
    }

    /// Calls body with pairs that point into one buffer holding every key and value.
    private func withPairs(
        _ keys: [[UInt8]], _ values: [[UInt8]],
        _ body: ([(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)]) throws -> Void
    ) throws {
        let parts = zip(keys, values).flatMap { [$0, $1] }
        try parts.joined().map { $0 }.withUnsafeBytes { bytes in
            var offset = 0
            let slices = parts.map { part -> UnsafeRawBufferPointer in
                defer { offset += part.count }
                return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + part.count])
            }
            try body(stride(from: 0, to: slices.count, by: 2).map { (key: slices[$0], value: slices[$0 + 1]) })
        }
    }
}
