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
        let origin = StoreClock.Instant(sinceOrigin: .zero)
        var past = 0
        for _ in 0..<200_000 where keyspace.deadline(afterMilliseconds: 1) == origin { past += 1 }
        #expect(past == 0)
        #expect(keyspace.deadline(afterMilliseconds: 0) == origin)      // EXPIRE k 0 removes
        #expect(keyspace.deadline(afterMilliseconds: -5) == origin)
    }

    /// A deadline that has passed in real time is still made the clock's
    /// origin (reads on a clock a tick behind would show the key).
    @Test func aDeadlineAlreadyPastIsTheOrigin() throws {
        let keyspace = try makeKeyspace()
        defer { keyspace.close() }
        let now = keyspace.unixMilliseconds(keyspace.withStore { $0.now })
        #expect(keyspace.instant(unixMilliseconds: now - 1) == StoreClock.Instant(sinceOrigin: .zero))
        #expect(keyspace.instant(unixMilliseconds: now + 60_000) != StoreClock.Instant(sinceOrigin: .zero))
    }
}
