#if canImport(Glibc)
import Glibc
#endif

/// One entry of ``NativeStore``: a single allocation holding a small header,
/// then the key bytes, then the value bytes (the same layout as the C core's
/// entries, so the comparison measures the designs, not the data layout).
struct NativeEntry: @unchecked Sendable {
    // Safe to share: the bytes never change after `make`; the header's
    // other fields are read and written only under the lock of the shard
    // that holds the entry, or by the thread that just made it.
    private let buffer: Buffer

    typealias Buffer = ManagedBuffer<Header, UInt8>

    struct Header {
        /// Store-clock deadline in ms; 0 = never.
        var deadline: UInt64
        /// Deadline of the key's pending expiry record; 0 = none.
        var scheduledDeadline: UInt64
        /// The eviction queue's neighbours (NativeEviction.swift), unowned:
        /// the shard's table holds every queued entry.
        var previous: Unmanaged<Buffer>?
        var next: Unmanaged<Buffer>?
        let keyCount: UInt32
        let valueCount: UInt32
        /// Reads since the entry was queued or last passed over, up to 3.
        var frequency: UInt8 = 0
        var queue: EvictionQueue.Kind = .none
    }

    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: UInt64) {
        buffer = ManagedBuffer.create(minimumCapacity: key.count + value.count) { _ in
            Header(deadline: deadline, scheduledDeadline: 0, keyCount: UInt32(key.count), valueCount: UInt32(value.count))
        }
        buffer.withUnsafeMutablePointerToElements { bytes in
            let raw = UnsafeMutableRawBufferPointer(start: bytes, count: key.count + value.count)
            raw.copyMemory(from: key)
            UnsafeMutableRawBufferPointer(rebasing: raw[key.count...]).copyMemory(from: value)
        }
    }

    var deadline: UInt64 {
        get { buffer.header.deadline }
        nonmutating set { buffer.header.deadline = newValue }
    }

    var scheduledDeadline: UInt64 {
        get { buffer.header.scheduledDeadline }
        nonmutating set { buffer.header.scheduledDeadline = newValue }
    }

    /// The entry's header, for the eviction queues, under the shard lock.
    var header: Header {
        get { buffer.header }
        nonmutating _modify { yield &buffer.header }
    }

    /// The entry as a queue link: unowned, as the queues hold it.
    var link: Unmanaged<Buffer> { Unmanaged.passUnretained(buffer) }

    /// The entry a queue link names; the shard's table keeps it alive.
    init(link: Unmanaged<Buffer>) {
        buffer = link.takeUnretainedValue()
    }

    /// The bytes malloc gave the entry: what it costs against a budget.
    var allocatedBytes: Int {
        mallocUsableSize(Unmanaged.passUnretained(buffer).toOpaque())
    }

    var keyCount: Int { Int(buffer.header.keyCount) }
    var valueCount: Int { Int(buffer.header.valueCount) }
    var byteCount: Int { keyCount + valueCount }

    /// Whether two values are the same entry (not merely equal keys).
    func isSame(as other: NativeEntry) -> Bool {
        buffer === other.buffer
    }

    func keyEquals(_ key: UnsafeRawBufferPointer) -> Bool {
        guard key.count == keyCount else { return false }
        guard key.count > 0 else { return true }
        return withKey { memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0 }
    }

    func withKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutablePointerToElements {
            try body(UnsafeRawBufferPointer(start: $0, count: keyCount))
        }
    }

    func withValue<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withUnsafeMutablePointerToElements {
            try body(UnsafeRawBufferPointer(start: $0 + keyCount, count: valueCount))
        }
    }
}

/// glibc's malloc_usable_size (malloc.h, which the Glibc module leaves
/// out): the size of the block malloc gave for `pointer`.
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int
