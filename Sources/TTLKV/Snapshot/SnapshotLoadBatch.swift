/// Entries decoded from a snapshot, gathered to be stored together: the C
/// core stores a batch with one hold of each shard's lock. The decoder's
/// bytes are valid only while it reports them, so each key and value is
/// copied into one buffer that the batch reuses.
struct SnapshotLoadBatch {
    private var bytes: [UInt8] = []
    private var spans: [(key: Range<Int>, value: Range<Int>, deadline: UInt64)] = []
    private var items: [SnapshotRestoreItem] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity * 64)
        spans.reserveCapacity(capacity)
        items.reserveCapacity(capacity)
    }

    /// Entries gathered.
    var count: Int { spans.count }

    /// Adds an entry (deadline in store-clock milliseconds, 0: none).
    mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: UInt64) {
        let keyStart = bytes.count
        bytes.append(contentsOf: key.assumingMemoryBound(to: UInt8.self))
        let valueStart = bytes.count
        bytes.append(contentsOf: value.assumingMemoryBound(to: UInt8.self))
        spans.append((keyStart..<valueStart, valueStart..<bytes.count, deadline))
    }

    /// Calls `body` with the gathered entries, then empties the batch.
    mutating func drain<R>(_ body: (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> R) rethrows -> R {
        defer {
            bytes.removeAll(keepingCapacity: true)
            spans.removeAll(keepingCapacity: true)
            items.removeAll(keepingCapacity: true)
        }
        return try bytes.withUnsafeBytes { raw in
            // The items point into `bytes`, which stays put until this
            // closure returns; they are dropped before it changes.
            for span in spans {
                items.append(SnapshotRestoreItem(
                    key: UnsafeRawBufferPointer(rebasing: raw[span.key]),
                    value: UnsafeRawBufferPointer(rebasing: raw[span.value]), deadline: span.deadline))
            }
            return try items.withUnsafeBufferPointer(body)
        }
    }
}
