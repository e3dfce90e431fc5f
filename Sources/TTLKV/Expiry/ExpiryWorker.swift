/*
 The expiry worker: one dedicated thread per store that makes expired keys
 actually go away.

 Each round it (1) takes the expiry records that writes handed over since
 the last round and schedules them in its timing wheel, (2) advances the
 wheel to the store's clock, which moves the records of every finished tick
 to the due queue, and (3) fires due records within a budget of items and
 time, 64 at a time: for each, the store removes the key only if its
 deadline has really passed (the entry's deadline is the truth, the wheel
 only a hint), or says when the key is due now, and the record is scheduled
 again for then. What the budget leaves is carried over to the next tick.
 The store looks a batch's keys up together, overlapping their memory
 misses, and removes them under one hold of each shard's lock per batch, so
 a mass expiry holds a writer up for at most a batch's removals in its
 shard, and never blocks a reader at all.

 About once a second it also asks the store to free the memory it holds
 back for readers (without waiting for them), so that an idle store gives
 back what its last writes retired.

 Then it sleeps: until the next tick if records are still due, otherwise
 until the next tick at which the wheel has anything to do, at most a
 second (to take new records). A write that gives a key a deadline before
 the end of such a long sleep wakes the worker early (``noteDeadline``), so
 a key is removed within one tick of its deadline plus the time to remove
 the keys due with it, however many keys are not yet due.

 Every round it also takes the expired keys that writes removed before the
 worker reached them (a key overwritten or deleted after its deadline) and
 reports them with its own removals, so that listeners hear of every expiry
 the store counts, once. Whether anyone listens it asks as each key goes,
 not once a round (ExpiryReport), so a listener added during a round hears
 of every key that round removes after it was added.

 Its thread is a real pthread, not a task on the cooperative pool, because
 it sleeps and calls into the store's locks. It starts with the store and is
 stopped and joined when the store is closed or deinitialised; then it
 reports what is left and ends the listeners.
 */
#if canImport(Glibc)
import Glibc
#endif
import Histogram
import Synchronization

@usableFromInline
final class ExpiryWorker: Sendable {
    private let core: any StoreCore
    private let resolution: UInt64
    private let budget: ExpiryBudget
    private let pollsClock: Bool
    private let signal = WorkerSignal()
    @usableFromInline let stopping = Atomic<Bool>(false)
    /// Store-clock time the worker sleeps until when in a long sleep; max
    /// when awake or sleeping no more than a couple of ticks.
    private let wakeAt = Atomic<UInt64>(.max)
    private let pending = Atomic<Int>(0)
    /// Rounds the worker has finished, for a writer waiting for a drain.
    private let rounds = Atomic<UInt64>(0)
    private let expiredCount = Atomic<Int>(0)
    private let lag = Locked(Histogram<UInt64>(numberOfSignificantValueDigits: .three))
    let listeners: ExpiryListeners
    private let thread = Locked<pthread_t?>(nil)

    /// Starts a worker for `core`. With a clock other than the system's
    /// (`pollsClock`) the worker cannot know how fast that clock moves, so it
    /// looks every tick.
    init(core: any StoreCore, configuration: StoreConfiguration) throws {
        self.core = core
        resolution = configuration.tickMilliseconds
        budget = configuration.expiryBudget
        listeners = ExpiryListeners(eventBufferSize: configuration.expiryEventBufferSize)
        if case .system = configuration.clock.source { pollsClock = false } else { pollsClock = true }
        try start()
    }

    private func start() throws {
        guard let handle = startPosixThread({ self.run() }) else { throw StoreError.outOfMemory }
        thread.withLock { $0 = handle }
    }

    /// Throws ``StoreError/closed`` once the store has been closed: the
    /// worker stops with its store, so its state is the store's.
    @inlinable @inline(__always)
    func checkRunning() throws {
        if stopping.load(ordering: .relaxed) { throw StoreError.closed }
    }

    /// Whether the store has been closed or is being deinitialized.
    var isStopped: Bool { stopping.load(ordering: .relaxed) }

    /// Stops the thread and waits for it, then, if `removingEntries` (a
    /// close, not a deinit), removes every entry; reports the expiries that
    /// writes (or that removal) left, and ends the listeners. Only the first
    /// call does anything.
    func shutDown(removingEntries: Bool) {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        signal.signal()
        if let handle = thread.withLock({ $0 }) {
            // The last reference to a store can go on the worker's own
            // thread (a listener that held it, released after a delivery):
            // that thread sees `stopping` when the delivery returns.
            if pthread_equal(handle, pthread_self()) != 0 {
                pthread_detach(handle)
            } else {
                pthread_join(handle, nil)
            }
        }
        // Removal can be refused (a close from inside a read section): the
        // entries then go with the store.
        if removingEntries { try? core.removeAll() }
        var report = ExpiryReport()
        collectExpired(into: &report)
        listeners.publish(report)
        listeners.finish()
    }

    /// Tells the worker a key now has `deadline` (store clock): wakes it if
    /// it is in a long sleep that would end after that deadline.
    @usableFromInline
    func noteDeadline(afterMilliseconds ttl: UInt64) {
        let sleepingUntil = wakeAt.load(ordering: .relaxed)
        guard sleepingUntil != .max else { return }
        if core.now() &+ ttl < sleepingUntil,
           wakeAt.compareExchange(expected: sleepingUntil, desired: .max, ordering: .relaxed).exchanged {
            signal.signal()
        }
    }

    /// Wakes the worker if the core asks for its record logs to be drained
    /// (records of evictions waiting in them hold room writes need).
    @usableFromInline
    func noteWrite() {
        if core.takeDrainWanted() { signal.signal() }
    }

