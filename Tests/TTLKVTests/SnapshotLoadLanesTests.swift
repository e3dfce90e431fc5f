import Foundation
import Testing
@_spi(Internals) @testable import TTLKV

/// A snapshot's load on several threads: every copy of a key stored in file
/// order, the first refused key named, and a failure that stops the lanes
/// rather than hangs them.
@Suite struct SnapshotLoadLanesTests {
    private static var empty: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// One of 7 shards, by the key's bytes.
    private static func shard(_ key: UnsafeRawBufferPointer) -> Int {
        key.reduce(0) { ($0 &* 31 &+ Int($1)) & 0xFFFF } % 7
    }

    /// Deals `key` with `value` (empty: none).
    private static func append(_ lanes: SnapshotLoadLanes, _ key: String, _ value: [UInt8] = [], ordinal: Int) throws {
        try Array(key.utf8).withUnsafeBytes { key in
            try value.withUnsafeBytes { value in try lanes.append(key: key, value: value, deadline: 0, ordinal: ordinal) }
        }
    }

    /// Lanes whose stores take a random while per batch, so that a lane
    /// that fell behind would store its batches after later ones of
    /// another lane: each key's values must still arrive in file order.
    @Test func everyCopyOfAKeyIsStoredInFileOrder() throws {
        let stored = Locked<[String: [Int]]>([:])
        let lanes = SnapshotLoadLanes(threads: 3, step: 16, file: Self.empty, shard: Self.shard) { items in
            usleep(UInt32.random(in: 0...300))
            stored.withLock { stored in
                for item in items {
                    stored[String(decoding: item.key, as: UTF8.self), default: []]
                        .append(Int(String(decoding: item.value, as: UTF8.self))!)
                }
            }
            return 0
        }
        try lanes.load {
            // Copies of a key 40 entries apart: in neighbouring batches.
            for round in 0..<50 {
                for key in 0..<40 { try Self.append(lanes, "key:\(key)", Array("\(round)".utf8), ordinal: round * 40 + key) }
            }
        }
        #expect(lanes.progress == (stored: 2000, expired: 0))
        let orders = stored.withLock { $0 }
        #expect(orders.count == 40)
        for (key, values) in orders { #expect(values == Array(0..<50), "\(key)") }
    }

    /// Two refused keys in two lanes, the earlier one in a slow lane: the
    /// error names the earlier, as a load on one thread would, though the
    /// fast lane refused its key first.
    @Test func theFirstRefusedKeyOfTheFileIsNamed() throws {
        // Even places "a:…" (lane 0, fast), odd places "b:…" (lane 1, slow).
        let lanes = SnapshotLoadLanes(threads: 2, step: 8, file: Self.empty, shard: { $0[0] == UInt8(ascii: "a") ? 0 : 1 }) {
            items in
            if items[0].key[0] == UInt8(ascii: "b") { usleep(20_000) }
            if let bad = items.firstIndex(where: { String(decoding: $0.key, as: UTF8.self).hasSuffix(":bad") }) {
                throw SnapshotRestoreFailure(unstored: Array(bad..<items.count), expired: 0, error: .valueTooLarge)
            }
            return 0
        }
        let error = try #require(throws: SnapshotError.self) {
            try lanes.load {
                for ordinal in 0..<100_000 {
                    let name = ordinal == 41 || ordinal == 50 ? "bad" : "\(ordinal)"
                    try Self.append(lanes, (ordinal % 2 == 0 ? "a:" : "b:") + name, ordinal: ordinal)
                }
            }
        }
        #expect(error == .storeFull)
        #expect("\(error)".contains("its key 42:"), "\(error)")
        #expect(lanes.progress.stored < 100_000)
    }

    /// A cancelled load (its decoding threw) stops the lanes at once: no
    /// batch waiting in a lane's queue is stored after the error (draining
    /// the queues would store about four more here).
    @Test func aCancelledLoadStoresNothingMore() throws {
        struct Cancel: Error {}
        let cancelled = Locked(false)
        let startedAfter = Locked(0)
        let lanes = SnapshotLoadLanes(threads: 2, step: 8, file: Self.empty, shard: Self.shard) { _ in
            if cancelled.withLock({ $0 }) { startedAfter.withLock { $0 += 1 } }
            usleep(50_000)
            return 0
        }
        #expect(throws: Cancel.self) {
            try lanes.load {
                for ordinal in 0..<400 { try Self.append(lanes, "key:\(ordinal)", ordinal: ordinal) }
                // Each lane is now in the middle of a batch, with its queue full.
                usleep(10_000)
                cancelled.withLock { $0 = true }
                throw Cancel()
            }
        }
        // One may have been taken the instant before.
        #expect(startedAfter.withLock { $0 } <= 1)
    }

    /// Values the batch must copy (none lie in the file here) are handed
    /// over once a batch holds a mebibyte of them, not at `step` entries.
    @Test func copiedBytesBoundABatch() throws {
        let largest = Locked(0)
        let lanes = SnapshotLoadLanes(threads: 1, step: 4096, file: Self.empty, shard: Self.shard) { items in
            let bytes = items.reduce(0) { $0 + $1.key.count + $1.value.count }
            largest.withLock { $0 = Swift.max($0, bytes) }
            return 0
        }
        let value = [UInt8](repeating: 7, count: 300_000)
        try lanes.load {
            for ordinal in 0..<40 { try Self.append(lanes, "key:\(ordinal)", value, ordinal: ordinal) }
        }
        #expect(lanes.progress.stored == 40)
        #expect(largest.withLock { $0 } < SnapshotLoadLanes.copiedBytesPerBatch + value.count + 100)
    }

    /// End to end, on both stores: a file that names keys twice (Redis
    /// writes none, but a file is input) loads each with its last value,
    /// however far apart the copies are.
    @Test(arguments: StoreKind.allCases)
    func aKeyNamedTwiceInAFileKeepsItsLastValue(kind: StoreKind) throws {
        let keys = 5000
        var entries: [(key: [UInt8], value: [UInt8], deadline: Int64?)] = []
        for round in 0..<3 {
            for key in 0..<keys { entries.append((Array("key:\(key)".utf8), Array("value \(round)".utf8), nil)) }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-lanes-\(UUID().uuidString).rdb").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(encodeRDB(entries)).write(to: URL(fileURLWithPath: path))
        var summary: SnapshotSummary?
        let store = try kind.load(snapshotAt: path, clock: ManualClock()) { if $0.isComplete { summary = $0.summary } }
        #expect(store.count == keys)
        #expect(summary?.entries == 3 * keys)
        for key in 0..<keys { #expect(try store.string(forKey: "key:\(key)") == "value 2", "key:\(key)") }
    }

    /// End to end: a value the store refuses, deep in the file, is named by
    /// its place among the file's keys.
    @Test(arguments: StoreKind.allCases)
    func aRefusedValueDeepInAFileIsNamed(kind: StoreKind) throws {
        var entries: [(key: [UInt8], value: [UInt8], deadline: Int64?)] = (0..<20_000).map {
            (Array("key:\($0)".utf8), Array("v".utf8), nil)
        }
        entries[12_345].value = Array(repeating: 1, count: 3 << 20)   // over the 2 MiB the test stores allow
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-lanes-\(UUID().uuidString).rdb").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(encodeRDB(entries)).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: SnapshotError.self) { _ = try kind.load(snapshotAt: path, clock: ManualClock()) }
        #expect(error == .storeFull)
        #expect("\(error)".contains("its key 12346"), "\(error)")
    }
}
