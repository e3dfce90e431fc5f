import TTLKV

/// GETSET, GETRANGE, SUBSTR, SETRANGE, INCRBYFLOAT: the string commands that
/// read or rewrite part of a value. A value is never changed in place
/// (readers take no lock), so SETRANGE writes a whole new value, as APPEND
/// does; each keeps the key's deadline except GETSET, which removes it.
let stringEditCommands: [Command] = [
    Command("getset", arity: 3, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        let value = call.arguments[2]
        var stored = false
        replyWithOldValue(call, &replies, sizeHint: value.count) { entry in
            entry.replaceValue(count: value.count, deadline: nil) { $0.copyMemory(from: value) }
            stored = true
        }
        // Redis replies with the old value first, then notifies.
        if stored {
            call.notify(.set, call.arguments[1])
            call.takeOwnMessages(&replies)
        }
    },
    Command("getrange", arity: 4, flags: ["readonly"], keys: (1, 1, 1), categories: ["@read", "@string", "@slow"], run: getRange),
    Command("substr", arity: 4, flags: ["readonly"], keys: (1, 1, 1), categories: ["@read", "@string", "@slow"], run: getRange),
    Command("setrange", arity: 4, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@string", "@slow"], run: setRange),
    Command("incrbyfloat", arity: 3, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"],
            run: incrementByFloat),
]

/// Redis's range of a string from `start` to `end`, both inclusive, negative
/// ones counting from the end, clamped to the string; nil when empty.
func redisRange(from start: Int64, to end: Int64, length: Int) -> Range<Int>? {
    let length = Int64(length)
    if start < 0 && end < 0 && start > end { return nil }
    var start = start < 0 ? length &+ start : start
    var end = end < 0 ? length &+ end : end
    start = max(start, 0)
    end = min(max(end, 0), length - 1)
    guard start <= end, length > 0 else { return nil }
    return Int(start)..<Int(end + 1)
}

/// GETRANGE key start end (and SUBSTR): the empty string for a missing key.
private func getRange(_ call: CommandCall, _ replies: inout Replies) {
    guard let start = call.arguments.integer(2), let end = call.arguments.integer(3) else {
        return replies.error(CommandError.notInteger.reply)
    }
    let found: Bool
    do {
        found = try call.keyspace.withValue(call.arguments[1]) { value -> Void in
            let range = redisRange(from: start, to: end, length: value.count) ?? 0..<0
            replies.bulk(UnsafeRawBufferPointer(rebasing: value[range]))
        } != nil
    } catch {
        return replies.error(Keyspace.errorReply(for: error, command: call.command.name))
    }
    call.session.statistics.countLookup(found: found)
    if !found {
        call.notify(.keymiss, call.arguments[1])
        call.takeOwnMessages(&replies)
        replies.bulk(UnsafeRawBufferPointer(start: nil, count: 0))
    }
}

/// What a write of part of a value answers: the new length, and whether
/// it wrote (an empty write does not, nor send an event).
enum PartialWrite {
    case length(Int, wrote: Bool)
    case error(String)
}

let stringTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/// SETRANGE key offset value: writes value at offset, padding with zero
/// bytes; a missing key is created unless value is empty. Answers the new
/// length.
private func setRange(_ call: CommandCall, _ replies: inout Replies) {
    guard let offset = call.arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
    guard offset >= 0 else { return replies.error("ERR offset is out of range") }
    let key = call.arguments[1], value = call.arguments[3]
    let maximum = call.server.configuration.limits.maximumBulkLength
    let (end, overflow) = offset.addingReportingOverflow(Int64(value.count))
    let fits = !overflow && end <= Int64(maximum)
    let current = (try? call.keyspace.withValue(key) { $0.count }) ?? 0
    let outcome = call.attempt(&replies) {
        try call.keyspace.update(key, sizeHint: fits ? max(current, Int(end)) : 0) { entry -> PartialWrite in
            let old = entry.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
            guard !value.isEmpty else { return .length(old.count, wrote: false) }
            guard fits else { return .error(stringTooLong) }
            let offset = Int(offset)
            let length = max(old.count, offset + value.count)
            entry.replaceValue(count: length) { buffer in
                buffer.copyMemory(from: old)
                if offset > old.count {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[old.count..<offset]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + value.count)]).copyMemory(from: value)
            }
            return .length(length, wrote: true)
        }
    }
    switch outcome {
    case .length(let length, let wrote)?:
        if wrote {
            call.notify(.setrange, key)
            call.takeOwnMessages(&replies)
        }
        replies.integer(length)
    case .error(let message)?: replies.error(message)
    case nil: break
    }
}

/// INCRBYFLOAT key increment: the value read as a long double, plus the
/// increment, stored back in Redis's decimal form, in one atomic step.
private func incrementByFloat(_ call: CommandCall, _ replies: inout Replies) {
    let notFloat = "ERR value is not a valid float"
    guard let increment = RedisFloat(redisBytes: call.arguments[2]) else { return replies.error(notFloat) }
    let outcome = call.attempt(&replies) {
        try call.keyspace.update(call.arguments[1], sizeHint: 32) { entry -> Result<[UInt8], CommandError> in
            var current: RedisFloat = 0
            if let value = entry.value {
                guard let parsed = RedisFloat(redisBytes: value) else { return .failure(.message(notFloat)) }
                current = parsed
            }
            let sum = current + increment
            guard sum.isFinite else { return .failure(.message("ERR increment would produce NaN or Infinity")) }
            let text = sum.redisText
            entry.replaceValue(count: text.count) { $0.copyBytes(from: text) }
            return .success(text)
        }
    }
    switch outcome {
    case .success(let text)?:
        call.notify(.incrbyfloat, call.arguments[1])
        call.takeOwnMessages(&replies)
        text.withUnsafeBytes { replies.bulk($0) }
    case .failure(let error)?: replies.error(error.reply)
    case nil: break
    }
}
