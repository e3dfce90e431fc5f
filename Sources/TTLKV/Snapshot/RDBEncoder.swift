/// Builds RDB bytes (see RDBFormat.swift) in a buffer, keeping the CRC-64
/// of everything it hands out (unless the caller keeps it, as a snapshot
/// file's write thread does), so that a caller can stream a file of any
/// size through a bounded buffer: append records, and ``takeBytes(_:)``
/// whenever ``pendingByteCount`` grows past what it wants to hold.
struct RDBEncoder {
    private let buffer: ByteSink
    /// Nil when whoever takes the bytes keeps the checksum.
    private var crc: CRC64?

    init(reservingCapacity capacity: Int = 1 << 16, checksummed: Bool = true) {
        buffer = ByteSink(capacity: capacity)
        crc = checksummed ? CRC64() : nil
    }

    /// Bytes appended and not yet taken.
    var pendingByteCount: Int { buffer.count }

    /// Hands the pending bytes to `body` (which writes them out), folds
    /// them into the checksum and empties the buffer, keeping its room.
    mutating func takeBytes(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        crc?.update(buffer.bytes)
        try body(buffer.bytes)
        buffer.removeAll()
    }

    // MARK: Records

    /// "REDIS" and the version in four digits.
    mutating func appendHeader(version: Int = RDB.version) {
        let text = Array(RDB.magic) + Array(String(repeating: "0", count: max(0, 4 - String(version).count)).utf8)
            + Array(String(version).utf8)
        text.withUnsafeBytes { buffer.append($0) }
    }

    /// An AUX field; a value that is an integer is stored as Redis stores
    /// one.
    mutating func appendAux(_ key: String, _ value: String) {
        buffer.append(RDB.Opcode.aux)
        appendString(Array(key.utf8))
        appendString(Array(value.utf8))
    }

    mutating func appendSelectDB(_ index: Int) {
        buffer.append(RDB.Opcode.selectDB)
        appendLength(UInt64(index))
    }

    /// The sizes a loader preallocates for: keys, and keys with a deadline.
    mutating func appendResizeDB(keys: Int, expires: Int) {
        buffer.append(RDB.Opcode.resizeDB)
        appendLength(UInt64(keys))
        appendLength(UInt64(expires))
    }

    /// A string key and value, with its deadline (Unix milliseconds) if it
    /// has one.
    mutating func appendEntry(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, deadline: Int64?) {
        if let deadline {
            buffer.append(RDB.Opcode.expireTimeMilliseconds)
            buffer.append(raw: deadline.littleEndian)
        }
        appendType(.string)
        appendString(key)
        appendString(value)
    }

    mutating func appendType(_ type: RDB.ValueType) {
        buffer.append(type.rawValue)
    }

    /// EOF, then the CRC-64 of every byte before it (a checksummed
    /// encoder's). Take the bytes once more after this; nothing may follow.
    mutating func appendEnd() {
        guard var checksum = crc else {
            preconditionFailure("an encoder whose taker keeps the checksum appends it with appendChecksum")
        }
        appendEndMarker()
        checksum.update(buffer.bytes)
        appendChecksum(checksum.value)
    }

    /// EOF alone: an encoder whose taker keeps the checksum takes it, then
    /// appends the checksum of everything taken with ``appendChecksum(_:)``.
    mutating func appendEndMarker() {
        buffer.append(RDB.Opcode.end)
    }

    /// The file's last 8 bytes: the CRC-64 of every byte before them.
    mutating func appendChecksum(_ value: UInt64) {
        buffer.append(raw: value.littleEndian)
    }

    // MARK: Lengths and strings

    mutating func appendLength(_ length: UInt64) {
        switch length {
        case ..<(1 << 6):
            buffer.append(UInt8(length))
        case ..<(1 << 14):
            buffer.append(UInt8(length >> 8) | 0x40)
            buffer.append(UInt8(length & 0xff))
        case ...UInt64(UInt32.max):
            buffer.append(RDB.Length.marker32)
            buffer.append(raw: UInt32(length).bigEndian)
        default:
            buffer.append(RDB.Length.marker64)
            buffer.append(raw: length.bigEndian)
        }
    }

    mutating func appendString(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { appendString($0) }
    }

    /// A string as Redis stores it uncompressed: as an integer if it is
    /// the canonical decimal form of one that fits in 32 bits, else its
    /// length and bytes.
    mutating func appendString(_ bytes: UnsafeRawBufferPointer) {
        if let integer = Self.canonicalInteger(bytes), let narrow = Int32(exactly: integer) {
            switch narrow {
            case Int32(Int8.min)...Int32(Int8.max):
                buffer.append(0xC0 | RDB.Encoding.int8)
                buffer.append(UInt8(bitPattern: Int8(narrow)))
            case Int32(Int16.min)...Int32(Int16.max):
                buffer.append(0xC0 | RDB.Encoding.int16)
                buffer.append(raw: Int16(narrow).littleEndian)
            default:
                buffer.append(0xC0 | RDB.Encoding.int32)
                buffer.append(raw: narrow.littleEndian)
            }
            return
        }
        appendLength(UInt64(bytes.count))
        buffer.append(bytes)
    }

    /// The integer `bytes` spell if they are exactly its canonical decimal
    /// form (Redis's string2ll, then the check that ll2string gives the
    /// same bytes back): an optional minus, no leading zeros, no "-0", at
    /// most 11 bytes (so it also fits in 64 bits).
    static func canonicalInteger(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 11 else { return nil }
        let negative = bytes[0] == UInt8(ascii: "-")
        let digits = negative ? UnsafeRawBufferPointer(rebasing: bytes[1...]) : bytes
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        if digits[0] == UInt8(ascii: "0") && (digits.count > 1 || negative) { return nil }
        var value: Int64 = 0
        for digit in digits { value = value * 10 + Int64(digit - UInt8(ascii: "0")) }
        return negative ? -value : value
    }
}
