/*
 libFuzzer harness for the snapshot loader: RDBDecoder and DumpPayload
 (Sources/TTLKV/Snapshot, compiled alone with -sanitize=fuzzer,address).

 The first byte of an input picks what the rest goes through:
   bit 0 clear: an RDB file; set: a DUMP payload (RESTORE's argument).
   bit 1 set: the trailing CRC-64 is recomputed first, so that the bytes
     get past the checksum and reach the record parser (what a crafted file
     does; random bytes almost never match a checksum).
 A file goes through what a load does: verify (magic, version, checksum),
 the RESIZEDB sizes, then every record; decode also runs on bytes that
 failed verification, so that the parser is memory-safe on any input, not
 only on input with a valid checksum. Arbitrary bytes must end in a
 SnapshotError or a result, never a crash, an overflow or a hang. Every
 string entry decoded, encoded again by RDBEncoder and decoded once more,
 must come back the same (key, value, deadline), and a payload decoded
 must re-encode to a payload that decodes to the same value.
 */

struct Entry: Equatable {
    var key: [UInt8]
    var value: [UInt8]
    var deadline: Int64?
}

/// Every string entry of `bytes`, or nil if the decoder refused them.
func entries(of bytes: UnsafeRawBufferPointer, verify: Bool) -> [Entry]? {
    var decoder = RDBDecoder(bytes)
    do {
        if verify { _ = try decoder.verify() }
        _ = try decoder.sizes()
        var found: [Entry] = []
        var lastOffset = 0
        _ = try decoder.decode { key, value, deadline, offset in
            precondition(offset > lastOffset && offset <= bytes.count, "entry offset out of order or bounds")
            lastOffset = offset
            found.append(Entry(key: Array(key), value: Array(value), deadline: deadline))
        }
        return found
    } catch is SnapshotError {
        return nil
    } catch {
        preconditionFailure("the decoder threw something other than a SnapshotError: \(error)")
    }
}

/// `entries` written as an RDB file by the encoder the stores use.
func encoded(_ entries: [Entry]) -> [UInt8] {
    var encoder = RDBEncoder()
    var file: [UInt8] = []
    encoder.appendHeader()
    encoder.appendSelectDB(0)
    encoder.appendResizeDB(keys: entries.count, expires: entries.filter { $0.deadline != nil }.count)
    for entry in entries {
        entry.key.withUnsafeBytes { key in
            entry.value.withUnsafeBytes { value in encoder.appendEntry(key: key, value: value, deadline: entry.deadline) }
        }
    }
    encoder.appendEnd()
    encoder.takeBytes { file.append(contentsOf: $0) }
    return file
}

/// `bytes` with their last 8 bytes replaced by the CRC-64 of the rest.
func withChecksum(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.count >= 8 else { return bytes }
    var fixed = bytes
    let checksum = fixed.withUnsafeBytes { CRC64.checksum(UnsafeRawBufferPointer(rebasing: $0[..<(bytes.count - 8)])) }
    withUnsafeBytes(of: checksum.littleEndian) { fixed.replaceSubrange((bytes.count - 8)..., with: $0) }
    return fixed
}

func fuzzFile(_ input: [UInt8]) {
    input.withUnsafeBytes { bytes in
        // Unverified too: the parser must be safe on any bytes.
        _ = entries(of: bytes, verify: false)
        if let verified = entries(of: bytes, verify: true) {
            let again = encoded(verified).withUnsafeBytes { entries(of: $0, verify: true) }
            precondition(again == verified, "decoded entries do not survive encoding again")
        }
    }
}

func fuzzPayload(_ input: [UInt8]) {
    let value: [UInt8]
    do {
        value = try input.withUnsafeBytes { try DumpPayload.decode($0) }
    } catch {
        return
    }
    let again = value.withUnsafeBytes { DumpPayload.encode($0) }
    let back = try? again.withUnsafeBytes { try DumpPayload.decode($0) }
    precondition(back == value, "a payload's value does not survive encoding again")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let control = data[0]
    var input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if control & 2 != 0 { input = withChecksum(input) }
    if control & 1 == 0 { fuzzFile(input) } else { fuzzPayload(input) }
    return 0
}
