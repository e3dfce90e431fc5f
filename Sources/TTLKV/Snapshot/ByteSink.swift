/// A growable run of bytes that the RDB encoder writes into: appends are
/// pointer stores after one capacity check, where an array's would each
/// check uniqueness and exclusivity, which a snapshot of millions of keys
/// pays millions of times.
final class ByteSink {
    // Owned here: allocated in init, replaced on growth, freed in deinit.
    @exclusivity(unchecked) private var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var capacity: Int
    /// Bytes written.
    @exclusivity(unchecked) private(set) var count = 0

    init(capacity: Int) {
        self.capacity = Swift.max(capacity, 64)
        storage = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit {
        storage.deallocate()
    }

    /// The bytes written, valid until the next append or ``removeAll()``.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }

    func removeAll() {
        count = 0
    }

    @inline(__always)
    private func reserve(_ more: Int) {
        if count + more > capacity { grow(to: count + more) }
    }

    private func grow(to needed: Int) {
        let newCapacity = Swift.max(needed, capacity * 2)
        let newStorage = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        newStorage.copyMemory(from: storage, byteCount: count)
        storage.deallocate()
        (storage, capacity) = (newStorage, newCapacity)
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        storage.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (storage + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// `value`'s bytes in memory order (call with `.littleEndian` or
    /// `.bigEndian` for a byte order).
    @inline(__always)
    func append<T: FixedWidthInteger>(raw value: T) {
        reserve(MemoryLayout<T>.size)
        storage.storeBytes(of: value, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }
}
