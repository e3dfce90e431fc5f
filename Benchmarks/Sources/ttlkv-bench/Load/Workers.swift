#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Histogram
import Synchronization

/// The operations the driver issues.
enum Operation: Int, CaseIterable {
    case get, set, delete

    var name: String { ["get", "set", "delete"][rawValue] }
}

/// What one measured phase does.
struct PhaseSpec: Codable, Sendable {
    var mix: OperationMix
    var distribution: KeyDistribution
    /// Keys are drawn from 0..<keys, or from `recent` when it is set.
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
    /// Cache-aside: every operation is a get, and a get that misses is
    /// followed by a set of the same key, a separate call timed on its own
    /// (`mix` is then ignored).
    var cacheAside = false
    /// The most recently inserted keys of a churn, if the phase reads those.
    var recent: RecentKeys? = nil

    private enum CodingKeys: String, CodingKey {
        case mix, distribution, keys, threads, keySize, valueSizes, ttlFraction, ttlSeconds, rate, seed, cacheAside
    }
}

/// The keys a churn's inserter has written most recently: key numbers
/// base + inserted - window ..< base + inserted.
final class RecentKeys: Sendable {
    let base: UInt64
    let window: UInt64
    let inserted = Atomic<UInt64>(0)

    init(base: UInt64, window: UInt64) {
        (self.base, self.window) = (base, max(window, 1))
    }

    @inline(__always)
    func pick(_ random: inout FastRandom) -> UInt64 {
        let count = inserted.load(ordering: .relaxed)
        guard count > 0 else { return base }
        return base + count - 1 - random.next(below: min(window, count))
    }
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
    var failures: [Int]
}

/// What one window measured, as it crosses the pipe from a child: a
/// histogram (ns) per operation that ran.
struct WindowResult: Codable {
    var seconds: Double
    var failures: Int
    var histograms: [String: WireHistogram]

    init(seconds: Double, failures: Int, histograms: [String: Histogram<UInt64>]) {
        self.seconds = seconds
        self.failures = failures
        self.histograms = histograms.filter { $0.value.totalCount > 0 }.mapValues(WireHistogram.init)
    }
}

/// One worker thread's loop: given its number and the phase's control,
/// runs until `stop` and returns what it measured.
typealias WorkerLoop = @Sendable (_ thread: Int, _ control: PhaseControl) -> ThreadMeasurement

/// Runs a phase's threads, each running `loop`, while `control` (the
/// caller) moves the windows; returns when the caller sets `stop`.
func runWorkers(threads: Int, control: PhaseControl, _ loop: @escaping WorkerLoop) -> [ThreadMeasurement] {
    let results = Collected<ThreadMeasurement>(count: threads)
    onThreads(threads) { thread in
        results.put(loop(thread, control), at: thread)
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

/// Sleeps until CLOCK_MONOTONIC reads `deadline` (ns). An open loop's
/// threads sleep rather than spin: with more threads than cores a spinning
/// thread would take the core from one with work, and the stores would be
/// measured against the driver's own spinning.
@inline(__always)
func sleep(until deadline: UInt64) {
    guard nanoseconds() < deadline else { return }
    var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
}

/// Runs `body` (which starts threads) with a timer slack of 1 ns, so that
/// the threads it creates inherit it and wake when due, not up to 50 µs
/// (the default slack) later. Only the main thread may set it (through
/// /proc/self); elsewhere, or where /proc refuses, the slack stays as it is.
func withPreciseTimers(_ body: () -> Void) {
    let path = "/proc/self/timerslack_ns"
    let previous = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let set = Thread.isMainThread && previous != nil && (try? "1".write(toFile: path, atomically: false, encoding: .utf8)) != nil
    body()
    if set, let previous { try? previous.write(toFile: path, atomically: false, encoding: .utf8) }
}

/// One thread's loop. Everything it needs is prepared before the clock
/// starts: keys are written into a reused buffer, values come from a
/// pre-filled one, and nothing is allocated per operation.
func workerLoop<S: BenchStore>(
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
        failures: Array(repeating: 0, count: windows)
    )
    var recent = makeHistogram()
    var recentStart = nanoseconds()
    // Open loop: each thread issues its share of the rate at even intervals,
    // starting at a random phase so that the threads do not wake together.
    let interval = spec.rate.map { UInt64(1e9 * Double(spec.threads) / $0) } ?? 0
    var intended = nanoseconds() + (interval > 0 ? random.next(below: interval) : 0)
    let progress = control.progress[thread]
    let setThreshold = UInt64(spec.mix.get)
    let deleteThreshold = UInt64(spec.mix.get + spec.mix.set)
    let ttlThreshold = UInt64(spec.ttlFraction * 1024)
    var count = 0
    control.started.add(1, ordering: .relaxed)

    while !control.stop.load(ordering: .relaxed) {
        let r = random.next()
        let index = spec.recent?.pick(&random) ?? zipf?.next(&random) ?? random.next(below: spec.keys)
        let keyBytes = key.set(index)
        let choice = (r & 0xFFFF) % 100
        let op: Operation = spec.cacheAside || choice < setThreshold ? .get : choice < deleteThreshold ? .set : .delete
        let start: UInt64
        if interval != 0 {
            // Open loop: latency counts from the intended start, so a stall
            // is charged to every operation it delayed.
            intended &+= interval
            sleep(until: intended)
            start = intended
        } else {
            start = nanoseconds()
        }
        var ok = true
        var missed = false
        let ttl = (r >> 20) & 1023 < ttlThreshold ? ttls[Int((r >> 40) & 63)] : nil
        switch op {
        case .get: missed = !store.get(keyBytes, into: output) && spec.cacheAside
        case .set:
            ok = store.set(values.value(&random), forKey: keyBytes, ttl: ttl)
        case .delete: ok = store.remove(keyBytes)
        }
        let end = nanoseconds()
        let window = control.window.load(ordering: .relaxed)
        if window >= 0 {
            _ = measured.histograms[window][op.rawValue].record(end &- start)
            if !ok { measured.failures[window] += 1 }
        }
        _ = recent.record(end &- start)
        if missed {
            // Cache-aside: the caller fetched the value elsewhere and
            // stores it, a call of its own (an open loop's set starts when
            // it is issued, right after the get).
            let ok = store.set(values.value(&random), forKey: keyBytes, ttl: ttl)
            let setEnd = nanoseconds()
            if window >= 0 {
                _ = measured.histograms[window][Operation.set.rawValue].record(setEnd &- end)
                if !ok { measured.failures[window] += 1 }
            }
        }
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

/// Merges the threads' measurements into one result per window.
func merge(_ threads: [ThreadMeasurement], seconds: [Double]) -> [WindowResult] {
    seconds.indices.map { window in
        var histograms: [String: Histogram<UInt64>] = [:]
        for op in Operation.allCases {
            var merged = makeHistogram()
            for thread in threads { merged.add(thread.histograms[window][op.rawValue]) }
            histograms[op.name] = merged
        }
        return WindowResult(seconds: seconds[window], failures: threads.reduce(0) { $0 + $1.failures[window] },
                            histograms: histograms)
    }
}

/// A one-line status on stderr, only when stderr is a terminal.
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
