/*
 Snapshots of a store in Redis's RDB format, written once for both stores.

 Writing walks the live entries a step at a time (each step a few thousand
 table slots, see StoreCore.walkEntries) and encodes them, straight from the
 entries' bytes, into a buffer that is handed over between steps, never
 inside one (a step of the C core runs in a read section, which must not
 wait for the disk), to a thread that writes it while the walk goes on
 (SnapshotWriteThread). Each entry's key, value and deadline are taken
 together, so a key written during the snapshot is in it whole, with its
 old state or its new one; a key that expired before the walk reached it is
 left out; a key left untouched is in it once. Deadlines go into the file
 as Unix milliseconds (StoreClock+UnixTime.swift).

 Loading opens a new store, preallocated for the file's key count (its
 RESIZEDB record) if that is more than the configuration asks for and it
 has no byte budget, checks
 the whole file's checksum before it decodes a byte, then restores each
 string key with its absolute deadline, dropping keys already expired, a
 batch of a few thousand keys at a time (SnapshotLoadBatch), stored on
 threads while the calling thread decodes on (SnapshotLoadLanes). Under a budget
 the load evicts as writes do; the part of a batch refused while the records
 of its evictions fill their room is tried again once the expiry worker has
 drained them, as a single write is. On any error the new store is
 discarded and nothing else has changed.
 */

/// How far a snapshot write or load has come: what it has done so far
/// (``summary``), and what it expects.
public struct SnapshotProgress: Sendable {
    /// What the write or load has done so far.
    public var summary: SnapshotSummary
    /// The keys the store or the file announced (an estimate: the store's
    /// count when the write began; the file's RESIZEDB record).
    public var expectedEntries: Int?
    /// True for the last report, once the file is written or loaded: its
    /// ``summary`` is then the whole operation's.
    public var isComplete = false
}

/// What a snapshot write or load did.
public struct SnapshotSummary: Sendable, Equatable {
    /// Keys written to the file, or loaded into the store (under a byte
    /// budget, loaded keys that later ones evicted are counted too: see
    /// the store's ``StoreStatistics/evicted``).
    public var entries = 0
    /// Keys in the file whose deadline had passed: not loaded.
    public var expiredOnLoad = 0
    /// Values of types a store of strings cannot hold, skipped on load, by
    /// Redis type name ("list", "hash", ...), and keys of databases other
    /// than 0.
    public var skipped: [String: Int] = [:]
    /// File bytes written or read so far (written: handed to the thread
    /// that writes the file, a few mebibytes ahead of the disk until the
    /// last report).
    public var bytes = 0
}

extension _StoreFrontEnd {
    /// Writes every live key, its value and its deadline to `path` as a
    /// Redis RDB file (version 10, which `redis-check-rdb` checks and Redis
    /// 7 loads), crash-safely: to a temporary file in the same folder,
    /// flushed to disk, then renamed over `path`, so that a crash at any
    /// moment leaves the previous file whole.
    ///
    /// Readers and writers go on meanwhile: a key written during the
    /// snapshot is in it with its old or its new value and deadline, never
    /// a mix; a key that expires before the walk reaches it is left out.
    /// `progress`, if given, is called after each mebibyte written, and
    /// once more when the file is in place (``SnapshotProgress/isComplete``).
    /// An error it throws before that stops the write and is rethrown, the
    /// temporary file removed and the previous file untouched: the way to
    /// cancel a long write. (One thrown from the last report is rethrown
    /// too, the new file being in place.)
    ///
    /// Throws ``SnapshotError`` for a failed file operation (the previous
    /// file is then untouched), ``StoreError/closed``, or what `progress`
    /// threw.
    @discardableResult
    public func writeSnapshot(to path: String, progress: ((SnapshotProgress) throws -> Void)? = nil) throws -> SnapshotSummary {
        try _frontEnd.checkRunning()
        let core = _frontEnd.core
        var file = try SnapshotFileWriter(path: path, chunkBytes: 2 * Self.snapshotBuffer)
        // The file keeps the checksum: its write thread computes it, off the
        // walk's thread, which is the one a snapshot waits for.
        var encoder = RDBEncoder(reservingCapacity: Self.snapshotBuffer + (Self.snapshotBuffer >> 2), checksummed: false)
        let expected = core.count
        let clock = _frontEnd.clock
        let stats = statistics
        encoder.appendHeader()
        encoder.appendAux("redis-ver", "7.0.0")
        encoder.appendAux("redis-bits", "64")
        encoder.appendAux("ctime", String(clock.unixMilliseconds(at: now) / 1000))
        encoder.appendAux("used-mem", String(stats.usedBytes > 0 ? stats.usedBytes : stats.bytes))
        encoder.appendAux("aof-base", "0")
        encoder.appendSelectDB(0)
        encoder.appendResizeDB(keys: expected, expires: Swift.min(expected, stats.pendingExpiryRecords))
        var summary = SnapshotSummary()
        try core.walkEntries(step: Self.snapshotStep) { key, value, deadline in
            let unix = deadline == 0 ? nil : clock.unixMilliseconds(at: StoreClock.Instant(milliseconds: deadline))
            encoder.appendEntry(key: key, value: value, deadline: unix)
            summary.entries += 1
        } betweenSteps: {
            if encoder.pendingByteCount >= Self.snapshotBuffer {
                try encoder.takeBytes { bytes throws(SnapshotError) in try file.write(bytes) }
                summary.bytes = file.bytesWritten
                try progress?(SnapshotProgress(summary: summary, expectedEntries: expected))
            }
        }
        encoder.appendEndMarker()
        try encoder.takeBytes { bytes throws(SnapshotError) in try file.write(bytes) }
        encoder.appendChecksum(try file.checksum())
        try encoder.takeBytes { bytes throws(SnapshotError) in try file.write(bytes) }
        summary.bytes = file.bytesWritten
        try file.commit()
        try progress?(SnapshotProgress(summary: summary, expectedEntries: expected, isComplete: true))
        return summary
    }

