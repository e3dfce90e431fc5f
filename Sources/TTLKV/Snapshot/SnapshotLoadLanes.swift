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

 Each lane has two batches: the decoder fills one while the lane stores the
 other, and waits when it would fill a third, so the memory a load holds
 stays two batches a lane. The first failure (in file order, of those
 seen) stops every lane, and `finish()` or the next hand-over throws it.
 A lane whose thread could not start is stored by the caller, in line.
 */
#if canImport(Glibc)
import Glibc
#endif

final class SnapshotLoadLanes: @unchecked Sendable {
    // Shared with the lanes' threads: `full`, `spare`, `closed`, `failure`
    // and the counts are read and written only under the condition's
    // mutex; a batch's contents belong to whichever side took the batch
    // out of `spare` or `full`; `filling` and `threads` to the caller.
    private let condition = PosixCondition()
    private var filling: [SnapshotLoadBatch]
    private var full: [[SnapshotLoadBatch]]
    private var spare: [[SnapshotLoadBatch]]
    private var threads: [pthread_t?] = []
    private var closed = false
    private var failure: (ordinal: Int, error: any Error)?
    private var stored = 0
    private var expired = 0
    private let step: Int
    /// The shard of a key; called on the caller's thread only.
    private let shard: (UnsafeRawBufferPointer) -> Int
    private let restore: @Sendable (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int

    /// Lanes for this machine: one per core, up to two. The decoder on the
    /// calling thread keeps about two busy (its own work is most of one
    /// lane's); a third lane, measured on two cores, only waited.
    static var defaultCount: Int {
        Swift.min(2, Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Batches of a lane: the one the decoder fills, and those waiting to be
    /// stored or being stored. With one waiting, a lane that finished its
    /// batch while the decoder waited for the other lane sat idle.
    static var batchesPerLane: Int { 4 }

    /// Starts `count` lanes that store batches of `step` entries decoded
    /// from `file` with `restore` (which returns how many of a batch had
    /// expired, or throws ``SnapshotRestoreFailure``); `shard` gives the
    /// shard of a key.
    init(count: Int, step: Int, file: UnsafeRawBufferPointer, shard: @escaping (UnsafeRawBufferPointer) -> Int,
         restore: @escaping @Sendable (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> Int) {
        self.step = step
        self.shard = shard
        self.restore = restore
        filling = (0..<count).map { _ in SnapshotLoadBatch(capacity: step, file: file) }
        full = Array(repeating: [], count: count)
        spare = (0..<count).map { _ in (1..<Self.batchesPerLane).map { _ in SnapshotLoadBatch(capacity: step, file: file) } }
        // Each thread keeps the lanes until it ends, which close() waits for.
        threads = (0..<count).map { lane in startPosixThread { self.run(lane) } }
    }

    /// Keys stored so far, and keys dropped for having expired.
    var progress: (stored: Int, expired: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (stored, expired)
    }

    /// Deals an entry to its key's lane; throws a lane's failure.
    func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: UInt64, ordinal: Int) throws {
        let lane = shard(key) % filling.count
        filling[lane].append(key: key, value: value, deadline: deadline, ordinal: ordinal)
        if filling[lane].count == step { try handOver(lane) }
    }

    /// Hands the lanes what is left, waits for them to store it, and throws
    /// the first failure if there was one.
    func finish() throws {
        for lane in filling.indices where filling[lane].count > 0 { try handOver(lane) }
        close()
        if let failure { throw failure.error }
    }

    /// Hands the lane its filled batch once it has a spare to fill next.
    private func handOver(_ lane: Int) throws {
        guard threads[lane] != nil else {
            // No thread for this lane: store in line.
            store(&filling[lane])
            if let failure { throw failure.error }
            return
        }
        condition.lock()
        while spare[lane].isEmpty && failure == nil { condition.wait() }
        if let failure {
            condition.unlock()
            throw failure.error
        }
        var next = spare[lane].removeLast()
        swap(&next, &filling[lane])
        full[lane].append(next)
        condition.broadcast()
        condition.unlock()
    }

    /// A lane's thread: stores its batches in order until it is closed and
    /// has none, or the load failed.
    private func run(_ lane: Int) {
        condition.lock()
        while true {
            while full[lane].isEmpty && !closed && failure == nil { condition.wait() }
            guard failure == nil, !full[lane].isEmpty else { break }
            var batch = full[lane].removeFirst()
            condition.unlock()
            store(&batch)
            condition.lock()
            spare[lane].append(batch)
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Stores a batch, counts it, and empties it; records a failure.
    private func store(_ batch: inout SnapshotLoadBatch) {
        var outcome: Result<Int, Failure>
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
            if failure == nil || refused.ordinal < failure!.ordinal { failure = (refused.ordinal, refused.error) }
        }
        condition.broadcast()
        condition.unlock()
    }

    private struct Failure: Error {
        let ordinal: Int
        let error: any Error
    }

    /// Closes the lanes and waits for their threads to end; idempotent.
    /// The caller must call it (or ``finish()``) before it lets go of the
    /// lanes, whatever happened.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
        for index in threads.indices {
            if let thread = threads[index] { pthread_join(thread, nil) }
            threads[index] = nil
        }
    }
}
