#if canImport(Glibc)
import Glibc
#endif
import Histogram

/// CLOCK_MONOTONIC in nanoseconds: what every latency is measured with.
@inline(__always)
func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The cost of one `nanoseconds()` call, median of several runs: every
/// latency includes about one of these.
func clockReadCost() -> Double {
    var runs: [Double] = []
    for _ in 0..<7 {
        let n = 200_000
        var sink: UInt64 = 0
        let start = nanoseconds()
        for _ in 0..<n { sink &+= nanoseconds() }
        let elapsed = nanoseconds() - start
        runs.append(Double(elapsed) / Double(n) + (sink == 0 ? 1 : 0))
    }
    return runs.sorted()[runs.count / 2]
}

/// A latency histogram in nanoseconds, 1 ns to 60 s, 3 significant digits.
func makeHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

/// Resident set size of this process, in bytes (from /proc/self/statm).
func residentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var line = [UInt8](repeating: 0, count: 128)
    let read = fread(&line, 1, line.count - 1, file)
    let fields = String(decoding: line[..<read], as: UTF8.self).split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Percentiles of one histogram, for tables and results.json.
struct LatencySummary: Codable {
    var count: UInt64
    var p50: UInt64
    var p90: UInt64
    var p99: UInt64
    var p999: UInt64
    var p9999: UInt64
    var max: UInt64
    /// (percentile, nanoseconds) points for the latency-by-percentile chart.
    var curve: [[Double]]

    init(_ h: Histogram<UInt64>) {
        count = h.totalCount
        p50 = h.valueAtPercentile(50)
        p90 = h.valueAtPercentile(90)
        p99 = h.valueAtPercentile(99)
        p999 = h.valueAtPercentile(99.9)
        p9999 = h.valueAtPercentile(99.99)
        max = h.max
        let points: [Double] = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999]
        curve = h.totalCount == 0 ? [] : points.map { [$0, Double(h.valueAtPercentile($0))] }
    }
}

/// A histogram as it crosses the pipe from a child process: its non-zero
/// buckets only, as value, count, value, count... (a few hundred numbers
/// where the full counts array holds tens of thousands).
struct WireHistogram: Codable {
    var buckets: [UInt64]

    init(_ histogram: Histogram<UInt64>) {
        buckets = []
        for bucket in histogram.recordedValues() {
            buckets.append(bucket.value)
            buckets.append(UInt64(bucket.count))
        }
    }

    var histogram: Histogram<UInt64> {
        var histogram = makeHistogram()
        for i in stride(from: 0, to: buckets.count - 1, by: 2) {
            _ = histogram.record(buckets[i], count: buckets[i + 1])
        }
        return histogram
    }
}

/// The median of `values` (the mean of the two middle ones for an even
/// count; 0 for none).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
