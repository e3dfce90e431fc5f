import TTLKV

/// GET, SET, SETEX, PSETEX, SETNX, GETEX, GETDEL, MGET, MSET, MSETNX,
/// APPEND, STRLEN, INCR, INCRBY, DECR, DECRBY.
let stringCommands: [Command] = [
    Command("get", arity: 2, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@read", "@string", "@fast"]) { call, replies in
        readValue(call, &replies, key: call.arguments[1])
    },
    Command("set", arity: -3, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@string", "@slow"], run: set),
    Command("setex", arity: 4, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@string", "@slow"]) { call, replies in
        setWithTimeToLive(call, &replies, seconds: true)
    },
    Command("psetex", arity: 4, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@string", "@slow"]) { call, replies in
        setWithTimeToLive(call, &replies, seconds: false)
    },
    Command("setnx", arity: 3, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        if let stored = call.attempt(&replies, { try call.keyspace.setIfAbsent(call.arguments[1], call.arguments[2]) }) {
            if stored { notifyStored(call, expiry: .unchanged, expiredAtOnce: false, &replies) }
            replies.integer(stored ? 1 : 0)
        }
    },
    Command("getex", arity: -2, flags: ["write", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"], run: getex),
    Command("getdel", arity: 2, flags: ["write", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        var removed = false
        replyWithOldValue(call, &replies) { key in
            removed = key.value != nil
            if removed { key.remove() }
        }
        if removed {
            call.notify(.del, call.arguments[1])
            call.takeOwnMessages(&replies)
        }
    },
    Command("mget", arity: -2, flags: ["readonly", "fast"], keys: (1, -1, 1), categories: ["@read", "@string", "@fast"]) { call, replies in
        readValues(call, &replies, keys: 1..<call.arguments.count)
    },
    Command("mset", arity: -3, flags: ["write", "denyoom"], keys: (1, -1, 2), categories: ["@write", "@string", "@slow"]) { call, replies in
        if setAll(call, &replies, onlyIfNoneExist: false) != nil { replies.ok() }
    },
    Command("msetnx", arity: -3, flags: ["write", "denyoom"], keys: (1, -1, 2), categories: ["@write", "@string", "@slow"]) { call, replies in
        if let stored = setAll(call, &replies, onlyIfNoneExist: true) { replies.integer(stored ? 1 : 0) }
    },
    Command("append", arity: 3, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"], run: append),
    Command("strlen", arity: 2, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@read", "@string", "@fast"]) { call, replies in
        if let length = call.attempt(&replies, { try call.keyspace.withValue(call.arguments[1]) { $0.count } }) {
            if length == nil {
                call.notify(.keymiss, call.arguments[1])
                call.takeOwnMessages(&replies)
            }
            replies.integer(length ?? 0)
        }
    },
    Command("incr", arity: 2, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        increment(call, &replies, by: 1)
    },
    Command("decr", arity: 2, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        increment(call, &replies, by: -1)
    },
    Command("incrby", arity: 3, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        guard let delta = call.arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
        increment(call, &replies, by: delta)
    },
    Command("decrby", arity: 3, flags: ["write", "denyoom", "fast"], keys: (1, 1, 1), categories: ["@write", "@string", "@fast"]) { call, replies in
        guard let delta = call.arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
        guard delta != .min else { return replies.error("ERR decrement would overflow") }
        increment(call, &replies, by: -delta)
    },
]

extension CommandCall {
    /// Runs a store call; a store error becomes its Redis error reply.
    func attempt<Result>(_ replies: inout Replies, _ body: () throws -> Result) -> Result? {
        do {
            return try body()
        } catch {
            replies.error(Keyspace.errorReply(for: error, command: command.name))
            return nil
        }
    }
}

/// The value of key as a bulk reply (null if absent), copied straight from
/// the store into the reply; counted as a keyspace hit or miss.
func readValue(_ call: CommandCall, _ replies: inout Replies, key: UnsafeRawBufferPointer) {
    let found: Bool
    do {
        found = try call.keyspace.withValue(key) { value in replies.bulk(value) } != nil
    } catch {
        return replies.error(Keyspace.errorReply(for: error, command: call.command.name))
    }
    call.session.statistics.countLookup(found: found)
    if !found {
        call.notify(.keymiss, key)
        call.takeOwnMessages(&replies)
        replies.null()
    }
}

/// MGET's reply: the keys looked up as one batch, a null for each key that
/// has no value. An error (none is expected of a read) replaces the whole
/// array, which is built aside so that a half-written one never goes out.
private func readValues(_ call: CommandCall, _ replies: inout Replies, keys: Range<Int>) {
    let mark = replies.buffer.writerIndex
    var next = 0
    var found = 0
    replies.arrayHeader(keys.count)
    do {
        try call.keyspace.withValues(keys.lazy.map { call.arguments[$0] }) { offset, value in
            for missing in next..<offset {
                call.notify(.keymiss, call.arguments[keys.lowerBound + missing])
                replies.null()
            }
            replies.bulk(value)
            next = offset + 1
            found += 1
        }
    } catch {
        replies.buffer.moveWriterIndex(to: mark)
        return replies.error(Keyspace.errorReply(for: error, command: call.command.name))
    }
    for missing in next..<keys.count {
        call.notify(.keymiss, call.arguments[keys.lowerBound + missing])
        replies.null()
    }
    call.session.statistics.countLookups(hits: found, misses: keys.count - found)
    // After the array: a message in the middle of it would break it.
    call.takeOwnMessages(&replies)
}

/// Runs an update whose reply is the key's old value (GETDEL, GETEX, SET
/// GET): `decide` sees the key and may change it; the value it saw is the
/// reply. The value is written to the reply under the shard lock, into room
/// reserved beforehand, so that no allocation happens under the lock unless
/// the value grew in between; a run repeated by the store rewrites it.
func replyWithOldValue(
    _ call: CommandCall, _ replies: inout Replies, sizeHint: Int = 0, _ decide: (inout StoreUpdate) -> Void
) {
    let key = call.arguments[1]
    let expected = (try? call.keyspace.withValue(key) { $0.count }) ?? 0
    replies.buffer.reserveCapacity(minimumWritableBytes: expected + 32)
    let mark = replies.buffer.writerIndex
    do {
        let found = try call.keyspace.update(key, sizeHint: sizeHint) { entry -> Bool in
            replies.buffer.moveWriterIndex(to: mark)
            if let value = entry.value { replies.bulk(value) } else { replies.null() }
            let found = entry.value != nil
            decide(&entry)
            return found
        }
        call.session.statistics.countLookup(found: found)
        // A read lookup, as Redis's GETDEL, GETEX and SET GET make: it
        // replied already, so its own messages follow.
        if !found {
            call.notify(.keymiss, key)
            call.takeOwnMessages(&replies)
        }
    } catch {
        replies.buffer.moveWriterIndex(to: mark)
        replies.error(Keyspace.errorReply(for: error, command: call.command.name))
    }
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL]
private func set(_ call: CommandCall, _ replies: inout Replies) {
    let unixNow = WallClock.milliseconds()
    guard let options = WriteOptions.parse(call, from: 3, forGetEx: false, &replies) else { return }
    // Before NX or XX look at the key, as Redis checks it.
    if options.expiry.overflows(unixNow: unixNow) {
        return replies.error("ERR invalid expire time in '\(call.command.name)' command")
    }
    let key = call.arguments[1], value = call.arguments[2]
    let deadline = options.expiry.deadline(in: call.server.keyspace)
    if !options.onlyIfAbsent && !options.onlyIfPresent && !options.returnOld {
        // The common case needs no decision: a plain write.
        let done: Void? = call.attempt(&replies) {
            if case .keep = options.expiry {
                try call.keyspace.update(key, sizeHint: value.count) { entry in
                    entry.replaceValue(count: value.count) { $0.copyMemory(from: value) }
                }
            } else {
                try call.keyspace.set(key, value, deadline: deadline)
            }
        }
        guard done != nil else { return }
        notifyStored(call, expiry: options.expiry, expiredAtOnce: deadline == Keyspace.past, &replies)
        replies.ok()
        return
    }
    var stored = false
    var expiredAtOnce = false
    let write: (inout StoreUpdate) -> Void = { entry in
        stored = false
        let exists = entry.value != nil
        if (options.onlyIfAbsent && exists) || (options.onlyIfPresent && !exists) { return }
        let kept: StoreClock.Instant? = if case .keep = options.expiry { entry.deadline } else { deadline }
        entry.replaceValue(count: value.count, judgedDeadline: kept) { $0.copyMemory(from: value) }
        stored = true
        expiredAtOnce = deadline == Keyspace.past
    }
    if options.returnOld {
        // Redis replies with the old value first, then notifies.
        replyWithOldValue(call, &replies, sizeHint: value.count, write)
        if stored { notifyStored(call, expiry: options.expiry, expiredAtOnce: expiredAtOnce, &replies) }
    } else if call.attempt(&replies, { try call.keyspace.update(key, sizeHint: value.count, write) }) != nil {
        if stored { notifyStored(call, expiry: options.expiry, expiredAtOnce: expiredAtOnce, &replies) }
        if stored { replies.ok() } else { replies.null() }
    }
}

/// The events of a SET that stored its value, as Redis sends them: `set`;
/// `expire` if it set a time to live; `expired` if that time had passed.
private func notifyStored(_ call: CommandCall, expiry: Expiry, expiredAtOnce: Bool, _ replies: inout Replies) {
    let key = call.arguments[1]
    call.notify(.set, key)
    switch expiry {
    case .after, .at: call.notify(.expire, key)
    case .unchanged, .keep, .persist: break
    }
    if expiredAtOnce { call.notify(.expired, key) }
    call.takeOwnMessages(&replies)
}

/// SETEX key seconds value, PSETEX key milliseconds value.
private func setWithTimeToLive(_ call: CommandCall, _ replies: inout Replies, seconds: Bool) {
    guard let amount = call.arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
    let unixNow = WallClock.milliseconds()
    guard amount > 0, !seconds || amount <= Int64.max / 1000,
          !unixNow.addingReportingOverflow(seconds ? amount * 1000 : amount).overflow else {
        return replies.error("ERR invalid expire time in '\(call.command.name)' command")
    }
    let deadline = call.server.keyspace.deadline(afterMilliseconds: seconds ? amount * 1000 : amount)
    if call.attempt(&replies, { try call.keyspace.set(call.arguments[1], call.arguments[3], deadline: deadline) }) != nil {
        notifyStored(call, expiry: .after(milliseconds: amount), expiredAtOnce: false, &replies)
        replies.ok()
    }
}

/// GETEX key [EX s | PX ms | EXAT t | PXAT t | PERSIST]
private func getex(_ call: CommandCall, _ replies: inout Replies) {
    guard let options = WriteOptions.parse(call, from: 2, forGetEx: true, &replies) else { return }
    if case .unchanged = options.expiry {
        return readValue(call, &replies, key: call.arguments[1])
    }
    let deadline = options.expiry.deadline(in: call.server.keyspace)
    var event: KeyspaceEvent?
    replyWithOldValue(call, &replies) { entry in
        event = nil
        guard entry.value != nil else { return }
        if case .persist = options.expiry {
            if entry.deadline != nil { event = .persist }
        } else {
            event = deadline == Keyspace.past ? .del : .expire
        }
        entry.setDeadline(judged: deadline)
    }
    // Redis replies with the value first, then notifies.
    if let event {
        call.notify(event, call.arguments[1])
        call.takeOwnMessages(&replies)
    }
}

/// MSET and MSETNX: nil after an error reply.
private func setAll(_ call: CommandCall, _ replies: inout Replies, onlyIfNoneExist: Bool) -> Bool? {
    let arguments = call.arguments
    guard arguments.count % 2 == 1 else {
        replies.error(call.command.wrongArity)
        return nil
    }
    let pairs = stride(from: 1, to: arguments.count, by: 2).map { (key: arguments[$0], value: arguments[$0 + 1]) }
    let stored = call.attempt(&replies) { try call.keyspace.setAll(pairs, onlyIfNoneExist: onlyIfNoneExist) }
    if stored == true {
        for pair in pairs { call.notify(.set, pair.key) }
        call.takeOwnMessages(&replies)
    }
    return stored
}

/// APPEND key value: joins the connection's group of appends to the key,
/// which the connection applies and answers, one reply per APPEND (see
/// AppendGroup.swift). The deadline stays.
private func append(_ call: CommandCall, _ replies: inout Replies) {
    let key = call.arguments[1], tail = call.arguments[2]
    if call.session.appends == nil {
        call.session.appends = AppendGroup(key: key, tail: tail)
    } else {
        // The connection applies a group before any request that does not continue it.
        assert(call.session.appends!.key.elementsEqual(key), "an APPEND joined another key's group")
        call.session.appends!.add(tail)
    }
}

/// INCR, DECR, INCRBY, DECRBY: the value read as a Redis integer, plus
/// delta, stored back in decimal, in one atomic step. The deadline stays.
private func increment(_ call: CommandCall, _ replies: inout Replies, by delta: Int64) {
    let outcome = call.attempt(&replies) {
        try call.keyspace.update(call.arguments[1], sizeHint: 20) { entry -> Result<Int64, CommandError> in
            var current: Int64 = 0
            if let value = entry.value {
                guard let parsed = parseRedisInteger(value) else { return .failure(.notInteger) }
                current = parsed
            }
            let (next, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { return .failure(.message("ERR increment or decrement would overflow")) }
            DecimalDigits(next).withDigits { digits in
                entry.replaceValue(count: digits.count) { $0.copyMemory(from: digits) }
            }
            return .success(next)
        }
    }
    switch outcome {
    case .success(let value)?:
        call.notify(.incrby, call.arguments[1])
        call.takeOwnMessages(&replies)
        replies.integer(value)
    case .failure(let error)?: replies.error(error.reply)
    case nil: break
    }
}
