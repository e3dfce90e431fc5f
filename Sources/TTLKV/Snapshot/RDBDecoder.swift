/*
 Reads an RDB file of any Redis version from 1 to 12 (see RDBFormat.swift)
 held in memory (a mapped file).

 It verifies before it decodes: ``verify()`` checks the magic, the version
 and the CRC-64 over the whole file, so that a loader can refuse a damaged
 file before it touches a store. ``decode(_:)`` then walks the records,
 handing each string key of database 0 to its visitor with its value and
 deadline (Unix milliseconds). What a store of strings cannot hold it skips
 and counts, record by record: values of other types (lists, sets, sorted
 sets, hashes, in every encoding), keys of other databases, function
 libraries, LRU and LFU hints. Streams and module values cannot be skipped
 without their own parsers, and are refused. Every length is checked
 against the bytes left, so arbitrary bytes end in an error, never a read
 out of bounds.
 */

/// What ``RDBDecoder/decode(_:)`` found besides the strings it handed out.
struct RDBSummary: Equatable {
    /// String keys of database 0 handed to the visitor.
    var strings = 0
    /// Values of other types skipped, by Redis type name ("list", "hash", ...).
    var skippedByType: [String: Int] = [:]
    /// String keys of databases other than 0, skipped (TTLKV has one).
    var skippedInOtherDatabases = 0
    /// Function libraries skipped.
    var skippedFunctions = 0
    /// AUX fields, by name.
    var aux: [String: [UInt8]] = [:]
    /// RESIZEDB's sizes, if the file had one for database 0.
    var sizes: (keys: Int, expires: Int)?

    static func == (lhs: RDBSummary, rhs: RDBSummary) -> Bool {
        lhs.strings == rhs.strings && lhs.skippedByType == rhs.skippedByType
            && lhs.skippedInOtherDatabases == rhs.skippedInOtherDatabases
            && lhs.skippedFunctions == rhs.skippedFunctions && lhs.aux == rhs.aux
            && lhs.sizes?.keys == rhs.sizes?.keys && lhs.sizes?.expires == rhs.sizes?.expires
    }
}

struct RDBDecoder {
    /// The visitor's view of a string key: bytes valid only during the call.
    typealias Visit = (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ deadline: Int64?,
                       _ offset: Int) throws -> Void

