/*
 The parts of Redis's RDB format that a store of strings reads and writes.

 An RDB file is "REDIS" and a four-digit version, then a sequence of
 records, each led by a byte: an opcode (0xF4 to 0xFF) or a value type
 (below them). TTLKV writes version 10 (Redis 7.0): AUX fields
 (redis-ver, redis-bits, ctime, used-mem, aof-base), SELECTDB 0, RESIZEDB
 with the key counts, then per key an optional EXPIRETIME_MS (the absolute
 Unix time in milliseconds, 8 bytes little-endian) and a string record
 (type 0, key, value); then EOF and the CRC-64 of everything before it.

 Lengths are variable: 6 bits in one byte (00xxxxxx), 14 bits in two
 (01xxxxxx xxxxxxxx, big-endian), or a marker byte and a 32- or 64-bit
 big-endian integer. A byte 11xxxxxx instead marks a string stored
 specially: as an 8-, 16- or 32-bit little-endian integer (Redis stores a
 string that is the canonical decimal form of such an integer that way),
 or LZF-compressed (compressed length, original length, data).
 */

enum RDB {
    /// The version TTLKV writes: Redis 7.0's.
    static let version = 10
    /// The newest version it reads: strings have not changed through
    /// Redis 7.4's version 12; unknown record types are refused by name.
    static let newestReadable = 12
    static let magic = Array("REDIS".utf8)

    enum Opcode {
        static let slotInfo: UInt8 = 0xF4
        static let function2: UInt8 = 0xF5
        static let functionPreGA: UInt8 = 0xF6
        static let moduleAux: UInt8 = 0xF7
        static let idle: UInt8 = 0xF8
        static let frequency: UInt8 = 0xF9
        static let aux: UInt8 = 0xFA
        static let resizeDB: UInt8 = 0xFB
        static let expireTimeMilliseconds: UInt8 = 0xFC
        static let expireTimeSeconds: UInt8 = 0xFD
        static let selectDB: UInt8 = 0xFE
        static let end: UInt8 = 0xFF
    }

    /// Value types. Only strings are held; the others are named so that a
    /// file holding them is reported clearly.
    enum ValueType: UInt8 {
        case string = 0, list = 1, set = 2, sortedSet = 3, hash = 4, sortedSet2 = 5
        case module = 6, module2 = 7
        case hashZipmap = 9, listZiplist = 10, setIntset = 11, sortedSetZiplist = 12, hashZiplist = 13
        case listQuicklist = 14, streamListpacks = 15, hashListpack = 16, sortedSetListpack = 17
        case listQuicklist2 = 18, streamListpacks2 = 19, setListpack = 20, streamListpacks3 = 21

        /// The Redis type a value of this encoding holds, as TYPE names it.
        var redisType: String {
            switch self {
            case .string: "string"
            case .list, .listZiplist, .listQuicklist, .listQuicklist2: "list"
            case .set, .setIntset, .setListpack: "set"
            case .sortedSet, .sortedSet2, .sortedSetZiplist, .sortedSetListpack: "zset"
            case .hash, .hashZipmap, .hashZiplist, .hashListpack: "hash"
            case .module, .module2: "module"
            case .streamListpacks, .streamListpacks2, .streamListpacks3: "stream"
            }
        }
    }

    /// Length encodings (the top two bits of a length's first byte).
    enum Length {
        static let bits6: UInt8 = 0
        static let bits14: UInt8 = 1
        static let special: UInt8 = 3
        static let marker32: UInt8 = 0x80
        static let marker64: UInt8 = 0x81
    }

    /// Special string encodings (the low six bits after 11).
    enum Encoding {
        static let int8: UInt8 = 0
        static let int16: UInt8 = 1
        static let int32: UInt8 = 2
        static let lzf: UInt8 = 3
    }
}