    /// For a write refused while records of evictions filled their room:
    /// wakes the worker and waits, at most `milliseconds`, for it to finish
    /// a whole round (so to drain the logs); false if it did not.
    @usableFromInline
    func awaitDrain(milliseconds: Int = 100) -> Bool {
        let start = rounds.load(ordering: .acquiring)
        for _ in 0..<(milliseconds * 10) {
            signal.signal()
            if rounds.load(ordering: .acquiring) >= start + 2 { return true }
            if stopping.load(ordering: .relaxed) { return false }
            usleep(100)
        }
        return false
    }

    /// Adds what the worker knows, and the store's read counts, to a
    /// store's statistics.
    func addStatistics(to stats: inout StoreStatistics, reads: HitCounters) {
        stats.hits = reads.hits
        stats.misses = reads.misses
        stats.pendingExpiryRecords = pending.load(ordering: .relaxed) + core.scheduleRecords
        stats.keysExpiredByWorker = expiredCount.load(ordering: .relaxed)
        stats.droppedExpiryEvents = listeners.droppedEvents
        stats.expiryLag = lag.withLock { $0 }
    }

    /// Takes the expired keys that writes removed, and the keys the budget
    /// evicted, into `report`; returns how many keys were evicted.
    @discardableResult
    private func collectExpired(into report: inout ExpiryReport) -> Int {
        let first = report.count
        var evicted = 0
        core.drainExpired { key, deadline in
            if listeners.areListening { report.append(key: key, deadline: deadline) }
        }
        core.drainEvicted { key, deadline in
            evicted += 1
            if listeners.areListening { report.append(key: key, deadline: deadline, evicted: true) }
        }
        // Read after the drains, so after every write that removed them.
        if report.count > first { report.stamp(removedAt: core.now(), from: first) }
        return evicted
    }

    private func run() {
        var wheel = TimingWheel(resolution: resolution, now: core.now())
        var roundLag = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var report = ExpiryReport()
        var nextMaintenance: UInt64 = 0
        while !stopping.load(ordering: .acquiring) {
            let now = core.now()
            if now >= nextMaintenance {
                core.reclaimMemory()
                nextMaintenance = now + 1000
            }
            core.drainSchedule { handle, deadline in wheel.schedule(handle: handle, deadline: deadline) }
            core.maintainTable()
            wheel.advance(to: now)
            let evicted = collectExpired(into: &report)
            let removed = fireDue(in: &wheel, lag: &roundLag, report: &report)
            pending.store(wheel.count, ordering: .relaxed)
            if removed > 0 {
                expiredCount.add(removed, ordering: .relaxed)
                lag.withLock { $0.add(roundLag) }
                roundLag.reset()
            }
            listeners.publish(report)
            report.removeAll()
            // Evictions still under way leave records that hold room writes
            // need: look again next tick rather than in up to a second.
            rounds.add(1, ordering: .releasing)
            sleep(wheel: wheel, now: now, evicting: evicted > 0)
        }
    }

    /// Fires due records within the budget, a batch of up to 64 at a time,
    /// adding the keys it removes to `report`; returns how many it removed.
    private func fireDue(in wheel: inout TimingWheel, lag: inout Histogram<UInt64>, report: inout ExpiryReport) -> Int {
        let started = ContinuousClock.now
        let timeBudget = budget.timePerTick ?? .milliseconds(Int64(resolution)) * 4 / 5
        var removed = 0
        withUnsafeTemporaryAllocation(of: ExpiryOutcome.self, capacity: batchChunk) { outcomes in
            outcomes.initialize(repeating: .drop)
            defer { outcomes.deinitialize() }
            _ = wheel.takeDue(limit: budget.itemsPerTick, batchSize: batchChunk,
                              shouldStop: { ContinuousClock.now - started > timeBudget }) { handles, scheduled, later in
                let outcomes = UnsafeMutableBufferPointer(rebasing: outcomes[..<handles.count])
                // The wheel keeps handles, not keys: the report gets each
                // key from the store as the key is removed. The callback
                // runs under a shard lock: the room is made here, before.
                let first = report.count
                if listeners.areListening { report.reserve(keys: handles.count) }
                core.expire(handles, scheduled: scheduled, outcomes: outcomes) { key, deadline in
                    if listeners.areListening { report.append(key: key, deadline: deadline) }
                }
                let at = core.now()
                report.stamp(removedAt: at, from: first)
                for (i, outcome) in outcomes.enumerated() {
                    switch outcome {
                    case .removed(let deadline):
                        removed += 1
                        _ = lag.record(at > deadline ? at - deadline : 0)
                    case .notDue(let deadline):
                        later[i] = deadline
                    case .retry:
                        later[i] = at + resolution
                    case .drop:
                        break
                    }
                }
            }
        }
        return removed
    }

    private func sleep(wheel: TimingWheel, now: UInt64, evicting: Bool) {
        let nextTick = (now / resolution + 1) * resolution
        var until = nextTick
        if !wheel.hasDue && !pollsClock && !evicting {
            until = Swift.min(wheel.nextWakeMilliseconds() ?? .max, now + 1000)
            until = Swift.max(until, nextTick)
        }
        if until > nextTick + resolution {
            wakeAt.store(until, ordering: .relaxed)
        }
        // The round's work took time since `now`: sleep only what is left.
        let current = core.now()
        if until > current { signalAwareWait(milliseconds: until - current) }
        wakeAt.store(.max, ordering: .relaxed)
    }

    private func signalAwareWait(milliseconds: UInt64) {
        guard !stopping.load(ordering: .acquiring) else { return }
        signal.wait(milliseconds: milliseconds)
    }
}
