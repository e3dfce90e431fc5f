/// Redis's DUMP serialization of one value, for a server's DUMP and
/// RESTORE: the value's RDB record (type byte and encoded string), the RDB
/// version in two bytes, and the CRC-64 of all that, little-endian. A
/// payload TTLKV makes, Redis 7 restores, and the other way round.
public enum DumpPayload {
    /// The payload of a string value.
    public static func encode(_ value: UnsafeRawBufferPointer) -> [UInt8] {
        var encoder = RDBEncoder()
        var payload: [UInt8] = []
        encoder.appendDumpRecord(value)
        encoder.takeBytes { payload.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(RDB.version).littleEndian) { payload.append(contentsOf: $0) }
        let checksum = payload.withUnsafeBytes { CRC64.checksum($0) }
        withUnsafeBytes(of: checksum.littleEndian) { payload.append(contentsOf: $0) }
        return payload
    }

    /// The string value of a payload. Throws ``SnapshotError/checksumMismatch``
    /// for a damaged payload, ``SnapshotError/unsupportedVersion`` for one
    /// from a newer RDB version than this library reads,
    /// ``SnapshotError/unsupportedType`` for a value of another type (a list,
    /// a hash, ...), and ``SnapshotError/corrupt`` for bytes that do not
    /// decode or do not end where the payload does.
    public static func decode(_ payload: UnsafeRawBufferPointer) throws(SnapshotError) -> [UInt8] {
        guard payload.count >= 1 + 1 + 10 else { throw .corrupt.with("a payload of \(payload.count) bytes") }
        let body = UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 8)])
        let stored = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: payload.count - 8, as: UInt64.self))
        guard CRC64.checksum(body) == stored else { throw .checksumMismatch.with("in a DUMP payload") }
        let version = Int(UInt16(littleEndian: payload.loadUnaligned(fromByteOffset: payload.count - 10, as: UInt16.self)))
        guard version <= RDB.newestReadable else {
            throw .unsupportedVersion.with("RDB version \(version) in a DUMP payload")
        }
        let record = UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 10)])
        return try RDBDecoder.decodeDumpRecord(record)
    }
}

extension RDBEncoder {
    /// A DUMP record: the type byte and the encoded string, nothing else.
    mutating func appendDumpRecord(_ value: UnsafeRawBufferPointer) {
        appendType(.string)
        appendString(value)
    }
}
