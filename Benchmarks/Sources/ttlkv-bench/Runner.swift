#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Histogram
import Synchronization
import TTLKV

/// The operations the driver issues.
enum Operation: Int, CaseIterable {
    case get, set, delete

    var name: String { ["get", "set", "delete"][rawValue] }
}

/// What one measured phase does.
struct PhaseSpec {
    var name: String
    var mix: OperationMix
    var distribution: KeyDistribution
    /// Keys are drawn from 0..<keys.
    var keys: UInt64
    var threads: Int
    var keySize: Int
    var valueSizes: ClosedRange<Int>
    /// Share of sets that carry a TTL, and the TTL range in seconds.
    var ttlFraction: Double
    var ttlSeconds: ClosedRange<Int>
    /// Total operations per second (open loop), or nil for closed loop.
    var rate: Double?
    var seed: UInt64
}

/// State shared by a phase's threads and its controller. Workers record
/// into window `window` (>= 0) and record nothing while it is -1 (warm-up).
final class PhaseControl: Sendable {
    let stop = Atomic<Bool>(false)
    let window = Atomic<Int>(-1)
    let started = Atomic<Int>(0)
    let progress: [Progress]

    final class Progress: Sendable {
        let ops = Atomic<Int>(0)
        let recentP99 = Atomic<UInt64>(0)
    }

    init(threads: Int) {
        progress = (0..<threads).map { _ in Progress() }
    }

    var totalOps: Int { progress.reduce(0) { $0 + $1.ops.load(ordering: .relaxed) } }
    var recentP99: UInt64 { progress.map { $0.recentP99.load(ordering: .relaxed) }.max() ?? 0 }
}

/// What one thread measured: per window, per operation.
struct ThreadMeasurement {
    var histograms: [[Histogram<UInt64>]]
    var ops: [Int]
    var failures = 0
}

/// The result of a phase, per window and operation, merged over threads.
struct PhaseMeasurement {
    var histograms: [[Histogram<UInt64>]]
    var ops: [Int]
    var seconds: [Double]
    var failures: Int

    func opsPerSecond(window: Int) -> Double {
        seconds[window] > 0 ? Double(ops[window]) / seconds[window] : 0
    }
}

/// Runs a phase's threads against `store` while `control` (the caller)
/// moves the windows; returns when the caller sets `stop`.
func runWorkers<S: KeyValueStore>(
    store: S, spec: PhaseSpec, windows: Int, control: PhaseControl
) -> [ThreadMeasurement] {
    let results = Collected<ThreadMeasurement>(count: spec.threads)
    onThreads(spec.threads) { thread in
        results.put(workerLoop(store: store, spec: spec, thread: thread, windows: windows, control: control), at: thread)
    }
    return results.values
}

/// Runs `body(i)` on `count` new threads and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            body(i)
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}

