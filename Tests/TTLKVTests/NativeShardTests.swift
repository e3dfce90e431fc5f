import Testing
@testable import TTLKV

/// NativeStore's shard table with two keys that share one 64-bit hash (a
/// pair in about 10^5 stores of 10 million keys, so forced here): each stays
/// findable by its bytes, and an expiry record, which names its key by the
/// hash alone, finds the key whose pending record it is.
@Suite struct NativeShardTests {
    static let sharedHash: UInt64 = 0xDEAD_BEEF_0000_0001

    static func entry(_ key: String, scheduled: UInt64) -> NativeEntry {
        let entry = Array(key.utf8).withUnsafeBytes { key in
            [UInt8]("v".utf8).withUnsafeBytes { NativeEntry(key: key, value: $0, deadline: scheduled) }
        }
        entry.scheduledDeadline = scheduled
        return entry
    }

    @Test func anExpiryRecordFindsTheCollidingKeyItWasScheduledFor() {
        var state = NativeShardState(reserving: 4)
        let first = Self.entry("first", scheduled: 100)
        let second = Self.entry("second", scheduled: 200)
        state.insert(first, hash: Self.sharedHash)
        state.insert(second, hash: Self.sharedHash)
        let hashOf: (UnsafeRawBufferPointer) -> UInt64 = { _ in Self.sharedHash }

        #expect(state.count == 2)
        #expect(Array("second".utf8).withUnsafeBytes { state.find(hash: Self.sharedHash, key: $0) }?.isSame(as: second) == true)
        #expect(state.find(hash: Self.sharedHash, scheduled: 100, hashOf: hashOf)?.isSame(as: first) == true)
        #expect(state.find(hash: Self.sharedHash, scheduled: 200, hashOf: hashOf)?.isSame(as: second) == true)
        // A stale record (no key has it pending) is judged against the
        // table's key, which drops it; a hash no key has finds nothing.
        #expect(state.find(hash: Self.sharedHash, scheduled: 300, hashOf: hashOf)?.isSame(as: first) == true)
        #expect(state.find(hash: 42, scheduled: 100, hashOf: hashOf) == nil)
        // The side-table key takes the slot when the first leaves, and its
        // record still finds it.
        state.remove(first, hash: Self.sharedHash, hashOf: hashOf)
        #expect(state.count == 1)
        #expect(state.find(hash: Self.sharedHash, scheduled: 200, hashOf: hashOf)?.isSame(as: second) == true)
    }
}
