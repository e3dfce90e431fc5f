#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
@testable import TTLKV

/// The RDB codec alone: checksum, encodings, a file Redis wrote, and damage.
@Suite struct SnapshotCodecTests {
    @Test func crc64MatchesRedisCheckValue() {
        let check = Array("123456789".utf8)
        #expect(check.withUnsafeBytes { CRC64.checksum($0) } == 0xe9c6_d914_c4b8_d9ca)
    }

    /// ISA-L's CRC, fed in pieces of any size as a save's write thread feeds
    /// it, must agree with Redis's CRC-64 computed a bit at a time from
    /// its definition, at every length.
    @Test func crc64InPiecesEqualsTheDefinition() {
        func bitwise(_ bytes: ArraySlice<UInt8>) -> UInt64 {
            var crc: UInt64 = 0
            for byte in bytes {
                crc ^= UInt64(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 : crc >> 1 }
            }
            return crc
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 999, 4096, 5000] {
                let expected = bitwise(bytes[..<length])
                #expect(CRC64.checksum(UnsafeRawBufferPointer(rebasing: all[..<length])) == expected, "length \(length)")
                for piece in [1, 3, 16, 100] {
                    var crc = CRC64()
                    var start = 0
                    while start < length {
                        let end = Swift.min(length, start + piece)
                        crc.update(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                        start = end
                    }
                    #expect(crc.value == expected, "length \(length) in pieces of \(piece)")
                }
            }
        }
    }

