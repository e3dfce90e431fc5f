#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Histogram
import Synchronization

/// Settings shared by every scenario of a run.
struct BenchSettings: Codable, Sendable {
    var keys: Int
    var threads: Int
    var warmupSeconds: Double
    var durationSeconds: Double
    var rounds: Int
    var keySize: Int
    var valueSizes: String
    var ttlFraction: Double
    var ttlSeconds: String
    var rate: Double?
    var seed: UInt64
    var oversubscription: Int
    var stormKeys: Int
    var churnKeys: Int
    var churnRate: Int
    var churnReplacements: Int
    var quietSeconds: Double
    /// The eviction scenario's hit-ratio curve: keys in its trace (at most
    /// `keys`) and requests.
    var traceKeys = 1_000_000
    var traceRequests = 1_000_000

    var valueRange: ClosedRange<Int> { parseRange(valueSizes)! }
    var ttlRange: ClosedRange<Int> { parseRange(ttlSeconds)! }
    var rawBytesPerEntry: Double { Double(keySize) + Double(valueRange.lowerBound + valueRange.upperBound) / 2 }

    /// The main store: the preload plus room for what the storm adds.
    var sizing: StoreSizing { sizing(capacity: keys + keys / 10) }

    func sizing(capacity: Int) -> StoreSizing {
        StoreSizing(capacity: capacity, maximumKeySize: max(keySize, 16), maximumValueSize: max(valueRange.upperBound, 1))
    }

    func spec(mix: OperationMix, distribution: KeyDistribution = .uniform, threads: Int? = nil, rate: Double? = nil) -> PhaseSpec {
        PhaseSpec(
            mix: mix, distribution: distribution, keys: UInt64(keys),
            threads: threads ?? self.threads, keySize: keySize, valueSizes: valueRange,
            ttlFraction: ttlFraction, ttlSeconds: ttlRange, rate: rate, seed: seed
        )
    }
}

/// What a storm round asks for.
struct StormRequest: Codable {
    var stormKeys: Int
    /// Seconds from the start of writing the storm's keys to their common
    /// deadline: room to write them all first.
    var leadSeconds: Double
    /// The read-heavy load that runs through the storm, off the storm's keys.
    var load: PhaseSpec
    var warmupSeconds: Double
    var afterSeconds: Double
}

/// One storm round on one store.
struct StormRound: Codable {
    /// Before the deadline, from the deadline until every storm key is
    /// removed, and the seconds after.
    var windows: [WindowResult]
    /// Deadline-to-removal lag of this round's storm keys, milliseconds.
    var lagMilliseconds: WireHistogram
    /// From the common deadline until the last storm key was removed (at
    /// most 20 s: then not all were).
    var reclaimSeconds: Double
    var setupSeconds: Double
    /// Whether writing the storm's keys took longer than the lead before
    /// their deadline (then the storm is spread, not in one tick).
    var missedDeadline: Bool
}

/// Memory after the preload.
struct MemoryReport: Codable {
    var entries: Int
    var residentBytesPerEntry: Double
    var rawBytesPerEntry: Double
    var overheadBytesPerEntry: Double
}

/// The standard scenarios' measurements on one store, in this process;
/// a child process runs them on command, `run` directly.
struct StoreBench<S: BenchStore>: Sendable {
    let store: S
    let settings: BenchSettings
    /// Text for the status line.
    let name: String

