import Foundation
import Testing
@testable import TTLKV

/// Snapshots of both stores: a round trip keeps every key, value and
/// deadline exactly; expired keys stay out; Redis's own tools accept the
/// files; a damaged file or an interrupted write changes nothing.
@Suite struct StoreSnapshotTests {
    /// A fresh folder for one test's files.
    private func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-snapshot-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func contents(of store: any ManagedStore) throws -> [[UInt8]: String] {
        var result: [[UInt8]: String] = [:]
        for key in store.keys {
            result[key] = "\(try store.value(forKey: key) ?? []) \(String(describing: try store.timeToLive(forKey: key)))"
        }
        return result
    }

    @Test(arguments: StoreKind.allCases)
    func aRoundTripKeepsEveryKeyValueAndDeadline(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock) { $0.capacity = 4096; $0.maximumValueSize = 2 << 20; $0.maximumKeySize = 1024 }
        try store.set([UInt8](), forKey: "empty")
        try store.set("12", forKey: "integer")
        try store.set("-0", forKey: "not an integer")
        try store.set([UInt8](repeating: 0xAB, count: 1 << 20), forKey: [0, 1, 2, 255])
        for i in 0..<1000 {
            try store.set(Array("value \(i)".utf8), forKey: "key:\(i)", ttl: i % 2 == 0 ? .milliseconds(1000 + i) : nil)
        }
        let path = try folder() + "/dump.rdb"
        let written = try (store as! any _StoreFrontEnd).writeSnapshot(to: path)
        #expect(written.entries == 1004)
        let before = try contents(of: store)

