/// Entries decoded from a snapshot, gathered to be stored together: the C
/// core stores a batch with one hold of each shard's lock. A key or value
/// that lies in the mapped file as it is (the common case: a plain string)
/// is kept as a pointer into the file, which stays mapped for the whole
/// load; one the decoder built (an integer or LZF encoding, valid only
/// while the decoder reports it) is copied into a buffer the batch reuses.
struct SnapshotLoadBatch {
    private enum Span {
        case mapped(UnsafeRawBufferPointer)
        case copied(Range<Int>)
    }

    private let file: UnsafeRawBufferPointer
    private let copiedLimit: Int
    private var bytes: [UInt8] = []
    private var entries: [(key: Span, value: Span, deadline: UInt64, ordinal: Int)] = []
    private var items: [SnapshotRestoreItem] = []

    /// An empty batch for entries decoded from `file`, which must stay
    /// mapped while the batch holds any; full at `copiedBytes` copied bytes.
    init(capacity: Int, file: UnsafeRawBufferPointer, copiedBytes: Int) {
        self.file = file
        copiedLimit = copiedBytes
        entries.reserveCapacity(capacity)
        items.reserveCapacity(capacity)
    }

    /// Entries gathered.
    var count: Int { entries.count }

    /// Whether the bytes copied into the batch reached its limit.
    var isFull: Bool { bytes.count >= copiedLimit }

    /// Adds an entry (deadline in store-clock milliseconds, 0: none), the
    /// `ordinal`th string key of the file (for error messages).
    mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: UInt64, ordinal: Int) {
        entries.append((span(of: key), span(of: value), deadline, ordinal))
    }

    private mutating func span(of part: UnsafeRawBufferPointer) -> Span {
        if let start = part.baseAddress, let fileStart = file.baseAddress, part.count > 0,
           start >= fileStart, start + part.count <= fileStart + file.count {
            return .mapped(part)
        }
        let first = bytes.count
        bytes.append(contentsOf: part.assumingMemoryBound(to: UInt8.self))
        return .copied(first..<bytes.count)
    }

    /// The ordinal given with the entry at `index`.
    func ordinal(at index: Int) -> Int { entries[index].ordinal }

    /// Calls `body` with the gathered entries; they stay in the batch.
    mutating func withItems<R>(_ body: (UnsafeBufferPointer<SnapshotRestoreItem>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            // The items point into the file or into `bytes`, which stays
            // put until this closure returns; they are dropped before it
            // changes.
            func resolve(_ span: Span) -> UnsafeRawBufferPointer {
                switch span {
                case .mapped(let bytes): bytes
                case .copied(let range): UnsafeRawBufferPointer(rebasing: raw[range])
                }
            }
            items.removeAll(keepingCapacity: true)
            for entry in entries {
                items.append(SnapshotRestoreItem(key: resolve(entry.key), value: resolve(entry.value), deadline: entry.deadline))
            }
            defer { items.removeAll(keepingCapacity: true) }
            return try items.withUnsafeBufferPointer(body)
        }
    }

    /// Empties the batch, keeping its room unless one big value made it
    /// larger than its limit.
    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: bytes.capacity <= 2 * copiedLimit)
        entries.removeAll(keepingCapacity: true)
    }
}
