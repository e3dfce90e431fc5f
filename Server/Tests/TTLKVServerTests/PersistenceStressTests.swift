import Dispatch
import Foundation
import NIOEmbedded
import Synchronization
import Testing
@testable import TTLKVServer

/// Saves, FLUSHALLs, the shutdown's save and the load at start racing with
/// writers and readers on other threads: every save ends, what is saved
/// loads back, nothing crashes. Run under ThreadSanitizer by
/// `make test-server-tsan`, where a data race fails it.
@Suite(.serialized) struct PersistenceStressTests {
    /// What the threads of a race share.
    private final class Race: Sendable {
        let running = Atomic<Bool>(true)
        let count = Atomic<Int>(0)
    }

    /// Runs body(role) for every role on a thread of its own, all at once,
    /// and waits for them. Not concurrentPerform: it runs about one role per
    /// core, so on two cores two roles that loop until a third is done
    /// would wait for it forever.
    private func onThreads(_ roles: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for role in 0..<roles {
            group.enter()
            Thread { body(role); group.leave() }.start()
        }
        group.wait()
    }

    private func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-persist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func configuration(in folder: String) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.capacity = 4096
        configuration.snapshotDirectory = folder
        configuration.saveRules = [SaveRule(seconds: 3600, changes: 1)]
        return configuration
    }

    @Test func savesAndFlushesRaceWithWriters() throws {
        let dir = try folder()
        let server = try ServerContext(configuration: configuration(in: dir), eventLoops: [])
        defer { server.keyspace.close() }
        let persistence = server.persistence, keyspace = server.keyspace
        let race = Race()
        onThreads(5) { role in
            switch role {
            case 0, 1:
                // Writers, until the savers are done.
                var i = 0
                while race.running.load(ordering: .relaxed) {
                    let key = Array("key:\(role):\(i % 2000)".utf8), value = Array("value \(i)".utf8)
                    key.withUnsafeBytes { k in value.withUnsafeBytes { v in try? keyspace.access.set(k, v, deadline: i % 3 == 0 ? keyspace.deadline(afterMilliseconds: 60_000) : nil) } }
                    i += 1
                }
            case 2:
                for _ in 0..<20 {
                    if (try? persistence.startBackgroundSave()) != nil { race.count.add(1, ordering: .relaxed) }
                    if (try? persistence.save()) != nil { race.count.add(1, ordering: .relaxed) }
                }
                race.running.store(false, ordering: .relaxed)
            case 3:
                for _ in 0..<10 {
                    try? persistence.flushAll { try keyspace.access.removeAll() }
                    usleep(2000)
                }
            default:
                while race.running.load(ordering: .relaxed) {
                    _ = persistence.info()
                    _ = persistence.refusal(of: CommandTable.command(named: "set")!)
                }
            }
        }
        #expect(race.count.load(ordering: .relaxed) > 0)
        #expect(persistence.prepareShutdown(save: true, force: false))
        #expect(persistence.info().first { $0.0 == "rdb_bgsave_in_progress" }?.1 == "0")
        // What the final save wrote loads back, key for key.
        let saved = keyspace.count
        let again = try ServerContext(configuration: configuration(in: dir), eventLoops: [], loadingSnapshot: true)
        defer { again.keyspace.close() }
        let done = try again.keyspace.loadSnapshot(from: again.persistence.path) { _ in }
        #expect(done.keys == saved)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Readers on other threads while the loaded store replaces the empty
    /// one: each sees one store or the other, whole.
    @Test func theLoadedStoreReplacesTheEmptyOneUnderReaders() throws {
        let dir = try folder()
        let first = try ServerContext(configuration: configuration(in: dir), eventLoops: [])
        for i in 0..<20_000 {
            let key = Array("k\(i)".utf8)
            try key.withUnsafeBytes { try first.keyspace.access.set($0, $0, deadline: nil) }
        }
        try first.persistence.save()
        first.keyspace.close()
        let server = try ServerContext(configuration: configuration(in: dir), eventLoops: [], loadingSnapshot: true)
        defer { server.keyspace.close() }
        let race = Race()
        server.persistence.start(on: EmbeddedEventLoop()) { _ in race.count.add(1, ordering: .relaxed) }
        onThreads(3) { role in
            if role == 0 {
                while server.persistence.info().first(where: { $0.0 == "loading" })?.1 == "1" { usleep(1000) }
                race.running.store(false, ordering: .relaxed)
            } else {
                let key = Array("k\(role * 7)".utf8)
                while race.running.load(ordering: .relaxed) {
                    let found = key.withUnsafeBytes { (try? server.keyspace.access.withValue($0) { Array($0) }) ?? nil }
                    if let found, found != key { race.count.add(1, ordering: .relaxed) }
                    _ = server.keyspace.count
                }
            }
        }
        #expect(race.count.load(ordering: .relaxed) == 0)
        #expect(server.keyspace.count == 20_000)
        #expect(server.persistence.refusal(of: CommandTable.command(named: "get")!) == nil)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
