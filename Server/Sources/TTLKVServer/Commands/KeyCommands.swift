/// DEL, UNLINK, EXISTS, TOUCH, SCAN, DBSIZE, FLUSHDB, FLUSHALL.
let keyCommands: [Command] = [
    Command("del", arity: -2, flags: ["write"], keys: (1, -1, 1), categories: ["@keyspace", "@write", "@slow"]) { call, replies in
        countKeys(call, &replies, removing: true) { try call.keyspace.remove($0) }
    },
    // Removal already frees memory in the background (after readers move
    // on), so UNLINK and DEL are the same here.
    Command("unlink", arity: -2, flags: ["write", "fast"], keys: (1, -1, 1), categories: ["@keyspace", "@write", "@fast"]) { call, replies in
        countKeys(call, &replies, removing: true) { try call.keyspace.remove($0) }
    },
    Command("exists", arity: -2, flags: ["readonly", "fast"], keys: (1, -1, 1), categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        countKeys(call, &replies) { key in
            let found = try call.keyspace.withValue(key) { _ in () } != nil
            call.session.statistics.countLookup(found: found)
            if !found { call.notify(.keymiss, key) }
            return found
        }
    },
    // TTLKV keeps no access times, so touching is looking.
    Command("touch", arity: -2, flags: ["readonly", "fast"], keys: (1, -1, 1), categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        countKeys(call, &replies) { key in
            let found = try call.keyspace.withValue(key) { _ in () } != nil
            if !found { call.notify(.keymiss, key) }
            return found
        }
    },
    Command("scan", arity: -2, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow"], run: scan),
    Command("dbsize", arity: 1, flags: ["readonly", "fast"], categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        replies.integer(call.keyspace.count)
    },
    Command("flushdb", arity: -1, flags: ["write"], categories: ["@keyspace", "@write", "@slow", "@dangerous"], run: flush),
    Command("flushall", arity: -1, flags: ["write"], categories: ["@keyspace", "@write", "@slow", "@dangerous"], run: flush),
]

/// Applies `test` to every key argument and replies with how many passed;
/// if `removing` (DEL, UNLINK), each key that passed was removed: `del`.
/// `test` may notify too (EXISTS, TOUCH: `keymiss`).
private func countKeys(
    _ call: CommandCall, _ replies: inout Replies, removing: Bool = false, _ test: (UnsafeRawBufferPointer) throws -> Bool
) {
    let count = call.attempt(&replies) {
        try (1..<call.arguments.count).reduce(0) { count, index in
            guard try test(call.arguments[index]) else { return count }
            if removing { call.notify(.del, call.arguments[index]) }
            return count + 1
        }
    }
    call.takeOwnMessages(&replies)
    if let count { replies.integer(count) }
}

/// FLUSHDB / FLUSHALL [ASYNC | SYNC]
private func flush(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    guard arguments.count == 1 || (arguments.count == 2 && (arguments.matches(1, "ASYNC") || arguments.matches(1, "SYNC"))) else {
        return replies.error(CommandError.syntax.reply)
    }
    let removeAll = { try call.keyspace.removeAll() }
    // FLUSHALL, as Redis's, also stops a background save and, with save
    // rules, saves the emptied store (Persistence.swift).
    let all = call.command.name == "flushall"
    if call.attempt(&replies, { all ? try call.server.persistence.flushAll(removeAll) : try removeAll() }) != nil {
        replies.ok()
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
private func scan(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    guard let cursor = parseCursor(arguments[1]) else { return replies.error("ERR invalid cursor") }
    var count = 10
    var pattern: GlobPattern?
    var onlyStrings = true
    var index = 2
    while index < arguments.count {
        guard index + 1 < arguments.count else { return replies.error(CommandError.syntax.reply) }
        if arguments.matches(index, "COUNT") {
            guard let value = arguments.integer(index + 1) else { return replies.error(CommandError.notInteger.reply) }
            guard value >= 1 else { return replies.error(CommandError.syntax.reply) }
            count = Int(clamping: value)
        } else if arguments.matches(index, "MATCH") {
            let glob = GlobPattern(arguments[index + 1])
            // As Redis: a lone `*` is no pattern, and matches even an empty key.
            pattern = glob.matchesEverything ? nil : glob
        } else if arguments.matches(index, "TYPE") {
            // Every key holds a string: another type matches nothing.
            onlyStrings = arguments.matches(index + 1, "string")
        } else {
            return replies.error(CommandError.syntax.reply)
        }
        index += 2
    }
    // Matching keys are gathered first: the reply's length comes before them.
    var found = Replies(allocator: .init())
    var matched = 0
    let next = call.attempt(&replies) {
        try call.keyspace.scan(from: cursor, count: min(count, 1 << 20)) { key in
            guard onlyStrings, pattern?.matches(key) ?? true else { return }
            found.bulk(key)
            matched += 1
        }
    }
    guard let next else { return }
    replies.arrayHeader(2)
    replies.bulk(decimal: Int64(bitPattern: next))
    replies.arrayHeader(matched)
    replies.buffer.writeBuffer(&found.buffer)
}

/// A SCAN cursor as Redis reads it (strtoul): decimal digits, an optional
/// sign (a negative one wraps around), nothing else; the empty string is 0.
private func parseCursor(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
    if bytes.isEmpty { return 0 }
    var digits = bytes[...]
    var negative = false
    if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
        negative = sign == UInt8(ascii: "-")
        digits = digits.dropFirst()
    }
    guard !digits.isEmpty else { return nil }
    var value: UInt64 = 0
    for digit in digits {
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
        let (times10, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
        guard !o1, !o2 else { return nil }
        value = sum
    }
    return negative ? 0 &- value : value
}
