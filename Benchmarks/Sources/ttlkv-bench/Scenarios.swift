#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Histogram
import Synchronization
import TTLKV

/// Settings shared by every scenario of a run.
struct BenchSettings: Codable {
    var keys: Int
    var threads: Int
    var warmupSeconds: Double
    var durationSeconds: Double
    var keySize: Int
    var valueSizes: String
    var ttlFraction: Double
    var ttlSeconds: String
    var rate: Double?
    var seed: UInt64
    var stormKeys: Int
    var churnSeconds: Int
    var churnRate: Int

    var valueRange: ClosedRange<Int> { parseRange(valueSizes)! }
    var ttlRange: ClosedRange<Int> { parseRange(ttlSeconds)! }
    var rawBytesPerEntry: Double { Double(keySize) + Double(valueRange.lowerBound + valueRange.upperBound) / 2 }

    func spec(_ name: String, mix: OperationMix, distribution: KeyDistribution, threads: Int? = nil) -> PhaseSpec {
        PhaseSpec(
            name: name, mix: mix, distribution: distribution, keys: UInt64(keys),
            threads: threads ?? self.threads, keySize: keySize, valueSizes: valueRange,
            ttlFraction: ttlFraction, ttlSeconds: ttlRange, rate: rate, seed: seed
        )
    }
}

struct PhaseReport: Codable {
    var name: String
    var opsPerSecond: Double
    var latency: [String: LatencySummary]
    var failures: Int

    init(name: String, measurement: PhaseMeasurement, window: Int = 0) {
        self.name = name
        opsPerSecond = measurement.opsPerSecond(window: window)
        latency = [:]
        for op in Operation.allCases where measurement.histograms[window][op.rawValue].totalCount > 0 {
            latency[op.name] = LatencySummary(measurement.histograms[window][op.rawValue])
        }
        failures = measurement.failures
    }
}

struct MemoryReport: Codable {
    var entries: Int
    var residentBytesPerEntry: Double
    var rawBytesPerEntry: Double
    var overheadBytesPerEntry: Double
}

struct StormReport: Codable {
    var keys: Int
    var setupSeconds: Double
    /// Before the deadline, from the deadline until every storm key is
    /// removed, and the seconds after.
    var windows: [PhaseReport]
    /// Deadline-to-removal lag of the storm's keys, milliseconds.
    var lagMilliseconds: LatencySummary
    /// From the common deadline until the last storm key was removed.
    var reclaimSeconds: Double
}

struct ChurnSample: Codable {
    var second: Int
    var entries: Int
    var pendingRecords: Int
    var residentBytes: Int
    var deferredFrees: Int
}

struct ChurnReport: Codable {
    var seconds: Int
    var insertsPerSecond: Double
    var readsPerSecond: Double
    var samples: [ChurnSample]
    /// Growth from the middle third of the run to the last third, percent.
    var entriesGrowthPercent: Double
    var residentGrowthPercent: Double
    var pendingGrowthPercent: Double
    var levelledOff: Bool
}

struct StoreReport: Codable {
    var store: String
    var preload: PhaseReport
    var memory: MemoryReport
    var phases: [PhaseReport]
    var storm: StormReport
    var churn: ChurnReport
}

/// Runs the standard scenarios, in order, on one store.
struct Scenarios<S: ManagedStore> {
    let store: S
    let name: String
    let settings: BenchSettings
    /// Where to write .hgrm files, if anywhere.
    let output: String?

    /// Writes one HdrHistogram percentile-distribution file (µs) per
    /// operation of `measurement`'s window, named scenario-store-op.hgrm.
    func save(_ measurement: PhaseMeasurement, window: Int = 0, as scenario: String) {
        guard let output else { return }
        try? FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for op in Operation.allCases where measurement.histograms[window][op.rawValue].totalCount > 0 {
            var text = ""
            measurement.histograms[window][op.rawValue].outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
            let file = "\(output)/\(scenario.replacingOccurrences(of: " ", with: "-"))-\(name)-\(op.name).hgrm"
            try? text.write(toFile: file, atomically: true, encoding: .utf8)
        }
    }

    /// Runs workers under `spec` while `controller` moves the windows and
    /// reports; returns the merged measurement.
    func drive(_ spec: PhaseSpec, windows: Int, controller: (PhaseControl) -> [Double]) -> PhaseMeasurement {
        let control = PhaseControl(threads: spec.threads)
        let done = DispatchSemaphore(value: 0)
        let results = Collected<[ThreadMeasurement]>(count: 1)
        let store = store
        Thread {
            results.put(runWorkers(store: store, spec: spec, windows: windows, control: control), at: 0)
            done.signal()
        }.start()
        while control.started.load(ordering: .relaxed) < spec.threads { usleep(100) }
        let seconds = controller(control)
        control.stop.store(true, ordering: .relaxed)
        done.wait()
        return merge(results.values[0], seconds: seconds)
    }