    /// The CRC of two parts joined, from each part's CRC and the second's
    /// length, is the CRC of the whole, at every split.
    @Test func crc64CombinesParts() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            let whole = CRC64.checksum(all)
            for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
                let first = CRC64.checksum(UnsafeRawBufferPointer(rebasing: all[..<split]))
                let second = CRC64.checksum(UnsafeRawBufferPointer(rebasing: all[split...]))
                #expect(CRC64.combine(first, second, secondLength: all.count - split) == whole, "split \(split)")
            }
        }
    }

    /// A snapshot-sized checksum, its halves on two threads, is the same
    /// as one computed in one pass, at lengths on either side of the size
    /// where it splits.
    @Test func crc64OnTwoThreadsEqualsOnePass() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(CRC64.splitBytes + 4099)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for length in [0, 9, CRC64.splitBytes - 1, CRC64.splitBytes, CRC64.splitBytes + 4099] {
                let part = UnsafeRawBufferPointer(rebasing: all[..<length])
                #expect(CRC64.checksum(splitting: part) == CRC64.checksum(part), "length \(length)")
            }
        }
    }

    @Test func integersAreEncodedOnlyInCanonicalForm() {
        func canonical(_ text: String) -> Int64? {
            Array(text.utf8).withUnsafeBytes { RDBEncoder.canonicalInteger($0) }
        }
        #expect(canonical("0") == 0)
        #expect(canonical("-12") == -12)
        #expect(canonical("2147483648") == 2_147_483_648)
        for text in ["", "-", "-0", "007", "+1", " 1", "1 ", "1.0", "123456789012"] {
            #expect(canonical(text) == nil, "\(text)")
        }
    }

    /// Every byte string comes back as it went in, with its deadline, and
    /// the file verifies.
    @Test func encodedEntriesDecodeExactly() throws {
        var entries: [(key: [UInt8], value: [UInt8], deadline: Int64?)] = [
            (Array("k".utf8), [], nil),
            (Array("n".utf8), Array("-2147483648".utf8), 1_700_000_000_000),
            (Array("m".utf8), Array("-0".utf8), nil),
            (Array("z".utf8), Array("007".utf8), nil),
            ([0, 255, 0], Array(repeating: 9, count: 1 << 20), 4_102_444_800_000),
        ]
        for i in 0..<300 {
            let value = (0..<(i * 37 % 17_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            entries.append((Array("key:\(i)".utf8), i % 3 == 0 ? Array(String(i - 150).utf8) : value,
                            i % 2 == 0 ? Int64(1_800_000_000_000 + i) : nil))
        }
        let file = encodeRDB(entries)
        var decoded: [(key: [UInt8], value: [UInt8], deadline: Int64?)] = []
        let summary = try file.withUnsafeBytes { bytes in
            var decoder = RDBDecoder(bytes)
            #expect(try decoder.verify() == RDB.version)
            return try decoder.decode { key, value, deadline, _ in decoded.append((Array(key), Array(value), deadline)) }
        }
        #expect(summary.strings == entries.count)
        #expect(summary.sizes?.keys == entries.count)
        #expect(decoded.count == entries.count)
        for (index, (got, want)) in zip(decoded, entries).enumerated() {
            let same = got.key == want.key && got.value == want.value && got.deadline == want.deadline
            #expect(same, "entry \(index)")
        }
    }

    /// A file redis-server 7.0.15 wrote: every string encoding it uses
    /// (integers, LZF), a deadline, other types skipped and counted.
    @Test func readsAFileRedisWrote() throws {
        let file = try Data(contentsOf: fixture("redis-7.0.15-mixed.rdb"))
        var strings: [String: ([UInt8], Int64?)] = [:]
        let summary = try file.withUnsafeBytes { bytes in
            var decoder = RDBDecoder(bytes)
            #expect(try decoder.verify() == 10)
            return try decoder.decode { key, value, deadline, _ in
                strings[String(decoding: key, as: UTF8.self)] = (Array(value), deadline)
            }
        }
        #expect(strings["plain"]?.0 == Array("hello".utf8))
        #expect(strings["empty"]?.0 == [])
        for text in ["12", "-300", "2147483647", "007", "2147483648", "-0"] {
            #expect(strings.values.contains { $0.0 == Array(text.utf8) }, "\(text)")
        }
        // Compared to a Bool first, so that a failure does not print 100 kB.
        let compressed = strings["compressed"]?.0 == Array((String(repeating: "a", count: 200) + String(repeating: "bcd", count: 50)).utf8)
        let binary = strings["binary\u{0}key"]?.0 == Array(0...255)
        let large = strings["large"]?.0 == (0..<100_000).map { UInt8(($0 * 7) % 251) }
        #expect(compressed && binary && large)
        #expect(strings["ttl"]?.1 == 4_102_444_800_000)
        #expect(strings["plain"]?.1 == nil)
        #expect(summary.strings == 12)
        #expect(summary.skippedByType == ["list": 1, "hash": 1, "set": 2, "zset": 1])
        #expect(summary.skippedInOtherDatabases == 1)
        #expect(summary.aux["redis-ver"] == Array("7.0.15".utf8))
    }

    /// Any one byte changed anywhere is caught before anything is decoded;
    /// a file cut at any length is refused.
    @Test func damageIsDetected() throws {
        let file = encodeRDB([(Array("a".utf8), Array("1".utf8), nil), (Array("bb".utf8), Array(repeating: 7, count: 40), 5)])
        for index in file.indices {
            var damaged = file
            damaged[index] ^= 0x20
            #expect(throws: SnapshotError.self, "byte \(index)") {
                try damaged.withUnsafeBytes { _ = try RDBDecoder($0).verify() }
            }
        }
        for length in 0..<file.count {
            #expect(throws: SnapshotError.self, "length \(length)") {
                try Array(file[..<length]).withUnsafeBytes { bytes in
                    var decoder = RDBDecoder(bytes)
                    _ = try decoder.verify()
                    _ = try decoder.decode { _, _, _, _ in }
                }
            }
        }
    }

    /// Arbitrary bytes after a valid header end in an error, never a crash
    /// or a huge allocation (decode alone: the checksum is not consulted).
    @Test func garbageNeverCrashesTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let tail = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let file = Array("REDIS0010".utf8) + tail
            file.withUnsafeBytes { bytes in
                var decoder = RDBDecoder(bytes)
                _ = try? decoder.decode { _, _, _, _ in }
            }
        }
    }

    /// Payloads redis-server 7.0.15's DUMP made: a raw string, an integer,
    /// an LZF-compressed string, an empty string, and a list (refused).
    @Test func dumpPayloadsMatchRedis() throws {
        func bytes(_ hex: String) -> [UInt8] {
            var result: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                result.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return result
        }
        let redis: [(String, [UInt8])] = [
            ("000568656c6c6f0a006372df766534200a", Array("hello".utf8)),
            ("00c139300a009d94ea2793fc08b9", Array("12345".utf8)),
            ("00c3094064017878e057000178780a005db7f663bb08625f", Array(repeating: UInt8(ascii: "x"), count: 100)),
            ("00000a005d9b5c400f7fa2da", []),
        ]
        for (hex, value) in redis {
            let payload = bytes(hex)
            #expect(try payload.withUnsafeBytes { try DumpPayload.decode($0) } == value, "\(hex)")
            // Redis compresses; TTLKV does not: those two payloads differ.
            if value.count <= 20 { #expect(value.withUnsafeBytes { DumpPayload.encode($0) } == payload, "\(hex)") }
        }
        let list = bytes("120102090900000001000101ff0a0010828f9209b3f446")
        #expect(throws: SnapshotError.unsupportedType) { try list.withUnsafeBytes { try DumpPayload.decode($0) } }
        var damaged = bytes(redis[0].0)
        damaged[2] ^= 1
        #expect(throws: SnapshotError.checksumMismatch) { try damaged.withUnsafeBytes { try DumpPayload.decode($0) } }
        let big = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(try big.withUnsafeBytes { DumpPayload.encode($0) }.withUnsafeBytes { try DumpPayload.decode($0) } == big)
    }
}

/// An RDB file of `entries`, in order (a key may come twice).
func encodeRDB(_ entries: [(key: [UInt8], value: [UInt8], deadline: Int64?)]) -> [UInt8] {
    var encoder = RDBEncoder()
    encoder.appendHeader()
    encoder.appendAux("redis-ver", "7.0.0")
    encoder.appendSelectDB(0)
    encoder.appendResizeDB(keys: entries.count, expires: entries.filter { $0.deadline != nil }.count)
    var file: [UInt8] = []
    for entry in entries {
        entry.key.withUnsafeBytes { key in
            entry.value.withUnsafeBytes { value in encoder.appendEntry(key: key, value: value, deadline: entry.deadline) }
        }
        if encoder.pendingByteCount > 4096 { encoder.takeBytes { file.append(contentsOf: $0) } }
    }
    encoder.appendEnd()
    encoder.takeBytes { file.append(contentsOf: $0) }
    return file
}

/// A file of Tests/Fixtures.
func fixture(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name)
}
