import Histogram

/// A store that stores nothing: the driver run against it shows how many
/// operations per second the driver itself can issue, and what latency it
/// adds on its own (the clock read, an open loop's wake-ups).
struct NullStore: BenchStore {
    func get(_ key: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool { false }

    func getMany(_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, into outputs: UnsafeMutableRawBufferPointer,
                 stride: Int) -> Int { 0 }

    func set(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, ttl: Duration?) -> Bool { true }

    func remove(_ key: UnsafeRawBufferPointer) -> Bool { true }

    var snapshot: StoreSnapshot {
        StoreSnapshot(entries: 0, pendingRecords: 0, deferredFrees: 0,
                      expiryLag: Histogram<UInt64>(numberOfSignificantValueDigits: .three))
    }

    func close() {}
}
