// Churn: the normal life of a TTL store. One inserter thread writes new
// keys at a steady rate, each with a TTL, while reader threads run a mix
// next to it; the expiry worker removes the keys as their TTLs pass, so
// the live count levels off at rate x TTL and the table's contents are
// replaced again every TTL.
//
// The engine runs in slices (`slice(until:)`): `compare` alternates the
// two stores' slices, and `soak` runs one slice per minute. Within a
// slice the inserter keeps to its rate as an open loop with catch-up: it
// inserts what is due since the slice began, then sleeps a millisecond,
// so it takes no core while it waits. Every insert and every reader
// operation is timed (service time); at the end of each slice the store's
// entries, pending expiry records and deferred frees and the process's
// resident memory are sampled.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Histogram
import Synchronization

/// What the inserter does.
struct ChurnSettings: Codable, Sendable {
    /// New keys per second.
    var rate: Double
    /// TTL of each new key, milliseconds (a range: each key draws one).
    var ttlMilliseconds: ClosedRange<Int>
    /// Key numbers of new keys start here (clear of any preloaded keys).
    var firstKey: UInt64
}

/// The store's state at the end of a slice.
struct ChurnSample: Codable {
    var entries: Int
    var pendingRecords: Int
    var deferredFrees: Int
    /// Resident memory of the process above what it was before the store
    /// was opened.
    var residentBytes: Int
    /// New keys inserted since the churn began.
    var inserted: Int
}

/// One slice: the inserter's histogram as operation "insert", the readers'
/// by their operations, and the sample at its end.
struct ChurnSlice: Codable {
    var window: WindowResult
    var sample: ChurnSample
}

/// Churn on one store: an inserter and readers, run slice by slice.
final class ChurnEngine<S: BenchStore>: Sendable {
    let bench: StoreBench<S>
    let churn: ChurnSettings
    let readers: PhaseSpec
    /// Resident memory before the store was opened.
    let baseline: Int
    private let recent: RecentKeys

    /// `readers` runs next to the inserter; with `readRecent` its keys are
    /// the ones inserted within the last `readRecent` inserts instead of
    /// `readers.keys`.
    init(bench: StoreBench<S>, churn: ChurnSettings, readers: PhaseSpec, readRecent: Int?, baseline: Int) {
        self.bench = bench
        self.churn = churn
        self.baseline = baseline
        var readers = readers
        recent = RecentKeys(base: churn.firstKey, window: UInt64(readRecent ?? 1))
        if readRecent != nil { readers.recent = recent }
        self.readers = readers
    }

    /// Runs the inserter and the readers until CLOCK_MONOTONIC reads `end`.
    func slice(until end: UInt64, label: String) -> ChurnSlice {
        let stop = Atomic<Bool>(false)
        let inserter = Collected<(Histogram<UInt64>, Int)>(count: 1)
        let done = DispatchSemaphore(value: 0)
        let start = nanoseconds()
        Thread { [self] in
            inserter.put(insert(from: start, until: stop), at: 0)
            done.signal()
        }.start()
        var window = bench.drive(readers, windows: 1) { control in
            control.window.store(0, ordering: .relaxed)
            bench.wait(until: end, label, control)
            // The inserter stops with the readers, not after their teardown.
            stop.store(true, ordering: .relaxed)
            return [Double(nanoseconds() - start) / 1e9]
        }[0]
        done.wait()
        let (histogram, failures) = inserter.values[0]
        window.failures += failures
        if histogram.totalCount > 0 { window.histograms["insert"] = WireHistogram(histogram) }
        let snapshot = bench.store.snapshot
        let sample = ChurnSample(
            entries: snapshot.entries, pendingRecords: snapshot.pendingRecords, deferredFrees: snapshot.deferredFrees,
            residentBytes: residentBytes() - baseline, inserted: Int(recent.inserted.load(ordering: .relaxed))
        )
        return ChurnSlice(window: window, sample: sample)
    }

    /// The inserter's loop for one slice: returns its histogram and failures.
    private func insert(from start: UInt64, until stop: borrowing Atomic<Bool>) -> (Histogram<UInt64>, Int) {
        let settings = bench.settings, store = bench.store, recent = recent
        let key = KeyBuffer(size: settings.keySize)
        let values = ValueSource(sizes: settings.valueRange)
        defer { key.deallocate(); values.deallocate() }
        var histogram = makeHistogram()
        var failures = 0
        var random = FastRandom(seed: settings.seed ^ 0xC4A2 &+ recent.inserted.load(ordering: .relaxed))
        let ttlSpan = UInt64(churn.ttlMilliseconds.count)
        var done = 0
        while !stop.load(ordering: .relaxed) {
            let due = Int(Double(nanoseconds() - start) / 1e9 * churn.rate)
            if done >= due {
                usleep(1000)
                continue
            }
            while done < due && !stop.load(ordering: .relaxed) {
                let index = recent.inserted.load(ordering: .relaxed)
                let ttl = Duration.milliseconds(churn.ttlMilliseconds.lowerBound + Int(random.next(below: ttlSpan)))
                let begin = nanoseconds()
                if !store.set(values.value(&random), forKey: key.set(churn.firstKey + index), ttl: ttl) { failures += 1 }
                _ = histogram.record(nanoseconds() - begin)
                recent.inserted.store(index + 1, ordering: .relaxed)
                done += 1
            }
        }
        return (histogram, failures)
    }
}
