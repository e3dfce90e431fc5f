/*
 A snapshot's load spread over threads. The caller decodes the file and
 deals each key to a lane, a thread that stores its batches in the order
 they were dealt (the core's batched load); the caller goes on decoding
 meanwhile. Storing is most of a load's work (building entries, and one
 cache miss per key on its table slot), so on two cores two lanes beside
 the decoder keep both busy, where one thread left a core idle.

 A key goes to the lane of its shard, so every copy of a key goes to one
 lane, stored in file order (a key named twice keeps its last value, as a
 load on one thread would), and no two lanes write to one shard: they never
 wait for each other's shard locks.

 A lane has a few batches: the decoder fills one while the lane stores the
 others, and waits when it would fill one more, so a load holds a bounded
 number of batches, each handed over at `step` entries or once the bytes it
 had to copy pass a mebibyte. A refusal does not stop the lanes at once:
 each still stores the batches it holds that begin before the refused key,
 and the caller those it was filling, so that the error names the first
 key of the file the store refuses, as a load on one thread would. A
 decoding error or a cancellation stops them at once.

 With no lane threads (one CPU, a byte budget, or threads that could not
 start) the caller stores each batch itself, as before.
 */
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

final class SnapshotLoadLanes: @unchecked Sendable {
    // Shared with the lanes' threads: `full`, `spare`, `state`, `failure`
    // and the counts are read and written only under the condition's
    // mutex; a batch's contents belong to whichever side took the batch
    // out of `spare` or `full`; `filling` and `threads` to the caller.
    private let condition = PosixCondition()
    // Unchecked: the dealing thread's alone, written for every key, and no
    // access to it overlaps another (nothing it calls comes back to it).
    @exclusivity(unchecked) private var filling: [SnapshotLoadBatch]
    private var full: [[SnapshotLoadBatch]]
    private var spare: [[SnapshotLoadBatch]]
    private var threads: [pthread_t?] = []
    private var state = State.dealing
    private var failure: Failure?
    private var stored = 0
    private var expired = 0
    private let step: Int
    /// The shard of a key; called on the caller's thread only.
    private let shard: (UnsafeRawBufferPointer) -> Int
    private let restore: @Sendable (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int

    private enum State { case dealing, finishing, abandoned }

    private struct Failure: Error {
        let ordinal: Int
        let error: any Error
    }

    /// Thrown by ``append(key:value:deadline:ordinal:)`` once a lane has
    /// refused a key: ``load(_:)`` then throws the refusal itself.
    struct Stopped: Error {}

    /// Lane threads for this machine: two where the process may use more
    /// than one CPU (its affinity and CPU quota: Foundation's count), since
    /// the decoder on the calling thread keeps about two busy (its own work
    /// is most of one lane's; a third lane, measured on two cores, only
    /// waited); none on one CPU, where threads only add work.
    static var defaultThreads: Int {
        ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 0
    }

    /// Batches of a lane: the one the decoder fills, and those waiting to be
    /// stored or being stored. With one waiting, a lane that finished its
    /// batch while the decoder waited for the other lane sat idle.
    static var batchesPerLane: Int { 4 }

    /// Copied bytes (decoder-built keys and values: integers, LZF) past
    /// which a batch is handed over before it has `step` entries.
    static var copiedBytesPerBatch: Int { 1 << 20 }

    /// Starts `threads` lanes (none: the caller stores each batch itself)
    /// that store batches of up to `step` entries decoded from `file` with
    /// `restore` (which returns how many of a batch had expired, or throws
    /// ``SnapshotRestoreFailure``); `shard` gives the shard of a key.
    init(threads count: Int, step: Int, file: UnsafeRawBufferPointer, shard: @escaping (UnsafeRawBufferPointer) -> Int,
         restore: @escaping @Sendable (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int) {
        let lanes = Swift.max(1, count)
        self.step = step
        self.shard = shard
        self.restore = restore
        func batch() -> SnapshotLoadBatch { SnapshotLoadBatch(capacity: step, file: file, copiedBytes: Self.copiedBytesPerBatch) }
        filling = (0..<lanes).map { _ in batch() }
        full = Array(repeating: [], count: lanes)
        spare = (0..<lanes).map { _ in (1..<Self.batchesPerLane).map { _ in batch() } }
        // Each thread keeps the lanes until it ends, which close() waits for.
        threads = count == 0 ? [nil] : (0..<lanes).map { lane in startPosixThread { self.run(lane) } }
    }

    /// Keys stored so far, and keys dropped for having expired.
    var progress: (stored: Int, expired: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (stored, expired)
    }

    /// Runs `decode`, which deals the file's entries with ``append(key:value:deadline:ordinal:)``,
    /// then has the lanes store what is left and waits for them. Throws the
    /// refusal of the first key of the file that the store refused, if any;
    /// if `decode` throws anything else, the lanes stop at once and that is
    /// rethrown. Either way no lane thread is left when this returns.
    func load<Result>(_ decode: () throws -> Result) throws -> Result {
        defer { close(.abandoned) }
        let result: Result
        do {
            result = try decode()
        } catch is Stopped {
            try finish()
            preconditionFailure("a lane stopped the load without a failure")
        }
        try finish()
        return result
    }

    /// Deals an entry to its key's lane; throws ``Stopped`` once a lane has
    /// refused a key.
    func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: UInt64, ordinal: Int) throws {
        let lane = filling.count == 1 ? 0 : shard(key) % filling.count
        filling[lane].append(key: key, value: value, deadline: deadline, ordinal: ordinal)
        if filling[lane].count == step || filling[lane].isFull {
            guard handOver(lane) else { throw Stopped() }
        }
    }

    /// Hands the lane its filled batch once it has a spare to fill next, or
    /// stores it in line if the lane has no thread; false, handing over
    /// nothing, once a lane has refused a key.
    private func handOver(_ lane: Int) -> Bool {
        guard threads[lane] != nil else {
            guard failedOrdinal == nil else { return false }
            store(&filling[lane])
            return true
        }
        condition.lock()
        defer { condition.unlock() }
        while spare[lane].isEmpty && failure == nil { condition.wait() }
        guard failure == nil else { return false }
        var next = spare[lane].removeLast()
        swap(&next, &filling[lane])
        full[lane].append(next)
        condition.broadcast()
        return true
    }

    /// Stores what the caller still holds (after a refusal, only what comes
    /// before it in the file), waits for the lanes, and throws the first
    /// refusal.
    private func finish() throws {
        for lane in filling.indices where filling[lane].count > 0 {
            if !handOver(lane), let limit = failedOrdinal, filling[lane].ordinal(at: 0) < limit {
                store(&filling[lane])
            }
        }
        close(.finishing)
        if let failure { throw failure.error }
    }

    /// The place in the file of the first key refused so far.
    private var failedOrdinal: Int? {
        condition.lock()
        defer { condition.unlock() }
        return failure?.ordinal
    }

    /// A lane's thread: stores its batches in order until it is closed and
    /// has none left; after a refusal only those that begin before the
    /// refused key; abandoned, none.
    private func run(_ lane: Int) {
        condition.lock()
        while true {
            while full[lane].isEmpty && state == .dealing && failure == nil { condition.wait() }
            guard state != .abandoned, let first = full[lane].first?.ordinal(at: 0),
                  first < failure?.ordinal ?? Int.max else { break }
            var batch = full[lane].removeFirst()
            condition.unlock()
            store(&batch)
            condition.lock()
            spare[lane].append(batch)
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Stores a batch, counts it, and empties it; keeps the refusal of the
    /// earliest key.
    private func store(_ batch: inout SnapshotLoadBatch) {
        var outcome: Swift.Result<Int, Failure>
        do {
            outcome = .success(try batch.withItems(restore))
        } catch let refused as SnapshotRestoreFailure {
            let ordinal = batch.ordinal(at: refused.unstored[0])
            outcome = .failure(Failure(ordinal: ordinal,
                                       error: SnapshotError.storeFull.with("its key \(ordinal + 1): \(refused.error)")))
        } catch {
            outcome = .failure(Failure(ordinal: batch.ordinal(at: 0), error: error))
        }
        let count = batch.count
        batch.removeAll()
        condition.lock()
        switch outcome {
        case .success(let dropped):
            stored += count - dropped
            expired += dropped
        case .failure(let refused):
            if refused.ordinal < failure?.ordinal ?? Int.max { failure = refused }
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Ends the lanes (finishing: once they stored what they hold; abandoned:
    /// at once) and waits for their threads; a second call changes nothing.
    private func close(_ end: State) {
        condition.lock()
        if state == .dealing { state = end }
        condition.broadcast()
        condition.unlock()
        for index in threads.indices {
            if let thread = threads[index] { pthread_join(thread, nil) }
            threads[index] = nil
        }
    }
}