    /// Runs workers under `spec` while `controller` moves the windows;
    /// returns the measured windows. Each worker thread runs `loop` (by
    /// default the operation mix of `spec`).
    func drive(_ spec: PhaseSpec, windows: Int, loop: WorkerLoop? = nil, controller: (PhaseControl) -> [Double]) -> [WindowResult] {
        let control = PhaseControl(threads: spec.threads)
        let done = DispatchSemaphore(value: 0)
        let results = Collected<[ThreadMeasurement]>(count: 1)
        let store = store
        let loop = loop ?? { thread, control in workerLoop(store: store, spec: spec, thread: thread, windows: windows, control: control) }
        let spawner = Thread {
            results.put(runWorkers(threads: spec.threads, control: control, loop), at: 0)
            done.signal()
        }
        // An open loop's threads sleep between operations; they inherit
        // the slack of their timers from the thread that creates them.
        if spec.rate != nil { withPreciseTimers { spawner.start() } } else { spawner.start() }
        while control.started.load(ordering: .relaxed) < spec.threads { usleep(100) }
        let seconds = controller(control)
        control.stop.store(true, ordering: .relaxed)
        done.wait()
        StatusLine.clear()
        return merge(results.values[0], seconds: seconds)
    }

    /// Sleeps `seconds` (or until `until`, ns), refreshing the status line.
    func wait(_ seconds: Double, _ label: String, _ control: PhaseControl) {
        wait(until: nanoseconds() + UInt64(max(seconds, 0) * 1e9), label, control)
    }

    func wait(until end: UInt64, _ label: String, _ control: PhaseControl) {
        var lastOps = control.totalOps, lastTime = nanoseconds()
        while case let now = nanoseconds(), now < end {
            usleep(UInt32(min(1_000_000, (end - now) / 1000)))
            let ops = control.totalOps, now = nanoseconds()
            let rate = Double(ops - lastOps) / max(Double(now - lastTime) / 1e9, 1e-9)
            StatusLine.show(String(format: "%@ %@: %.2f M ops/s, p99 %.1f µs", name, label, rate / 1e6,
                                   Double(control.recentP99) / 1e3))
            (lastOps, lastTime) = (ops, now)
        }
    }

    /// A plain round: warm-up, then one measured window.
    func phase(_ spec: PhaseSpec, label: String) -> WindowResult {
        drive(spec, windows: 1) { control in
            wait(settings.warmupSeconds, label + " (warm-up)", control)
            let start = nanoseconds()
            control.window.store(0, ordering: .relaxed)
            wait(settings.durationSeconds, label, control)
            return [Double(nanoseconds() - start) / 1e9]
        }[0]
    }

    /// Inserts keys `range` from `settings.threads` threads, each its own
    /// share; every put is timed.
    func preload(_ range: Range<Int>) -> WindowResult {
        let threads = settings.threads
        let perThread = Collected<Histogram<UInt64>>(count: threads)
        let failures = Atomic<Int>(0)
        let settings = settings, store = store
        let start = nanoseconds()
        onThreads(threads) { thread in
            var histogram = makeHistogram()
            var random = FastRandom(seed: settings.seed &+ UInt64(thread) &+ UInt64(range.lowerBound))
            let key = KeyBuffer(size: settings.keySize)
            let values = ValueSource(sizes: settings.valueRange)
            defer { key.deallocate(); values.deallocate() }
            for index in stride(from: range.lowerBound + thread, to: range.upperBound, by: threads) {
                let begin = nanoseconds()
                if !store.set(values.value(&random), forKey: key.set(UInt64(index)), ttl: nil) {
                    failures.add(1, ordering: .relaxed)
                }
                _ = histogram.record(nanoseconds() - begin)
            }
            perThread.put(histogram, at: thread)
        }
        let seconds = Double(nanoseconds() - start) / 1e9
        var merged = makeHistogram()
        for histogram in perThread.values { merged.add(histogram) }
        return WindowResult(seconds: seconds, failures: failures.load(ordering: .relaxed), histograms: ["set": merged])
    }

    func memory(baseline: Int) -> MemoryReport {
        let perEntry = Double(residentBytes() - baseline) / Double(settings.keys)
        return MemoryReport(
            entries: store.snapshot.entries, residentBytesPerEntry: perEntry,
            rawBytesPerEntry: settings.rawBytesPerEntry, overheadBytesPerEntry: perEntry - settings.rawBytesPerEntry
        )
    }

