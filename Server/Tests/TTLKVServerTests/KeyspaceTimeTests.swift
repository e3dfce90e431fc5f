import Synchronization
import Testing
import TTLKV
@testable import TTLKVServer

/// The deadlines the server gives the store for EX/PX and EXAT/PXAT.
@Suite struct KeyspaceTimeTests {
    private func makeKeyspace() throws -> Keyspace {
        var configuration = ServerConfiguration()
        configuration.capacity = 1024
        return try Keyspace(configuration: configuration)
    }

    /// `SET k v PX 1` made the key expire at once, as a deletion (no
    /// `expired` event, not counted in expired_keys), whenever a millisecond
    /// ended between the deadline's clock reading and the clamp's: the clamp
    /// compared the deadline with a reading rounded up, a millisecond ahead
    /// of real time (79 of these 200,000 on a quiet machine; in CI, once in
    /// 20 such SETs). Redis keeps such a key for its millisecond. A positive
    /// TTL is now never judged past, even after a preemption longer than it.
    @Test func aOneMillisecondTimeToLiveIsNeverTakenAsPast() throws {
        let keyspace = try makeKeyspace()
        defer { keyspace.close() }
        var past = 0
        for _ in 0..<200_000 where keyspace.deadline(afterMilliseconds: 1) == Keyspace.past { past += 1 }
        #expect(past == 0)
        #expect(keyspace.deadline(afterMilliseconds: 0) == Keyspace.past)      // EXPIRE k 0 removes
        #expect(keyspace.deadline(afterMilliseconds: -5) == Keyspace.past)
    }

    /// A deadline that has passed in real time is still made the clock's
    /// origin (reads on a clock a tick behind would show the key).
    @Test func aDeadlineAlreadyPastIsTheOrigin() throws {
        let keyspace = try makeKeyspace()
        defer { keyspace.close() }
        let now = keyspace.unixMilliseconds(keyspace.withStore { $0.now })
        #expect(keyspace.instant(unixMilliseconds: now - 1) == Keyspace.past)
        #expect(keyspace.instant(unixMilliseconds: now + 60_000) != Keyspace.past)
    }

    /// `PEXPIREAT k <the current Unix millisecond>` removes the key in Redis
    /// (its rule: a Unix time at or before now is past). Judged on the
    /// store's clock instead, such a time was kept in a fraction of calls
    /// that depends on the process's offset between the clocks.
    @Test func theCurrentUnixMillisecondIsPast() throws {
        let keyspace = try makeKeyspace()
        defer { keyspace.close() }
        var kept = 0
        for _ in 0..<100_000 where keyspace.instant(unixMilliseconds: WallClock.milliseconds()) != Keyspace.past {
            kept += 1
        }
        #expect(kept == 0)
    }

    /// A write that waits after its command computed a short deadline (a
    /// preemption, or a wait for the expiry worker to drain under a memory
    /// budget) still stores the key, which then expires and is counted and
    /// reported like any other. Before, the store judged the deadline past
    /// under the lock and removed the key as a deletion: no `expired`
    /// event, not in `expired_keys`.
    @Test func aWriteThatWaitedStillStoresAKeyItsCommandSawLive() async throws {
        let keyspace = try makeKeyspace()
        defer { keyspace.close() }
        let removed = Mutex<[String]>([])
        let listening = keyspace.onRemoval { key, _ in removed.withLock { $0.append(String(decoding: key, as: UTF8.self)) } }
        defer { listening?.cancel() }
        let deadline = keyspace.deadline(afterMilliseconds: 1)
        try await Task.sleep(for: .milliseconds(20))
        try Array("k".utf8).withUnsafeBytes { key in
            try Array("v".utf8).withUnsafeBytes { value in try keyspace.access.set(key, value, deadline: deadline) }
        }
        let clock = ContinuousClock(), end = clock.now + .seconds(10)
        while removed.withLock({ $0.isEmpty }) && clock.now < end { try await Task.sleep(for: .milliseconds(5)) }
        #expect(removed.withLock { $0 } == ["k"])
        #expect(keyspace.statistics.expiredKeys == 1)
    }
}