    /// Sleeps `seconds`, refreshing the status line every second.
    func wait(_ seconds: Double, _ label: String, _ control: PhaseControl) {
        let end = nanoseconds() + UInt64(seconds * 1e9)
        var lastOps = control.totalOps, lastTime = nanoseconds()
        while nanoseconds() < end {
            usleep(UInt32(min(1e6, Double(end - nanoseconds()) / 1e3)))
            let ops = control.totalOps, now = nanoseconds()
            let rate = Double(ops - lastOps) / (Double(now - lastTime) / 1e9)
            StatusLine.show(String(format: "%@ %@: %.2f M ops/s, p99 %.1f µs", name, label, rate / 1e6, Double(control.recentP99) / 1e3))
            (lastOps, lastTime) = (ops, now)
        }
    }

    /// A plain phase: warm-up, then one measured window.
    func phase(_ label: String, mix: OperationMix, distribution: KeyDistribution) -> PhaseReport {
        let measurement = drive(settings.spec(label, mix: mix, distribution: distribution), windows: 1) { control in
            wait(settings.warmupSeconds, label + " (warm-up)", control)
            let start = nanoseconds()
            control.window.store(0, ordering: .relaxed)
            wait(settings.durationSeconds, label, control)
            return [Double(nanoseconds() - start) / 1e9]
        }
        StatusLine.clear()
        save(measurement, as: label)
        return PhaseReport(name: label, measurement: measurement)
    }

    /// Inserts keys 0..<keys from every thread, each its own share.
    func preload() -> PhaseReport {
        let threads = settings.threads
        let perThread = Collected<ThreadMeasurement>(count: threads)
        let start = nanoseconds()
        let settings = settings, store = store
        onThreads(threads) { thread in
            var histogram = makeHistogram()
            var random = FastRandom(seed: settings.seed &+ UInt64(thread))
            let key = KeyBuffer(size: settings.keySize)
            let values = ValueSource(sizes: settings.valueRange)
            defer { key.deallocate(); values.deallocate() }
            var failures = 0
            for index in stride(from: thread, to: settings.keys, by: threads) {
                let begin = nanoseconds()
                do { try store.set(values.value(&random), forKey: key.set(UInt64(index))) } catch { failures += 1 }
                _ = histogram.record(nanoseconds() - begin)
            }
            perThread.put(ThreadMeasurement(histograms: [[makeHistogram(), histogram, makeHistogram()]], ops: [settings.keys / threads], failures: failures), at: thread)
        }
        let seconds = Double(nanoseconds() - start) / 1e9
        var measurement = merge(perThread.values, seconds: [seconds])
        measurement.ops = [settings.keys]
        save(measurement, as: "preload")
        return PhaseReport(name: "preload", measurement: measurement)
    }

    func memory(baseline: Int) -> MemoryReport {
        let perEntry = Double(residentBytes() - baseline) / Double(settings.keys)
        return MemoryReport(
            entries: store.count, residentBytesPerEntry: perEntry,
            rawBytesPerEntry: settings.rawBytesPerEntry, overheadBytesPerEntry: perEntry - settings.rawBytesPerEntry
        )
    }

    /// Read-heavy load while `stormKeys` keys, rewritten with one common
    /// deadline, all expire in the same tick.
    func storm() -> StormReport {
        let stormKeys = min(settings.stormKeys, settings.keys)
        let key = KeyBuffer(size: settings.keySize)
        let values = ValueSource(sizes: settings.valueRange)
        defer { key.deallocate(); values.deallocate() }
        var random = FastRandom(seed: settings.seed ^ 0x5707)
        let setupStart = nanoseconds()
        let deadline = ContinuousClock.now + .seconds(4) + .milliseconds(Int64(stormKeys / 500))
        for index in 0..<stormKeys {
            let ttl = deadline - .now
            try? store.set(values.value(&random), forKey: key.set(UInt64(settings.keys - 1 - index)), ttl: ttl)
        }
        let setupSeconds = Double(nanoseconds() - setupStart) / 1e9
        let lagBefore = store.statistics.expiryLag
        let countBefore = store.count
        var reclaimSeconds = 0.0
        // The load stays off the storm's keys, so that none of them is
        // rewritten before its deadline and all of them expire.
        var spec = settings.spec("expiry storm", mix: OperationMix(get: 90, set: 10, delete: 0), distribution: .uniform)
        spec.keys = UInt64(settings.keys - stormKeys)
        let measurement = drive(spec, windows: 3) { control in
            wait(settings.warmupSeconds / 2, "storm (warm-up)", control)
            var start = nanoseconds()
            control.window.store(0, ordering: .relaxed)
            while ContinuousClock.now < deadline { wait(0.05, "storm: before", control) }
            let before = Double(nanoseconds() - start) / 1e9
            start = nanoseconds()
            control.window.store(1, ordering: .relaxed)
            while store.count > countBefore - stormKeys && nanoseconds() - start < 60_000_000_000 {
                wait(0.01, "storm: during", control)
            }
            reclaimSeconds = Double(nanoseconds() - start) / 1e9
            start = nanoseconds()
            control.window.store(2, ordering: .relaxed)
            wait(3, "storm: after", control)
            return [before, reclaimSeconds, Double(nanoseconds() - start) / 1e9]
        }
        StatusLine.clear()
        for (window, label) in ["before", "during", "after"].enumerated() {
            save(measurement, window: window, as: "expiry-storm-\(label)")
        }
        var lag = store.statistics.expiryLag
        if lagBefore.totalCount > 0 { lag = subtract(lag, lagBefore) }
        return StormReport(
            keys: stormKeys, setupSeconds: setupSeconds,
            windows: ["before", "during", "after"].enumerated().map {
                PhaseReport(name: $1, measurement: measurement, window: $0)
            },
            lagMilliseconds: LatencySummary(lag), reclaimSeconds: reclaimSeconds
        )
    }