    /// One expiry storm: the top `stormKeys` keys are rewritten with one
    /// common deadline, and all expire in the same tick while a read-heavy
    /// load runs over the other keys (so that none of the storm's keys is
    /// rewritten before its deadline).
    func storm(_ request: StormRequest) -> StormRound {
        let stormKeys = min(request.stormKeys, settings.keys)
        let before = store.snapshot
        let setupStart = nanoseconds()
        let deadline = setupStart + UInt64(request.leadSeconds * 1e9)
        let settings = settings, store = store
        onThreads(settings.threads) { thread in
            let key = KeyBuffer(size: settings.keySize)
            let values = ValueSource(sizes: settings.valueRange)
            defer { key.deallocate(); values.deallocate() }
            var random = FastRandom(seed: settings.seed ^ 0x5707 &+ UInt64(thread))
            for index in stride(from: thread, to: stormKeys, by: settings.threads) {
                let ttl = timeToLive(until: deadline, now: nanoseconds())
                _ = store.set(values.value(&random), forKey: key.set(UInt64(settings.keys - 1 - index)), ttl: ttl)
            }
        }
        let setupEnd = nanoseconds()
        // The load only overwrites the other keys: once every storm key is
        // removed, they are all that is left.
        let others = settings.keys - stormKeys
        var reclaimSeconds = 0.0
        var load = request.load
        load.keys = UInt64(others)
        let windows = drive(load, windows: 3) { control in
            wait(until: min(deadline, nanoseconds() + UInt64(request.warmupSeconds * 1e9)), "storm (warm-up)", control)
            var start = nanoseconds()
            control.window.store(0, ordering: .relaxed)
            wait(until: deadline, "storm: before", control)
            let beforeSeconds = Double(nanoseconds() - start) / 1e9
            start = nanoseconds()
            control.window.store(1, ordering: .relaxed)
            while store.snapshot.entries > others && nanoseconds() - start < 20_000_000_000 {
                wait(0.005, "storm: during", control)
            }
            reclaimSeconds = Double(nanoseconds() - start) / 1e9
            start = nanoseconds()
            control.window.store(2, ordering: .relaxed)
            wait(request.afterSeconds, "storm: after", control)
            return [beforeSeconds, reclaimSeconds, Double(nanoseconds() - start) / 1e9]
        }
        return StormRound(
            windows: windows, lagMilliseconds: WireHistogram(subtract(store.snapshot.expiryLag, before.expiryLag)),
            reclaimSeconds: reclaimSeconds, setupSeconds: Double(setupEnd - setupStart) / 1e9,
            missedDeadline: setupEnd > deadline
        )
    }
}

/// The lead that leaves room to write `stormKeys` keys at `putsPerSecond`
/// (as measured in the preload, from as many threads) twice over, then the
/// warm-up, then a second of the "before" window: with less, a setup slower
/// than the preload (its writes carry TTLs) could leave that window empty.
func stormLead(stormKeys: Int, putsPerSecond: Double, warmupSeconds: Double) -> Double {
    2 * Double(stormKeys) / max(putsPerSecond, 1) + warmupSeconds + 1
}

/// The TTL that makes a key written at `now` expire at `deadline` (ns);
/// at least 1 ms, for a setup so slow that it ran past the deadline.
func timeToLive(until deadline: UInt64, now: UInt64) -> Duration {
    .nanoseconds(Int64(deadline > now + 1_000_000 ? deadline - now : 1_000_000))
}

/// `a` minus the counts of `b`, an earlier snapshot of `a`. The store's
/// lag histogram grows its range as larger values come, so `b` may not
/// reach as far as `a`: past its largest value it counts nothing.
func subtract(_ a: Histogram<UInt64>, _ b: Histogram<UInt64>) -> Histogram<UInt64> {
    var result = makeHistogram()
    for bucket in a.recordedValues() {
        let before = b.totalCount > 0 && bucket.value <= b.max ? b.countForValue(bucket.value) : 0
        let count = UInt64(bucket.count) - min(UInt64(bucket.count), UInt64(before))
        if count > 0 { _ = result.record(bucket.value, count: count) }
    }
    return result
}