        var last: SnapshotProgress?
        let loaded = try kind.load(snapshotAt: path, clock: clock) { last = $0 }
        #expect(try contents(of: loaded) == before)
        #expect(last?.isComplete == true && last?.summary.entries == 1004 && last?.summary.expiredOnLoad == 0)
        // The deadlines themselves, not only what is left of them.
        for i in stride(from: 0, to: 1000, by: 2) {
            #expect(try loaded.timeToLive(forKey: "key:\(i)") == .remaining(.milliseconds(1000 + i)))
        }
    }

    /// Keys whose deadline passed between the write and the load stay out,
    /// counted.
    @Test(arguments: StoreKind.allCases)
    func keysThatExpiredAreNotLoaded(kind: StoreKind) throws {
        let clock = ManualClock()
        let store = try kind.make(clock: clock)
        try store.set("soon", forKey: "a", ttl: .seconds(1))
        try store.set("later", forKey: "b", ttl: .seconds(10))
        try store.set("never", forKey: "c")
        let path = try folder() + "/dump.rdb"
        try (store as! any _StoreFrontEnd).writeSnapshot(to: path)
        clock.advance(by: .seconds(5))
        var summary: SnapshotSummary?
        let loaded = try kind.load(snapshotAt: path, clock: clock) { if $0.isComplete { summary = $0.summary } }
        #expect(try loaded.value(forKey: "a") == nil)
        #expect(try loaded.string(forKey: "b") == "later")
        #expect(try loaded.string(forKey: "c") == "never")
        #expect(summary?.entries == 2 && summary?.expiredOnLoad == 1)
    }

    /// A file redis-server 7.0.15 wrote loads: its strings, the deadline it
    /// gave, the other types and databases counted and skipped.
    @Test(arguments: StoreKind.allCases)
    func loadsAFileRedisWrote(kind: StoreKind) throws {
        var summary: SnapshotSummary?
        let store = try kind.load(snapshotAt: fixture("redis-7.0.15-mixed.rdb").path, clock: ManualClock()) {
            if $0.isComplete { summary = $0.summary }
        }
        #expect(try store.string(forKey: "plain") == "hello")
        #expect(try store.string(forKey: "int16") == "-300")
        #expect(store.count == 12)
        #expect(summary?.skipped == ["list": 1, "hash": 1, "set": 2, "zset": 1, "other databases": 1])
        let ttl = try store.timeToLive(forKey: "ttl")
        guard case .remaining(let left)? = ttl else { Issue.record("ttl: \(String(describing: ttl))"); return }
        #expect(left > .seconds(86_400 * 365 * 50), "2100-01-01 is more than 50 years away: \(left)")
    }

    /// A damaged or cut file is refused before a store is made.
    /// A snapshot ten times a store's budget loads into it: the load evicts
    /// as writes do, waits for the worker to drain the records of what it
    /// evicted instead of failing, and leaves the store within its budget,
    /// every key it holds whole. The file's key count does not raise the
    /// capacity past what the budget can hold.
    @Test(arguments: StoreKind.allCases)
    func aSnapshotLargerThanTheBudgetLoadsIntoIt(kind: StoreKind) throws {
        let source = try kind.make(clock: ManualClock()) { $0.capacity = 200_000 }
        let value = [UInt8](repeating: 0x61, count: 32)
        for i in 0..<200_000 { try source.set(value, forKey: "key:\(1_000_000_000 + i)") }
        let path = try folder() + "/dump.rdb"
        _ = try (source as! any _StoreFrontEnd).writeSnapshot(to: path)
        source.close()

        let budget = 2 << 20
        var configuration = StoreConfiguration(capacity: 8192)
        configuration.maximumBytes = budget
        let store: any ManagedStore = switch kind {
        case .ck: try Store(snapshotAt: path, configuration: configuration)
        case .native: try NativeStore(snapshotAt: path, configuration: configuration)
        }
        let stats = store.statistics
        #expect(stats.usedBytes <= budget)
        #expect(stats.evicted > 0 && stats.entries + stats.evicted == 200_000)
        #expect(stats.entries > 10_000, "\(stats.entries) entries in \(budget) bytes")
        #expect(try store.keys.allSatisfy { try store.value(forKey: $0) == value })
    }

    @Test func aDamagedFileIsRefused() throws {
        let store = try Store(capacity: 64)
        for i in 0..<50 { try store.set("v\(i)", forKey: "k\(i)") }
        let path = try folder() + "/dump.rdb"
        try store.writeSnapshot(to: path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: SnapshotError.checksumMismatch) { try Store(snapshotAt: path) }
        try Data(bytes.prefix(bytes.count - 20)).write(to: URL(fileURLWithPath: path))
        #expect(throws: SnapshotError.self) { try Store(snapshotAt: path) }
        #expect(throws: SnapshotError.io) { try Store(snapshotAt: path + ".missing") }
    }

    /// Runs `attempt` on the path of a snapshot already written (in a folder
    /// of its own), then checks that the snapshot is as it was and that no
    /// other file is left in the folder.
    private func expectPreviousSnapshotKept(after attempt: (String) throws -> Void) throws {
        let dir = try folder()
        let path = dir + "/dump.rdb"
        let store = try Store(capacity: 64)
        try store.set("first", forKey: "k")
        try store.writeSnapshot(to: path)
        let previous = try Data(contentsOf: URL(fileURLWithPath: path))
        try attempt(path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["dump.rdb"])
    }

    /// A write that never commits (a crash, an error) removes its temporary
    /// file and leaves the previous snapshot whole.
    @Test func anUnfinishedWriteLeavesThePreviousFile() throws {
        try expectPreviousSnapshotKept { path in
            var writer = try SnapshotFileWriter(path: path, chunkBytes: 1024)
            try [UInt8](repeating: 1, count: 512).withUnsafeBytes { try writer.write($0) }
            try [UInt8](repeating: 1, count: 4096).withUnsafeBytes { try writer.write($0) }  // in pieces
            _ = consume writer   // dropped without commit, as after an error
        }
    }

    /// A write that fails on the write thread, after the hand-over that
    /// queued it returned: the commit throws, renames nothing and removes
    /// the temporary file.
    @Test func aWriteFailedOnTheThreadFailsTheCommit() throws {
        try expectPreviousSnapshotKept { path in
            // Created, but open for reading only: every write to it fails.
            var writer = try SnapshotFileWriter(path: path, chunkBytes: 1024) { open($0, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644) }
            try [UInt8](repeating: 1, count: 512).withUnsafeBytes { try writer.write($0) }
            var thrown: SnapshotError?
            do { try writer.commit() } catch { thrown = error as? SnapshotError }
            #expect(thrown == .io)
        }
    }

    /// redis-check-rdb, from Debian's redis-tools, accepts what both stores
    /// write, including an empty store, binary keys and values up to 1 MiB.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-check-rdb")),
          arguments: StoreKind.allCases)
    func redisCheckRDBAcceptsTheFiles(kind: StoreKind) throws {
        let empty = try kind.make(clock: ManualClock())
        let full = try kind.make(clock: ManualClock()) { $0.capacity = 4096; $0.maximumValueSize = 2 << 20 }
        try full.set([UInt8](repeating: 7, count: 1 << 20), forKey: [0, 255, 10])
        for i in 0..<2000 { try full.set(Array(String(i * 7919 - 5000).utf8), forKey: "k\(i)", ttl: i % 3 == 0 ? .seconds(60) : nil) }
        for store in [empty, full] {
            let path = try folder() + "/dump.rdb"
            try (store as! any _StoreFrontEnd).writeSnapshot(to: path)
            let check = Process()
            check.executableURL = URL(fileURLWithPath: "/usr/bin/redis-check-rdb")
            check.arguments = [path]
            let output = Pipe()
            check.standardOutput = output
            check.standardError = output
            try check.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            check.waitUntilExit()
            #expect(check.terminationStatus == 0, "\(text)")
            #expect(text.contains("RDB looks OK"), "\(text)")
            #expect(text.contains("\(store.count) keys read"), "\(text)")
        }
    }
}

extension StoreKind {
    /// A store of this kind loaded from a snapshot, on `clock`.
    func load(snapshotAt path: String, clock: ManualClock,
              progress: ((SnapshotProgress) throws -> Void)? = nil) throws -> any ManagedStore {
        var configuration = StoreConfiguration(capacity: 256)
        configuration.clock = .manual(clock)
        configuration.maximumValueSize = 2 << 20
        configuration.maximumKeySize = 1024
        switch self {
        case .ck: return try Store(snapshotAt: path, configuration: configuration, progress: progress)
        case .native: return try NativeStore(snapshotAt: path, configuration: configuration, progress: progress)
        }
    }
}
