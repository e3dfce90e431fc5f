import TTLKV

/*
 SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP: a value as an array of bits, bit
 0 the most significant bit of byte 0.

 Ranges. BITCOUNT and BITPOS take a range of bytes, or of bits with BIT:
 negative ends count from the end, both are clamped to the value, and the
 range becomes one of bits, [first, last], on which both commands work bit
 by bit at the ends and a word at a time in between. Redis 7.0 looks its
 arguments over in an order of its own (BITCOUNT looks the key up first, so
 a missing key answers 0 whatever follows; BITPOS checks the bit first),
 kept here.

 Writes. A value is never changed in place (readers take no lock): SETBIT
 writes a new value with one bit changed, as SETRANGE and APPEND do, and
 keeps the deadline. BITOP reads its sources and writes its destination
 holding the locks of all their shards, so that no write to a source slips
 between the reads and the result (the sources are read in place, as the
 locks keep them); the result replaces the destination's value and
 deadline, and an empty result removes it. AND stops at the shortest
 source, past which every bit is 0, so the work is the sum of the sources'
 lengths, not their number times the longest.
 */
let bitCommands: [Command] = [
    Command("setbit", arity: 4, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@bitmap", "@slow"], run: setBit),
    Command("getbit", arity: 3, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@read", "@bitmap", "@fast"], run: getBit),
    Command("bitcount", arity: -2, flags: ["readonly"], keys: (1, 1, 1), categories: ["@read", "@bitmap", "@slow"], run: bitCount),
    Command("bitpos", arity: -3, flags: ["readonly"], keys: (1, 1, 1), categories: ["@read", "@bitmap", "@slow"], run: bitPosition),
    Command("bitop", arity: -4, flags: ["write", "denyoom"], keys: (2, -1, 1), categories: ["@write", "@bitmap", "@slow"], run: bitOperation),
]

private let bitOffsetError = "ERR bit offset is not an integer or out of range"

/// A bit offset as Redis reads one: an integer from 0 to the largest value's
/// bits (proto-max-bulk-len bytes).
private func bitOffset(_ call: CommandCall, _ index: Int) -> Int64? {
    guard let offset = call.arguments.integer(index), offset >= 0,
          offset >> 3 < Int64(call.server.configuration.limits.maximumBulkLength) else { return nil }
    return offset
}

/// SETBIT key offset value: answers the bit's old value; the value grows
/// with zero bytes to reach the bit. As in Redis, a SETBIT that creates
/// nothing, grows nothing and leaves the bit as it was writes nothing: no
/// event, and a WATCH of the key stays clean.
private func setBit(_ call: CommandCall, _ replies: inout Replies) {
    guard let offset = bitOffset(call, 2) else { return replies.error(bitOffsetError) }
    let valueError = "ERR bit is not an integer or out of range"
    guard let bit = call.arguments.integer(3) else { return replies.error(valueError) }
    guard bit == 0 || bit == 1 else { return replies.error(valueError) }
    let key = call.arguments[1]
    let byte = Int(offset >> 3), mask = UInt8(0x80) >> UInt8(offset & 7)
    let current = (try? call.keyspace.withValue(key) { $0.count }) ?? 0
    let outcome = call.attempt(&replies) {
        try call.keyspace.update(key, sizeHint: max(current, byte + 1)) { entry -> (was: Bool, wrote: Bool) in
            let value = entry.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
            let was = byte < value.count && value[byte] & mask != 0
            guard entry.value == nil || byte >= value.count || was != (bit == 1) else { return (was, false) }
            entry.replaceValue(count: max(value.count, byte + 1)) { buffer in
                buffer.copyMemory(from: value)
                if value.count <= byte {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[value.count...]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                buffer[byte] = bit == 1 ? buffer[byte] | mask : buffer[byte] & ~mask
            }
            return (was, true)
        }
    }
    guard let outcome else { return }
    if outcome.wrote {
        call.notify(.setbit, key)
        call.takeOwnMessages(&replies)
    }
    replies.integer(outcome.was ? 1 : 0)
}

/// GETBIT key offset: 0 past the end of the value, or for a missing key.
private func getBit(_ call: CommandCall, _ replies: inout Replies) {
    guard let offset = bitOffset(call, 2) else { return replies.error(bitOffsetError) }
    let byte = Int(offset >> 3), mask = UInt8(0x80) >> UInt8(offset & 7)
    let bit = call.attempt(&replies) {
        try call.keyspace.withValue(call.arguments[1]) { byte < $0.count && $0[byte] & mask != 0 }
    }
    guard let bit else { return }
    call.session.statistics.countLookup(found: bit != nil)
    if bit == nil {
        call.notify(.keymiss, call.arguments[1])
        call.takeOwnMessages(&replies)
    }
    replies.integer(bit == true ? 1 : 0)
}

/// The bits [first, last] of a value, from a BITCOUNT or BITPOS range of
/// bytes or bits (negative ends count from the end); nil when empty.
private func bitRange(start: Int64, end: Int64, inBits: Bool, byteCount: Int) -> ClosedRange<Int>? {
    let total = Int64(byteCount) << (inBits ? 3 : 0)
    var start = start < 0 ? total &+ start : start
    var end = end < 0 ? total &+ end : end
    start = max(start, 0)
    end = min(max(end, 0), total - 1)
    guard start <= end else { return nil }
    return inBits ? Int(start)...Int(end) : Int(start) * 8...Int(end) * 8 + 7
}

/// BIT or BYTE at argument index; nil (after replying) for anything else.
private func rangeUnit(_ call: CommandCall, _ index: Int, _ replies: inout Replies) -> Bool? {
    guard index < call.arguments.count else { return false }
    if call.arguments.matches(index, "BIT") { return true }
    if call.arguments.matches(index, "BYTE") { return false }
    replies.error(CommandError.syntax.reply)
    return nil
}

/// Reads the value of key inside its read section, counting the lookup;
/// false (after replying) if the store failed.
private func withBits(_ call: CommandCall, _ replies: inout Replies, _ body: (UnsafeRawBufferPointer?, inout Replies) -> Void) {
    var ran = false
    do {
        ran = try call.keyspace.withValue(call.arguments[1]) { value in body(value, &replies) } != nil
    } catch {
        return replies.error(Keyspace.errorReply(for: error, command: call.command.name))
    }
    call.session.statistics.countLookup(found: ran)
    if !ran {
        call.notify(.keymiss, call.arguments[1])
        call.takeOwnMessages(&replies)
        body(nil, &replies)
    }
}

/// BITCOUNT key [start end [BYTE | BIT]]
private func bitCount(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    withBits(call, &replies) { value, replies in
        guard let value else { return replies.integer(0) }
        var bits = value.isEmpty ? nil : 0...(value.count * 8 - 1)
        if arguments.count == 4 || arguments.count == 5 {
            guard let start = arguments.integer(2), let end = arguments.integer(3) else {
                return replies.error(CommandError.notInteger.reply)
            }
            if start < 0 && end < 0 && start > end { return replies.integer(0) }
            guard let inBits = rangeUnit(call, 4, &replies) else { return }
            bits = bitRange(start: start, end: end, inBits: inBits, byteCount: value.count)
        } else if arguments.count != 2 {
            return replies.error(CommandError.syntax.reply)
        }
        replies.integer(bits.map { countOnes(value, $0) } ?? 0)
    }
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
private func bitPosition(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    guard let bit = arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
    guard bit == 0 || bit == 1 else { return replies.error("ERR The bit argument must be 1 or 0.") }
    withBits(call, &replies) { value, replies in
        // A missing key is an endless run of zeros.
        guard let value else { return replies.integer(bit == 1 ? -1 : 0) }
        var bits = value.isEmpty ? nil : 0...(value.count * 8 - 1)
        let endGiven = arguments.count >= 5
        if (4...6).contains(arguments.count) {
            guard let start = arguments.integer(3) else { return replies.error(CommandError.notInteger.reply) }
            guard let inBits = rangeUnit(call, 5, &replies) else { return }
            var end = Int64(value.count) - 1
            if endGiven {
                guard let given = arguments.integer(4) else { return replies.error(CommandError.notInteger.reply) }
                end = given
            }
            bits = bitRange(start: start, end: end, inBits: inBits, byteCount: value.count)
        } else if arguments.count != 3 {
            return replies.error(CommandError.syntax.reply)
        }
        guard let bits else { return replies.integer(-1) }
        if let found = firstBit(bit == 1, in: value, bits) { return replies.integer(found) }
        // No clear bit in the value: without an end, the zeros past it count.
        replies.integer(bit == 0 && !endGiven ? Int64(bits.upperBound + 1) : -1)
    }
}

/// The set bits of value among bits.
private func countOnes(_ value: UnsafeRawBufferPointer, _ bits: ClosedRange<Int>) -> Int {
    var count = 0
    var bit = bits.lowerBound
    // Bit by bit up to a byte boundary, whole bytes (8 at a time), the rest.
    while bit <= bits.upperBound && bit & 7 != 0 {
        count += Int(value[bit >> 3] >> UInt8(7 - bit & 7) & 1)
        bit += 1
    }
    var byte = bit >> 3
    let lastWholeByte = (bits.upperBound + 1) >> 3
    while byte + 8 <= lastWholeByte {
        count += value.loadUnaligned(fromByteOffset: byte, as: UInt64.self).nonzeroBitCount
        byte += 8
    }
    while byte < lastWholeByte {
        count += value[byte].nonzeroBitCount
        byte += 1
    }
    bit = max(bit, byte << 3)
    while bit <= bits.upperBound {
        count += Int(value[bit >> 3] >> UInt8(7 - bit & 7) & 1)
        bit += 1
    }
    return count
}

/// The position of the first bit among bits that is `one` (set) or not.
private func firstBit(_ one: Bool, in value: UnsafeRawBufferPointer, _ bits: ClosedRange<Int>) -> Int64? {
    let skip: UInt8 = one ? 0x00 : 0xFF
    var bit = bits.lowerBound
    while bit <= bits.upperBound {
        // Whole bytes that cannot hold it are passed at once.
        if bit & 7 == 0 && bit + 7 <= bits.upperBound && value[bit >> 3] == skip {
            bit += 8
            continue
        }
        if (value[bit >> 3] >> UInt8(7 - bit & 7) & 1 == 1) == one { return Int64(bit) }
        bit += 1
    }
    return nil
}

/// BITOP AND | OR | XOR | NOT destkey key [key ...]: answers the result's
/// length, the longest source's.
private func bitOperation(_ call: CommandCall, _ replies: inout Replies) {
    enum Operation { case and, or, xor, not }
    let arguments = call.arguments
    let operation: Operation
    if arguments.matches(1, "AND") { operation = .and }
    else if arguments.matches(1, "OR") { operation = .or }
    else if arguments.matches(1, "XOR") { operation = .xor }
    else if arguments.matches(1, "NOT") { operation = .not }
    else { return replies.error(CommandError.syntax.reply) }
    if operation == .not && arguments.count != 4 {
        return replies.error("ERR BITOP NOT must be called with a single source key.")
    }
    let target = arguments[2]
    let sources = (3..<arguments.count).map { arguments[$0] }
    // What the result did to the target: Redis's events.
    enum Outcome { case stored(Int), removed(Bool) }
    var missing: [Int] = []
    let outcome = call.attempt(&replies) {
        try call.keyspace.withLocks([target] + sources) { access -> Outcome in
            // In place: the locks keep them until the result is written.
            missing = []
            let values = try sources.indices.map { index in
                guard let value = try access.lockedValue(sources[index])?.bytes else {
                    missing.append(index)
                    return UnsafeRawBufferPointer(start: nil, count: 0)
                }
                return value
            }
            let longest = values.map(\.count).max() ?? 0
            guard longest > 0 else { return .removed(try access.remove(target)) }
            try access.update(target, sizeHint: longest) { entry in
                entry.replaceValue(count: longest, deadline: nil) { result in
                    result.initializeMemory(as: UInt8.self, repeating: 0)
                    result.copyMemory(from: values[0])
                    switch operation {
                    case .not:
                        for index in 0..<longest { result[index] = ~result[index] }
                    case .and:
                        let shortest = values.map(\.count).min()!
                        for value in values.dropFirst() {
                            for index in 0..<shortest { result[index] &= value[index] }
                        }
                        UnsafeMutableRawBufferPointer(rebasing: result[shortest...]).initializeMemory(as: UInt8.self, repeating: 0)
                    case .or, .xor:
                        for value in values.dropFirst() {
                            for index in 0..<value.count {
                                result[index] = operation == .or ? result[index] | value[index] : result[index] ^ value[index]
                            }
                        }
                    }
                }
            }
            return .stored(longest)
        }
    }
    guard let outcome else { return }
    // Redis looks every source up as a read, then writes the target.
    for index in missing { call.notify(.keymiss, sources[index]) }
    switch outcome {
    case .stored: call.notify(.set, target)
    case .removed(let existed): if existed { call.notify(.del, target) }
    }
    call.takeOwnMessages(&replies)
    switch outcome {
    case .stored(let length): replies.integer(length)
    case .removed: replies.integer(0)
    }
}