    /// A store filled from the RDB snapshot at `path` (one TTLKV or Redis
    /// wrote): every string key of database 0 with its value and deadline,
    /// except keys whose deadline has passed. Values of other types (lists,
    /// hashes, ...) and keys of other databases are skipped and counted;
    /// streams and module values are refused. The store is preallocated for
    /// the file's key count if that is more than `configuration` asks for.
    /// `progress`, if given, is called every few thousand keys, and a last
    /// time with ``SnapshotProgress/isComplete`` set and the whole load's
    /// ``SnapshotSummary``. An error it throws stops the load and is
    /// rethrown, the store discarded: the way to cancel a long load. Under a
    /// ``StoreConfiguration/maximumBytes`` budget the capacity stays as
    /// given, and a file larger than the budget loads as writes would: the
    /// later keys evict the earlier ones.
    ///
    /// The whole file's checksum is verified before anything is loaded.
    /// Throws ``SnapshotError`` (a missing, damaged or truncated file, a type
    /// the store cannot hold, a key or value the store refuses),
    /// ``StoreError`` (a configuration the store refuses), or what
    /// `progress` threw; nothing else has changed.
    public init(snapshotAt path: String, configuration: StoreConfiguration = StoreConfiguration(),
                progress: ((SnapshotProgress) throws -> Void)? = nil) throws {
        let file = try MappedSnapshot(path: path)
        var decoder = RDBDecoder(file.bytes)
        _ = try decoder.verify()
        let sizes = try decoder.sizes()
        var configuration = configuration
        // Under a budget the capacity is the caller's: sized for the file,
        // the tables alone could pass the budget.
        if let keys = sizes?.keys, keys > configuration.capacity, configuration.maximumBytes == nil {
            configuration.capacity = keys
        }
        try self.init(configuration: configuration)
        let clock = _frontEnd.clock
        let frontEnd = _frontEnd
        var summary = SnapshotSummary()
        // The lanes' threads read keys and values in the mapped file until
        // they are closed.
        let report = try withExtendedLifetime(file) {
            let core = frontEnd.core
            // Under a budget the caller stores, one writer thread: ttlkv.h's
            // resident-memory bound under a budget holds for one writer
            // thread (each thread that allocates gets a glibc arena).
            let lanes = SnapshotLoadLanes(threads: configuration.maximumBytes == nil ? SnapshotLoadLanes.defaultThreads : 0,
                                          step: Self.snapshotStep, file: file.bytes,
                                          shard: { core.shard(ofKey: $0) }) { try frontEnd.restore($0) }
            var ordinal = 0
            let report = try lanes.load {
                try decoder.decode { key, value, deadline, offset in
                    var storeDeadline: UInt64 = 0
                    if let deadline {
                        // A deadline at or before the clock's origin is long past.
                        storeDeadline = Swift.max(1, clock.instant(atUnixMilliseconds: deadline).deadlineMilliseconds)
                    }
                    try lanes.append(key: key, value: value, deadline: storeDeadline, ordinal: ordinal)
                    ordinal += 1
                    if ordinal % Self.snapshotStep == 0, let progress {
                        (summary.entries, summary.expiredOnLoad) = lanes.progress
                        summary.bytes = offset
                        try progress(SnapshotProgress(summary: summary, expectedEntries: sizes?.keys))
                    }
                }
            }
            (summary.entries, summary.expiredOnLoad) = lanes.progress
            return report
        }
        summary.bytes = file.bytes.count
        summary.skipped = report.skippedByType
        if report.skippedInOtherDatabases > 0 { summary.skipped["other databases"] = report.skippedInOtherDatabases }
        try progress?(SnapshotProgress(summary: summary, expectedEntries: sizes?.keys, isComplete: true))
    }

    /// Table slots per step of a snapshot's walk.
    static var snapshotStep: Int { 4096 }
    /// Encoded bytes gathered before a write to the file.
    static var snapshotBuffer: Int { 1 << 20 }
}

extension _FrontEnd {
    /// Stores a batch of a snapshot; returns how many of its items had
    /// expired. The items refused for want of a drain of the records of
    /// evictions are written again once the worker drained them, as
    /// ``_StoreFrontEnd/set(_:forKey:ttl:)`` tries a write, as long as
    /// each wait lets more of them in. Any thread.
    func restore(_ items: UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int {
        defer { noteWrite() }
        var left: [Int]?, expired = 0
        while true {
            do {
                guard let left else { return try core.restore(items) }
                return try expired + left.map { items[$0] }.withUnsafeBufferPointer { try core.restore($0) }
            } catch let failure as SnapshotRestoreFailure {
                let all = left ?? Array(items.indices)
                let refused = failure.mapped(to: all, expiredBefore: expired)
                guard failure.error == .outOfMemory, left == nil || refused.unstored.count < all.count,
                      awaitDrain() else { throw refused }
                (left, expired) = (refused.unstored, refused.expired)
            }
        }
    }
}