    /// Steady inserts of new keys with short TTLs, next to `mix` over the
    /// preloaded keys (reads only by default); samples entries, pending
    /// records, memory and deferred frees each second.
    func churn(mix: OperationMix = OperationMix(get: 100, set: 0, delete: 0)) -> ChurnReport {
        let readers = max(1, settings.threads - 1)
        let spec = settings.spec("churn", mix: mix, distribution: .uniform, threads: readers)
        let inserted = Atomic<Int>(0)
        let stopInserts = Atomic<Bool>(false)
        var samples: [ChurnSample] = []
        let settings = settings, store = store
        let inserter = Thread {
            let key = KeyBuffer(size: settings.keySize)
            let values = ValueSource(sizes: settings.valueRange)
            defer { key.deallocate(); values.deallocate() }
            var random = FastRandom(seed: settings.seed ^ 0xC4A2)
            let interval = UInt64(1e9 / Double(settings.churnRate))
            var next = nanoseconds()
            var index = UInt64(settings.keys) + 1_000_000_000
            while !stopInserts.load(ordering: .relaxed) {
                while nanoseconds() < next {}
                next &+= interval
                index += 1
                let ttl = Duration.milliseconds(1000 + Int64(random.next(below: 4000)))
                try? store.set(values.value(&random), forKey: key.set(index), ttl: ttl)
                inserted.add(1, ordering: .relaxed)
            }
        }
        inserter.start()
        let measurement = drive(spec, windows: 1) { control in
            let start = nanoseconds()
            control.window.store(0, ordering: .relaxed)
            for second in 1...settings.churnSeconds {
                wait(1, "churn \(second)/\(settings.churnSeconds) s", control)
                let stats = store.statistics
                if samples.count % 60 == 59 && !StatusLine.enabled {
                    writeError("\(name) churn: \(second) s, \(stats.entries) entries, \(stats.pendingExpiryRecords) pending records, \(residentBytes() >> 20) MiB\n")
                }
                samples.append(ChurnSample(
                    second: second, entries: stats.entries, pendingRecords: stats.pendingExpiryRecords,
                    residentBytes: residentBytes(), deferredFrees: stats.deferredFrees
                ))
            }
            return [Double(nanoseconds() - start) / 1e9]
        }
        stopInserts.store(true, ordering: .relaxed)
        StatusLine.clear()
        func growth(_ value: (ChurnSample) -> Int) -> Double {
            let third = samples.count / 3
            guard third > 0 else { return 0 }
            let middle = samples[third..<(2 * third)].map(value).reduce(0, +) / third
            let last = samples[(2 * third)...].map(value).reduce(0, +) / (samples.count - 2 * third)
            return middle == 0 ? 0 : 100 * Double(last - middle) / Double(middle)
        }
        let entries = growth { $0.entries }, rss = growth { $0.residentBytes }, pending = growth { $0.pendingRecords }
        return ChurnReport(
            seconds: settings.churnSeconds,
            insertsPerSecond: Double(inserted.load(ordering: .relaxed)) / measurement.seconds[0],
            readsPerSecond: measurement.opsPerSecond(window: 0), samples: samples,
            entriesGrowthPercent: entries, residentGrowthPercent: rss, pendingGrowthPercent: pending,
            levelledOff: abs(entries) < 5 && rss < 5 && abs(pending) < 10
        )
    }

    /// Every scenario, in order; `baseline` is the resident size before
    /// the store was created.
    func runAll(baseline: Int) -> StoreReport {
        StatusLine.show("\(name): preload \(settings.keys) keys")
        let preload = preload()
        let memory = memory(baseline: baseline)
        let phases = [
            phase("read-heavy", mix: OperationMix(get: 90, set: 10, delete: 0), distribution: .uniform),
            phase("skewed", mix: OperationMix(get: 90, set: 10, delete: 0), distribution: .zipf(0.99)),
            phase("write-heavy", mix: OperationMix(get: 50, set: 50, delete: 0), distribution: .uniform),
        ]
        let storm = storm()
        let churn = churn()
        return StoreReport(store: name, preload: preload, memory: memory, phases: phases, storm: storm, churn: churn)
    }
}

/// `a` minus the counts of `b` (b recorded into a earlier).
func subtract(_ a: Histogram<UInt64>, _ b: Histogram<UInt64>) -> Histogram<UInt64> {
    var result = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    for bucket in a.recordedValues() {
        let before = b.countForValue(bucket.value)
        let count = UInt64(bucket.count) - min(UInt64(bucket.count), UInt64(before))
        if count > 0 { _ = result.record(bucket.value, count: count) }
    }
    return result
}