    private let bytes: UnsafeRawBufferPointer
    private var offset = 0
    /// Room for decoded strings (a key and a value), reused.
    private let scratch = (ScratchBuffer(), ScratchBuffer())

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Checks the magic, the version and the checksum; returns the version.
    func verify() throws(SnapshotError) -> Int {
        let version = try Self.version(of: bytes)
        // Versions 5 and later end with EOF and an 8-byte CRC-64 of all that
        // precedes it; 0 means the writer did not compute one.
        guard version >= 5 else { return version }
        guard bytes.count >= 9 + 1 + 8 else { throw .truncated.with("\(bytes.count) bytes in all") }
        let body = UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - 8)])
        let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self))
        guard stored != 0 else { return version }
        let computed = CRC64.checksum(splitting: body)
        guard computed == stored else {
            // A file cut short also fails here; say so when it visibly is.
            if bytes[bytes.count - 9] != RDB.Opcode.end {
                throw .truncated.with("no end marker before the last 8 of \(bytes.count) bytes")
            }
            throw .checksumMismatch.with("stored \(hex(stored)), computed \(hex(computed))")
        }
        return version
    }

    private static func version(of bytes: UnsafeRawBufferPointer) throws(SnapshotError) -> Int {
        guard bytes.count >= 9, bytes.prefix(5).elementsEqual(RDB.magic) else {
            throw .notRDB.with("it does not begin with REDIS and a four-digit version")
        }
        var version = 0
        for digit in bytes[5..<9] {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { throw .notRDB.with("the version is not a number") }
            version = version * 10 + Int(digit - UInt8(ascii: "0"))
        }
        guard version >= 1, version <= RDB.newestReadable else {
            throw .unsupportedVersion.with("version \(version); this library reads 1 to \(RDB.newestReadable)")
        }
        return version
    }

    /// RESIZEDB's sizes for database 0, if the file has the record before
    /// its first key (as every Redis since 3.2 writes it).
    func sizes() throws(SnapshotError) -> (keys: Int, expires: Int)? {
        var reader = self
        reader.offset = 9
        var database = 0
        while true {
            switch try reader.byte() {
            case RDB.Opcode.selectDB: database = Int(clamping: try reader.length())
            case RDB.Opcode.aux: try reader.skipString(); try reader.skipString()
            case RDB.Opcode.function2, RDB.Opcode.functionPreGA: try reader.skipString()
            case RDB.Opcode.resizeDB:
                let keys = try reader.length(), expires = try reader.length()
                if database == 0 { return (Int(clamping: keys), Int(clamping: expires)) }
            default: return nil
            }
        }
    }

    /// Walks every record after the header, calling `visit` for each string
    /// key of database 0 with the offset just past it. Call ``verify()`` first: this checks structure,
    /// not the checksum.
    mutating func decode(_ visit: Visit) throws -> RDBSummary {
        _ = try Self.version(of: bytes)
        offset = 9
        var summary = RDBSummary()
        var database = 0
        var deadline: Int64?
        while true {
            let recordStart = offset
            let type = try byte()
            switch type {
            case RDB.Opcode.end:
                return summary
            case RDB.Opcode.selectDB:
                database = try Int(exactly: length()) ?? Int.max
            case RDB.Opcode.resizeDB:
                let keys = try length(), expires = try length()
                if database == 0 { summary.sizes = (Int(clamping: keys), Int(clamping: expires)) }
            case RDB.Opcode.aux:
                let name = try string { Array($0) }
                let value = try string { Array($0) }
                summary.aux[String(decoding: name, as: UTF8.self)] = value
            case RDB.Opcode.expireTimeMilliseconds:
                deadline = try integer(Int64.self)
            case RDB.Opcode.expireTimeSeconds:
                deadline = Int64(try integer(Int32.self)) * 1000
            case RDB.Opcode.idle:
                _ = try length()
            case RDB.Opcode.frequency:
                _ = try byte()
            case RDB.Opcode.function2, RDB.Opcode.functionPreGA:
                try skipString()
                summary.skippedFunctions += 1
            case RDB.Opcode.slotInfo:
                for _ in 0..<3 { _ = try length() }
            case RDB.Opcode.moduleAux:
                throw SnapshotError.unsupportedType.with("module auxiliary data at byte \(recordStart)")
            default:
                guard let valueType = RDB.ValueType(rawValue: type) else {
                    throw SnapshotError.corrupt.with("unknown record type \(type) at byte \(recordStart)")
                }
                if valueType == .string && database == 0 {
                    try stringEntry(deadline: deadline, visit)
                    summary.strings += 1
                } else if valueType == .string {
                    try skipString()
                    try skipString()
                    summary.skippedInOtherDatabases += 1
                } else {
                    try skipString()   // the key
                    try skipValue(of: valueType, at: recordStart)
                    summary.skippedByType[valueType.redisType, default: 0] += 1
                }
                deadline = nil
            }
        }
    }

    /// The string of a DUMP record (a type byte and one encoded value,
    /// exactly filling `record`); throws for any other type.
    static func decodeDumpRecord(_ record: UnsafeRawBufferPointer) throws(SnapshotError) -> [UInt8] {
        var decoder = RDBDecoder(record)
        let type = try decoder.byte()
        guard type == RDB.ValueType.string.rawValue else {
            let name = RDB.ValueType(rawValue: type)?.redisType ?? "unknown (\(type))"
            throw .unsupportedType.with("a \(name) value in a DUMP payload")
        }
        let value = Array(try decoder.stringBytes(slot: 0))
        guard decoder.offset == record.count else { throw .corrupt.with("bytes after the value in a DUMP payload") }
        return value
    }

    // MARK: Records

    private mutating func stringEntry(deadline: Int64?, _ visit: Visit) throws {
        let key = try stringBytes(slot: 0)
        let value = try stringBytes(slot: 1)
        try visit(key, value, deadline, offset)
    }

    /// Skips the value of a type other than string (the key already read).
    private mutating func skipValue(of type: RDB.ValueType, at start: Int) throws(SnapshotError) {
        switch type {
        case .string:
            try skipString()
        case .list, .set, .listQuicklist:
            for _ in 0..<(try count()) { try skipString() }
        case .hash:
            for _ in 0..<(try count()) { try skipString(); try skipString() }
        case .sortedSet:
            for _ in 0..<(try count()) {
                try skipString()
                // A score as text: its length in one byte, or 253-255 for
                // NaN and the infinities, which have no text.
                let scoreLength = try byte()
                if scoreLength < 253 { try skip(Int(scoreLength)) }
            }
        case .sortedSet2:
            for _ in 0..<(try count()) { try skipString(); try skip(8) }
        case .listQuicklist2:
            for _ in 0..<(try count()) { _ = try length(); try skipString() }
        case .hashZipmap, .listZiplist, .setIntset, .sortedSetZiplist, .hashZiplist, .hashListpack,
             .sortedSetListpack, .setListpack:
            try skipString()
        case .module, .module2, .streamListpacks, .streamListpacks2, .streamListpacks3:
            throw .unsupportedType.with("a \(type.redisType) value at byte \(start)")
        }
    }

    // MARK: Primitives

    private mutating func byte() throws(SnapshotError) -> UInt8 {
        guard offset < bytes.count else { throw truncatedHere() }
        defer { offset += 1 }
        return bytes[offset]
    }

    private mutating func skip(_ count: Int) throws(SnapshotError) {
        guard count <= bytes.count - offset else { throw truncatedHere() }
        offset += count
    }

    private mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= bytes.count - offset else { throw truncatedHere() }
        defer { offset += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    private func truncatedHere() -> SnapshotError {
        .truncated.with("a record runs past the end, at byte \(offset) of \(bytes.count)")
    }

    /// A length; throws if it is a special string encoding instead.
    private mutating func length() throws(SnapshotError) -> UInt64 {
        let (value, special) = try lengthOrEncoding()
        guard !special else { throw .corrupt.with("a string encoding where a length belongs, at byte \(offset - 1)") }
        return value
    }

    /// An element count, bounded by the bytes left (every element takes at
    /// least one), so that a corrupt count fails at once instead of looping.
    private mutating func count() throws(SnapshotError) -> Int {
        let value = try length()
        guard value <= UInt64(bytes.count - offset) else { throw truncatedHere() }
        return Int(value)
    }

    /// A length, or (special = true) the code of a special string encoding.
    private mutating func lengthOrEncoding() throws(SnapshotError) -> (UInt64, special: Bool) {
        let first = try byte()
        switch first >> 6 {
        case RDB.Length.bits6:
            return (UInt64(first & 0x3f), false)
        case RDB.Length.bits14:
            return (UInt64(first & 0x3f) << 8 | UInt64(try byte()), false)
        case RDB.Length.special:
            return (UInt64(first & 0x3f), true)
        default:
            switch first {
            case RDB.Length.marker32: return (UInt64(UInt32(bigEndian: try integer(UInt32.self))), false)
            case RDB.Length.marker64: return (UInt64(bigEndian: try integer(UInt64.self)), false)
            default: throw .corrupt.with("length marker \(first) at byte \(offset - 1)")
            }
        }
    }

    private mutating func skipString() throws(SnapshotError) {
        _ = try stringBytes(slot: 0)
    }

    private mutating func string<Result>(_ body: (UnsafeRawBufferPointer) -> Result) throws(SnapshotError) -> Result {
        body(try stringBytes(slot: 0))
    }

    /// The bytes of the next string: in place when stored raw, else decoded
    /// into scratch buffer `slot`, valid until that slot is used again.
    private mutating func stringBytes(slot: Int) throws(SnapshotError) -> UnsafeRawBufferPointer {
        let (value, special) = try lengthOrEncoding()
        if !special {
            guard value <= UInt64(bytes.count - offset) else { throw truncatedHere() }
            defer { offset += Int(value) }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(value))])
        }
        switch UInt8(value) {
        case RDB.Encoding.int8: return decimal(Int64(Int8(bitPattern: try byte())), slot: slot)
        case RDB.Encoding.int16: return decimal(Int64(try integer(Int16.self)), slot: slot)
        case RDB.Encoding.int32: return decimal(Int64(try integer(Int32.self)), slot: slot)
        case RDB.Encoding.lzf:
            let start = offset
            let compressed = try length(), original = try length()
            guard compressed <= UInt64(bytes.count - offset) else { throw truncatedHere() }
            // LZF expands at most 88-fold (a 3-byte back reference copies
            // at most 264 bytes): a larger claim is corrupt, and must not
            // make this allocate it.
            guard original <= compressed &* 88 else {
                throw .corrupt.with("an LZF string claims \(original) bytes from \(compressed), at byte \(start)")
            }
            let input = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(compressed))])
            offset += Int(compressed)
            let output = buffer(slot).room(for: Int(original))
            guard lzfDecompress(input, into: output) else {
                throw .corrupt.with("an LZF string that does not decompress, at byte \(start)")
            }
            return UnsafeRawBufferPointer(output)
        default:
            throw .corrupt.with("unknown string encoding \(value) at byte \(offset - 1)")
        }
    }

    /// An integer-encoded string, written out as its decimal digits.
    private func decimal(_ value: Int64, slot: Int) -> UnsafeRawBufferPointer {
        var digits = String(value)
        return digits.withUTF8 { utf8 in
            let output = buffer(slot).room(for: utf8.count)
            output.copyMemory(from: UnsafeRawBufferPointer(utf8))
            return UnsafeRawBufferPointer(output)
        }
    }

    private func buffer(_ slot: Int) -> ScratchBuffer {
        slot == 0 ? scratch.0 : scratch.1
    }
}

/// A growable block of bytes that hands out pointers valid until its next
/// use: what a decoded string lives in while the visitor sees it.
private final class ScratchBuffer {
    // Owned by this object: allocated here, freed in deinit or on growth.
    private var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)

    /// `count` bytes of room, the previous contents gone.
    func room(for count: Int) -> UnsafeMutableRawBufferPointer {
        if count > storage.count {
            storage.deallocate()
            storage = .allocate(byteCount: max(count, 2 * storage.count), alignment: 8)
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[..<count])
    }

    deinit {
        storage.deallocate()
    }
}

private func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}
