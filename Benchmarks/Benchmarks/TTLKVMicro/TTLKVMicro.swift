// Micro-benchmarks of single operations and of a batched get on both
// stores, and of the timing wheel: time per operation and allocations per
// operation. Each sample runs 1,000 operations (scaling factor kilo) on a
// store preloaded with 100,000 keys, so that sampling overhead is not
// measured as operation time.
import Benchmark
@_spi(Benchmarks) import TTLKV

let keyCount = 100_000

/// 16-byte keys from indices, built once.
let keys: [[UInt8]] = (0..<(2 * keyCount)).map { i in
    withUnsafeBytes(of: (UInt64(i), UInt64(i) &* 0x9E37_79B9_7F4A_7C15)) { Array($0) }
}
let value = [UInt8](repeating: 7, count: 32)

func makeStore(_ kind: String) -> any KeyValueStore {
    let configuration = StoreConfiguration(capacity: 2 * keyCount)
    let store: any KeyValueStore = kind == "ck"
        ? try! Store(configuration: configuration)
        : try! NativeStore(configuration: configuration)
    for key in keys.prefix(keyCount) { try! store.set(value, forKey: key) }
    return store
}

func storeBenchmarks<S: KeyValueStore>(_ kind: String, _ store: S) {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2))
    var sink = 0
    Benchmark("\(kind) get hit", configuration: config) { benchmark in
        for i in benchmark.scaledIterations {
            sink &+= (try? store.withValue(forKey: keys[i % keyCount]) { $0.count }) ?? 0
        }
    }
    Benchmark("\(kind) get miss", configuration: config) { benchmark in
        for i in benchmark.scaledIterations {
            sink &+= (try? store.withValue(forKey: keys[keyCount + i % keyCount]) { $0.count }) ?? 0
        }
    }
    // One operation is one batch of 16 keys (hits), as withValues(forKeys:).
    Benchmark("\(kind) get many 16", configuration: config) { benchmark in
        for i in benchmark.scaledIterations {
            let first = (i &* 16) % (keyCount - 16)
            try? store.withValues(forKeys: keys[first..<(first + 16)]) { _, value in sink &+= value.count }
        }
    }
    Benchmark("\(kind) overwrite", configuration: config) { benchmark in
        for i in benchmark.scaledIterations { try? store.set(value, forKey: keys[i % keyCount]) }
    }
    Benchmark("\(kind) set with TTL", configuration: config) { benchmark in
        for i in benchmark.scaledIterations { try? store.set(value, forKey: keys[i % keyCount], ttl: .seconds(600)) }
    }
    Benchmark("\(kind) set new key, then delete", configuration: config) { benchmark in
        for i in benchmark.scaledIterations {
            let key = keys[keyCount + i % keyCount]
            try? store.set(value, forKey: key)
            _ = try? store.removeValue(forKey: key)
        }
    }
    Benchmark("\(kind) TTL query", configuration: config) { benchmark in
        for i in benchmark.scaledIterations {
            if case .remaining = try? store.timeToLive(forKey: keys[i % keyCount]) { sink &+= 1 }
        }
    }
    blackHole(sink)
}

let benchmarks: @Sendable () -> Void = {
    storeBenchmarks("ck", makeStore("ck") as! Store)
    storeBenchmarks("native", makeStore("native") as! NativeStore)

    Benchmark("wheel schedule and fire", configuration: .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: .kilo, maxDuration: .seconds(2))
    ) { benchmark in
        var wheel = TimingWheel(resolution: 10, now: 0)
        var now: UInt64 = 0
        for i in benchmark.scaledIterations {
            wheel.schedule(handle: UInt64(i % keyCount), deadline: now + 50 + UInt64(i % 5_000))
            if i % 64 == 63 {
                now += 10
                wheel.advance(to: now)
                _ = wheel.takeDue(limit: .max) { _, _ in nil }
            }
        }
        blackHole(wheel.count)
    }
}
