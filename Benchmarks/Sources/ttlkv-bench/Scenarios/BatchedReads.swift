// Batched reads: keys per second and the latency of a whole batch, for
// batches of several sizes and, as the baseline, a loop of single gets
// over as many keys. One round on a store runs every mode back to back, a
// window each, so that a batch and its baseline are measured seconds apart
// under the same conditions.
#if canImport(Glibc)
import Glibc
#endif

/// How a worker reads its keys in one window.
struct BatchMode: Codable, Equatable, Sendable {
    /// Keys per batch (or per timed loop).
    var keys: Int
    /// A loop of single gets instead of one batched call.
    var isLoop: Bool

    static let standard = [BatchMode(keys: 16, isLoop: true)] + [1, 4, 16, 64].map { BatchMode(keys: $0, isLoop: false) }
    static let maximumKeys = 64

    var label: String { isLoop ? "loop of \(keys)" : "batch of \(keys)" }
}

/// What a batched round asks for: the read-only load (keys uniform over
/// `spec.keys`, `spec.threads` threads) and its modes, one window each.
struct BatchedRequest: Codable {
    var spec: PhaseSpec
    var modes: [BatchMode]
    var warmupSeconds: Double
    var windowSeconds: Double
}

extension StoreBench {
    /// One batched round: a warm-up in the first mode, then a window per
    /// mode; each window's histogram ("get") holds one latency per batch.
    func batched(_ request: BatchedRequest) -> [WindowResult] {
        let store = store
        let loop: WorkerLoop = { thread, control in
            batchedLoop(store: store, spec: request.spec, modes: request.modes, thread: thread, control: control)
        }
        return drive(request.spec, windows: request.modes.count, loop: loop) { control in
            wait(request.warmupSeconds, "batched reads (warm-up)", control)
            return request.modes.indices.map { window in
                let start = nanoseconds()
                control.window.store(window, ordering: .relaxed)
                wait(request.windowSeconds, "batched reads: \(request.modes[window].label)", control)
                return Double(nanoseconds() - start) / 1e9
            }
        }
    }
}

/// A batched round's worker: in each window, batches of that window's mode
/// over uniformly random keys, each batch timed as one operation. The keys
/// are written into reused buffers before the clock starts.
private func batchedLoop<S: BenchStore>(
    store: S, spec: PhaseSpec, modes: [BatchMode], thread: Int, control: PhaseControl
) -> ThreadMeasurement {
    var random = FastRandom(seed: spec.seed &+ UInt64(thread) &* 0x1000_0001)
    let buffers = (0..<BatchMode.maximumKeys).map { _ in KeyBuffer(size: spec.keySize) }
    let keys = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: buffers.count)
    for (i, buffer) in buffers.enumerated() { keys[i] = UnsafeRawBufferPointer(buffer.bytes) }
    let stride = max(spec.valueSizes.upperBound, 1)
    let outputs = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * buffers.count, alignment: 8)
    defer {
        for buffer in buffers { buffer.deallocate() }
        keys.deallocate()
        outputs.deallocate()
    }
    var measured = ThreadMeasurement(
        histograms: modes.map { _ in Operation.allCases.map { _ in makeHistogram() } },
        failures: Array(repeating: 0, count: modes.count)
    )
    let progress = control.progress[thread]
    var keysRead = 0
    control.started.add(1, ordering: .relaxed)
    while !control.stop.load(ordering: .relaxed) {
        let window = control.window.load(ordering: .relaxed)
        let mode = modes[max(window, 0)]
        for i in 0..<mode.keys { _ = buffers[i].set(random.next(below: spec.keys)) }
        let batch = UnsafeBufferPointer(rebasing: keys[..<mode.keys])
        let start = nanoseconds()
        if mode.isLoop {
            for i in 0..<mode.keys {
                _ = store.get(batch[i], into: UnsafeMutableRawBufferPointer(rebasing: outputs[(i * stride)..<((i + 1) * stride)]))
            }
        } else {
            _ = store.getMany(batch, into: outputs, stride: stride)
        }
        let end = nanoseconds()
        if window >= 0 { _ = measured.histograms[window][Operation.get.rawValue].record(end &- start) }
        keysRead += mode.keys
        if keysRead & 1023 < mode.keys { progress.ops.store(keysRead, ordering: .relaxed) }
    }
    return measured
}