/// Results handed back from threads, one slot each.
final class Collected<Value>: @unchecked Sendable {
    // Safe to share: every access goes through `lock`.
    private let lock = NSLock()
    private var slots: [Value?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func put(_ value: Value, at index: Int) {
        lock.withLock { slots[index] = value }
    }

    var values: [Value] { lock.withLock { slots.map { $0! } } }
}

/// One thread's loop. Everything it needs is prepared before the clock
/// starts: keys are written into a reused buffer, values come from a
/// pre-filled one, and nothing is allocated per operation.
private func workerLoop<S: KeyValueStore>(
    store: S, spec: PhaseSpec, thread: Int, windows: Int, control: PhaseControl
) -> ThreadMeasurement {
    var random = FastRandom(seed: spec.seed &+ UInt64(thread) &* 0x1000_0001)
    var zipf: ZipfSampler? = nil
    if case .zipf(let s) = spec.distribution { zipf = ZipfSampler(count: spec.keys, exponent: s) }
    let key = KeyBuffer(size: spec.keySize)
    let values = ValueSource(sizes: spec.valueSizes)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(spec.valueSizes.upperBound, 1), alignment: 8)
    defer { key.deallocate(); values.deallocate(); output.deallocate() }
    let ttls: [Duration] = (0..<64).map { _ in
        .seconds(spec.ttlSeconds.lowerBound + Int(random.next(below: UInt64(spec.ttlSeconds.count))))
    }
    var measured = ThreadMeasurement(
        histograms: (0..<windows).map { _ in Operation.allCases.map { _ in makeHistogram() } },
        ops: Array(repeating: 0, count: windows)
    )
    var recent = makeHistogram()
    var recentStart = nanoseconds()
    let interval = spec.rate.map { UInt64(1e9 * Double(spec.threads) / $0) } ?? 0
    var intended = nanoseconds()
    let progress = control.progress[thread]
    let setThreshold = UInt64(spec.mix.get)
    let deleteThreshold = UInt64(spec.mix.get + spec.mix.set)
    let ttlThreshold = UInt64(spec.ttlFraction * 1024)
    var count = 0
    control.started.add(1, ordering: .relaxed)

    while !control.stop.load(ordering: .relaxed) {
        let r = random.next()
        let index = zipf?.next(&random) ?? random.next(below: spec.keys)
        let keyBytes = key.set(index)
        let choice = (r & 0xFFFF) % 100
        let op: Operation = choice < setThreshold ? .get : choice < deleteThreshold ? .set : .delete
        let start: UInt64
        if interval != 0 {
            // Open loop: latency counts from the intended start, so a stall
            // is charged to every operation it delayed.
            intended &+= interval
            while nanoseconds() < intended {}
            start = intended
        } else {
            start = nanoseconds()
        }
        var ok = true
        switch op {
        case .get:
            _ = try? store.withValue(forKey: keyBytes) { value in
                output.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: min(value.count, output.count))
            }
        case .set:
            let ttl = (r >> 20) & 1023 < ttlThreshold ? ttls[Int((r >> 40) & 63)] : nil
            do { try store.set(values.value(&random), forKey: keyBytes, ttl: ttl) } catch { ok = false }
        case .delete:
            do { try store.removeValue(forKey: keyBytes) } catch { ok = false }
        }
        let end = nanoseconds()
        let window = control.window.load(ordering: .relaxed)
        if window >= 0 {
            _ = measured.histograms[window][op.rawValue].record(end &- start)
            measured.ops[window] += 1
            if !ok { measured.failures += 1 }
        }
        _ = recent.record(end &- start)
        count += 1
        if count & 1023 == 0 {
            progress.ops.store(count, ordering: .relaxed)
            if end &- recentStart > 1_000_000_000 {
                progress.recentP99.store(recent.valueAtPercentile(99), ordering: .relaxed)
                recent.reset()
                recentStart = end
            }
        }
    }
    return measured
}

/// Merges the threads' measurements.
func merge(_ threads: [ThreadMeasurement], seconds: [Double]) -> PhaseMeasurement {
    var histograms = threads[0].histograms
    var ops = threads[0].ops
    var failures = threads[0].failures
    for t in threads.dropFirst() {
        for w in histograms.indices {
            for o in histograms[w].indices { histograms[w][o].add(t.histograms[w][o]) }
            ops[w] += t.ops[w]
        }
        failures += t.failures
    }
    return PhaseMeasurement(histograms: histograms, ops: ops, seconds: seconds, failures: failures)
}

/// A one-line status on stderr each second, only when stderr is a terminal.
struct StatusLine {
    static let enabled = isatty(STDERR_FILENO) != 0

    static func show(_ text: String) {
        guard enabled else { return }
        writeError("\r\u{1B}[2K" + text)
    }

    static func clear() {
        guard enabled else { return }
        writeError("\r\u{1B}[2K")
    }
}

/// Writes `text` to standard error.
func writeError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
