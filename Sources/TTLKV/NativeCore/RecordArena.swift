/*
 NativeStore's record logs: the (key, deadline) records that writes hand to
 the expiry worker (the schedule) and those of expired or evicted entries
 that writes removed, packed back to back as {UInt64 deadline, UInt32
 length, key bytes} in one byte array per log, as the C core's logs are: no
 allocation per record, and a record costs its key length plus 12 bytes
 until the worker drains it.
 */

/// Records packed back to back in one byte array.
struct RecordArena: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    static let headerSize = MemoryLayout<UInt64>.size + MemoryLayout<UInt32>.size

    var isEmpty: Bool { count == 0 }

    /// Bytes allocated for the records.
    var byteCount: Int { bytes.capacity }

    /// Bytes the records take.
    var usedBytes: Int { bytes.count }

    /// Makes room for `extra` more bytes: doubling, but to no more than
    /// `limit` bytes in all while they fit in it (a budgeted shard's records'
    /// slice), so that the capacity stays near what is charged for it.
    mutating func reserve(_ extra: Int, within limit: Int) {
        let need = bytes.count + extra
        guard need > bytes.capacity else { return }
        var capacity = Swift.max(bytes.capacity * 2, 256, need)
        if capacity > limit && need <= limit { capacity = limit }
        bytes.reserveCapacity(capacity)
    }

    mutating func append(key: UnsafeRawBufferPointer, deadline: UInt64) {
        withUnsafeBytes(of: deadline.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(key.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: key)
        count += 1
    }

    /// Calls `body` with each record's key and deadline, in order.
    func forEach(_ body: (UnsafeRawBufferPointer, UInt64) -> Void) {
        bytes.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                let deadline = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)))
                let start = at + Self.headerSize
                body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]), deadline)
                at = start + length
            }
        }
    }
}
