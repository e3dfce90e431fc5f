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

    /// Lanes whose stores take a random while per batch, so that a lane
    /// that fell behind would store its batches after later ones of
    /// another lane: each key's values must still arrive in file order.
    @Test func everyCopyOfAKeyIsStoredInFileOrder() throws {
        let stored = Locked<[String: [Int]]>([:])
        let lanes = SnapshotLoadLanes(count: 3, step: 16, file: Self.empty, shard: Self.shard) { items in
            usleep(UInt32.random(in: 0...300))
            stored.withLock { stored in
                for item in items {
                    stored[String(decoding: item.key, as: UTF8.self), default: []]
                        .append(Int(String(decoding: item.value, as: UTF8.self))!)
                }
            }
            return 0
        }
        defer { lanes.close() }
        // Copies of a key 40 entries apart: in neighbouring batches.
        for round in 0..<50 {
            for key in 0..<40 {
                try Array("key:\(key)".utf8).withUnsafeBytes { key in
                    try Array("\(round)".utf8).withUnsafeBytes { value in
                        try lanes.append(key: key, value: value, deadline: 0, ordinal: round * 40 + key.count)
                    }
                }
            }
        }
        try lanes.finish()
        #expect(lanes.progress == (stored: 2000, expired: 0))
        let orders = stored.withLock { $0 }
        #expect(orders.count == 40)
        for (key, values) in orders { #expect(values == Array(0..<50), "\(key)") }
    }

    /// A refusal in one lane stops the load: `finish()` (or an append)
    /// throws it, naming the first refused key of the file, and no thread
    /// is left waiting.
    @Test func aRefusalStopsTheLanesAndNamesItsKey() throws {
        let lanes = SnapshotLoadLanes(count: 2, step: 8, file: Self.empty, shard: Self.shard) { items in
            if let bad = items.firstIndex(where: { String(decoding: $0.key, as: UTF8.self) == "bad" }) {
                throw SnapshotRestoreFailure(unstored: Array(bad..<items.count), expired: 0, error: .valueTooLarge)
            }
            return 0
        }
        defer { lanes.close() }
        var thrown: (any Error)?
        do {
            for ordinal in 0..<100_000 {
                try Array((ordinal == 1234 ? "bad" : "key:\(ordinal)").utf8).withUnsafeBytes { key in
                    try lanes.append(key: key, value: Self.empty, deadline: 0, ordinal: ordinal)
                }
            }
            try lanes.finish()
        } catch {
            thrown = error
        }
        let error = try #require(thrown as? SnapshotError)
        #expect(error == .storeFull)
        #expect("\(error)".contains("its key 1235"), "\(error)")
        #expect(lanes.progress.stored < 100_000)
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
