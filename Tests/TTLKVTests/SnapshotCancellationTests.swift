import Foundation
import Testing
@testable import TTLKV

/// A snapshot write or load is stopped by an error thrown from its progress
/// report (what a server's SHUTDOWN does to a background save, or to the
/// load at start): the write leaves the previous file and no temporary file,
/// the load makes no store; the error comes back to the caller.
@Suite struct SnapshotCancellationTests {
    private struct Stop: Error {}

    private func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-cancel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A store whose snapshot spans several progress reports (one per MiB
    /// written, one per few thousand keys loaded).
    private func filled(_ kind: StoreKind) throws -> any _StoreFrontEnd {
        let store = try kind.make(clock: ManualClock()) { $0.capacity = 40_000 }
        let value = [UInt8](repeating: 0x5A, count: 100)
        for i in 0..<30_000 { try store.set(value, forKey: "key:\(i)") }
        return store as! any _StoreFrontEnd
    }

    @Test(arguments: StoreKind.allCases)
    func aThrowingProgressStopsTheWrite(kind: StoreKind) throws {
        let store = try filled(kind)
        let dir = try folder()
        let path = dir + "/dump.rdb"
        try store.writeSnapshot(to: path)
        let previous = try Data(contentsOf: URL(fileURLWithPath: path))
        try store.set("changed", forKey: "key:0")
        var reports = 0
        #expect(throws: Stop.self) {
            try store.writeSnapshot(to: path) { _ in
                reports += 1
                throw Stop()
            }
        }
        #expect(reports == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == previous)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["dump.rdb"])
    }

    @Test(arguments: StoreKind.allCases)
    func aThrowingProgressStopsTheLoad(kind: StoreKind) throws {
        let store = try filled(kind)
        let path = try folder() + "/dump.rdb"
        try store.writeSnapshot(to: path)
        var reports = 0
        #expect(throws: Stop.self) {
            _ = try kind.load(snapshotAt: path, clock: ManualClock()) { progress in
                reports += 1
                #expect(!progress.isComplete)
                throw Stop()
            }
        }
        #expect(reports == 1)
    }
}
