/*
 KEYS pattern, without blocking anyone.

 Redis walks its whole keyspace in one go, every client waiting. Here KEYS
 walks the store as SCAN does (Store.scanKeys: a cursor over table
 positions, a lock-free read, no shard lock held), one step of
 slotsPerStep table slots at a time, the size of a default SCAN call: the
 connection runs one step, then hands its event loop back (a task that
 runs the next step), so the other connections of the loop are served
 between steps and wait at most one step, as for a SCAN. The connection
 itself runs nothing more until the walk is done, as when it waits for
 its appends. The matching keys are gathered aside, behind room for the
 array's header, which is written in front of them once their count is
 known; the answer goes to the connection as that buffer, not copied (a
 `KEYS *` of 10 million keys is a quarter of a gigabyte, and copying it on
 the event loop stalled every other client of the loop).

 What the walk reports is what SCAN reports: every key live and unwritten
 from the first step to the last, once (twice at most if its shard's table
 is replaced meanwhile); a key written during the walk may be missed.

 In a transaction (MULTI ... KEYS ... EXEC) the walk runs at once: EXEC
 holds every shard's lock for it, and nothing else writes.
 */
import NIOCore

struct KeysWalk: Sendable {
    /// About 8,192 table slots, one SCAN call's worth (KeyspaceAccess.scan).
    static let keysPerStep = 2048

    private let pattern: GlobPattern
    private var cursor: UInt64 = 0
    /// The keys gathered so far (readable by tests: the answer must be this
    /// buffer, not a copy).
    private(set) var found: Replies
    private var count = 0

    /// Bytes kept in front of the keys for the array header: `*`, up to 20
    /// digits, CRLF.
    private static let headerRoom = 23

    init(pattern: UnsafeRawBufferPointer) {
        self.pattern = GlobPattern(pattern)
        found = Replies(allocator: ByteBufferAllocator())
        found.buffer.moveWriterIndex(forwardBy: Self.headerRoom)
        found.buffer.moveReaderIndex(forwardBy: Self.headerRoom)
    }

    /// Walks one step; true once the walk is complete.
    private mutating func step(_ keyspace: KeyspaceAccess) throws -> Bool {
        cursor = try keyspace.scan(from: cursor, count: Self.keysPerStep) { key in
            guard pattern.matches(key) else { return }
            found.bulk(key)
            count += 1
        }
        return cursor == 0
    }

    /// Walks every step, then returns the answer, the matching keys as one
    /// array, in the buffer they were gathered in.
    mutating func complete(_ keyspace: KeyspaceAccess) throws -> ByteBuffer {
        try walkAll(keyspace)
        return answer()
    }

    /// The answer once every step is done: the array header written into the
    /// room in front of the keys. The buffer is taken out of the walk first,
    /// so that writing the header finds its storage unshared and does not
    /// copy it.
    mutating func answer() -> ByteBuffer {
        var answer = found.buffer
        found.buffer = ByteBuffer()
        let header = "*\(count)\r\n"
        let start = answer.readerIndex - header.utf8.count
        answer.setString(header, at: start)
        answer.moveReaderIndex(to: start)
        return answer
    }

    /// Walks every step (the tests' way to look at `found` before
    /// ``answer()``).
    mutating func walkAll(_ keyspace: KeyspaceAccess) throws {
        while try !step(keyspace) {}
    }
}
