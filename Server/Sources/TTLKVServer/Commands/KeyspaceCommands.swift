import TTLKV

/*
 TYPE, KEYS, RENAME, RENAMENX, COPY, RANDOMKEY, OBJECT, DUMP, RESTORE: the
 commands about keys as such (KEYS walks in steps: KeysWalk.swift).

 RENAME, RENAMENX and COPY hold the locks of both keys' shards
 (KeyspaceAccess.withLocks), so that no other write to either key runs
 between the look at the source and the writes: the source's value is read
 in place (the locks keep it) and copied into the target's new entry, with
 the source's deadline, the same instant. An entry holds its key, so the
 value is copied, where Redis moves a pointer: a rename costs the value's
 length.

 OBJECT answers from what the store keeps: ENCODING from the value (int,
 embstr or raw, as Redis encodes a value a SET stores; Redis keeps raw for a
 value an APPEND or SETRANGE made, which the store cannot tell),
 REFCOUNT as Redis's shared integers, IDLETIME 0 (no access times are
 kept), FREQ Redis's error for a server without an LFU policy.

 DUMP and RESTORE use Redis's DUMP serialization (TTLKV's DumpPayload, an
 RDB string record), so payloads move both ways between the two servers.
 */
let keyspaceCommands: [Command] = [
    // Every value here is a string.
    Command("type", arity: 2, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        guard let found = call.attempt(&replies, { try call.keyspace.withValue(call.arguments[1]) { _ in () } != nil }) else { return }
        call.session.statistics.countLookup(found: found)
        if !found {
            call.notify(.keymiss, call.arguments[1])
            call.takeOwnMessages(&replies)
        }
        replies.status(found ? "string" : "none")
    },
    Command("rename", arity: 3, flags: ["write"], keys: (1, 2, 1), categories: ["@keyspace", "@write", "@slow"]) { call, replies in
        rename(call, &replies, onlyIfAbsent: false)
    },
    Command("renamenx", arity: 3, flags: ["write", "fast"], keys: (1, 2, 1), categories: ["@keyspace", "@write", "@fast"]) { call, replies in
        rename(call, &replies, onlyIfAbsent: true)
    },
    Command("copy", arity: -3, flags: ["write", "denyoom"], keys: (1, 2, 1), categories: ["@keyspace", "@write", "@slow"], run: copy),
    Command("keys", arity: 2, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow", "@dangerous"]) { call, replies in
        guard call.keyspace.inTransaction else {
            // The connection walks it off its event loop (KeysWalk.swift).
            call.session.keysWalk = KeysWalk(pattern: call.arguments[1])
            return
        }
        do {
            var walk = KeysWalk(pattern: call.arguments[1])
            replies.append(try walk.complete(call.keyspace))
        } catch {
            replies.error(Keyspace.errorReply(for: error, command: call.command.name))
        }
    },
    Command("randomkey", arity: 1, flags: ["readonly"], categories: ["@keyspace", "@read", "@slow"]) { call, replies in
        guard let key = call.attempt(&replies, { try call.keyspace.randomKey { Array($0) } }) else { return }
        if let key { key.withUnsafeBytes { replies.bulk($0) } } else { replies.null() }
    },
    Command("object", arity: -2, flags: [], categories: ["@slow"], subcommands: objectSubcommands) { call, replies in
        dispatchSubcommand(call, &replies, among: objectSubcommands, container: "OBJECT")
    },
    Command("dump", arity: 2, flags: ["readonly"], keys: (1, 1, 1), categories: ["@keyspace", "@read", "@slow"]) { call, replies in
        guard let payload = call.attempt(&replies, { try call.keyspace.withValue(call.arguments[1]) { DumpPayload.encode($0) } }) else {
            return
        }
        call.session.statistics.countLookup(found: payload != nil)
        if let payload { return payload.withUnsafeBytes { replies.bulk($0) } }
        call.notify(.keymiss, call.arguments[1])
        call.takeOwnMessages(&replies)
        replies.null()
    },
    Command("restore", arity: -4, flags: ["write", "denyoom"], keys: (1, 1, 1), categories: ["@keyspace", "@write", "@slow", "@dangerous"],
            run: restore),
]

/// RENAME / RENAMENX source target: the value and deadline move.
private func rename(_ call: CommandCall, _ replies: inout Replies, onlyIfAbsent: Bool) {
    enum Outcome { case noSuchKey, renamed(Bool) }
    let source = call.arguments[1], target = call.arguments[2]
    let outcome = call.attempt(&replies) {
        try call.keyspace.withLocks([source, target]) { access -> Outcome in
            guard let (value, deadline) = try access.lockedValue(source) else { return .noSuchKey }
            if source.elementsEqual(target) { return .renamed(!onlyIfAbsent) }
            if onlyIfAbsent, try access.withValue(target, { _ in () }) != nil { return .renamed(false) }
            try access.set(target, value, deadline: deadline)
            _ = try access.remove(source)
            return .renamed(true)
        }
    }
    if case .renamed(true)? = outcome, !source.elementsEqual(target) {
        call.notify(.renameFrom, source)
        call.notify(.renameTo, target)
        call.takeOwnMessages(&replies)
    }
    switch outcome {
    case .noSuchKey?: replies.error("ERR no such key")
    case .renamed(let done)? where onlyIfAbsent: replies.integer(done ? 1 : 0)
    case .renamed?: replies.ok()
    case nil: break
    }
}

/// COPY source destination [DB destination-db] [REPLACE]: the value and
/// deadline are copied. One database: DB takes 0 only.
private func copy(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    var replace = false
    var index = 3
    while index < arguments.count {
        if arguments.matches(index, "REPLACE") {
            replace = true
        } else if arguments.matches(index, "DB") && index + 1 < arguments.count {
            guard let database = arguments.integer(index + 1), Int32(exactly: database) != nil else {
                return replies.error(CommandError.notInteger.reply)
            }
            guard database == 0 else { return replies.error("ERR DB index is out of range") }
            index += 1
        } else {
            return replies.error(CommandError.syntax.reply)
        }
        index += 1
    }
    let source = arguments[1], target = arguments[2]
    guard !source.elementsEqual(target) else { return replies.error("ERR source and destination objects are the same") }
    var found = true
    let copied = call.attempt(&replies) {
        try call.keyspace.withLocks([source, target]) { access -> Bool in
            guard let (value, deadline) = try access.lockedValue(source) else {
                found = false
                return false
            }
            if !replace, try access.withValue(target, { _ in () }) != nil { return false }
            try access.set(target, value, deadline: deadline)
            return true
        }
    }
    guard let copied else { return }
    // Redis looks the source up as a read: a missing one is a keymiss.
    if !found { call.notify(.keymiss, source) }
    if copied { call.notify(.copyTo, target) }
    call.takeOwnMessages(&replies)
    replies.integer(copied ? 1 : 0)
}

private let objectSubcommands: [Command] = [
    objectSubcommand("object|encoding") { value, replies in
        switch StringEncoding(value) {
        case .integer: replies.bulk("int")
        case .embedded: replies.bulk("embstr")
        case .raw: replies.bulk("raw")
        }
    },
    objectSubcommand("object|refcount") { value, replies in
        // Redis shares the objects of the integers 0 to 9999.
        let shared = StringEncoding(value) == .integer && (0..<10_000).contains(parseRedisInteger(value)!)
        replies.integer(shared ? Int(Int32.max) : 1)
    },
    objectSubcommand("object|idletime") { _, replies in
        replies.integer(0)
    },
    objectSubcommand("object|freq") { _, replies in
        replies.error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
            + "switching between policies at runtime LRU and LFU data will take some time to adjust.")
    },
    Command("object|help", arity: 2, flags: ["loading", "stale"], categories: ["@keyspace", "@slow"]) { _, replies in
        replies.help([
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ])
    },
]

/// An OBJECT subcommand about a key: null for a missing key, else `answer`.
private func objectSubcommand(_ name: String, _ answer: @escaping @Sendable (UnsafeRawBufferPointer, inout Replies) -> Void) -> Command {
    Command(name, arity: 3, flags: ["readonly"], keys: (2, 2, 1), categories: ["@keyspace", "@read", "@slow"]) { call, replies in
        var found = false
        do {
            found = try call.keyspace.withValue(call.arguments[2]) { answer($0, &replies) } != nil
        } catch {
            return replies.error(Keyspace.errorReply(for: error, command: call.command.name))
        }
        if !found { replies.null() }
    }
}

/// How Redis encodes a string a SET stores: an integer it can hold in a
/// long (and print back the same), else one allocation with the object
/// header up to 44 bytes, else a separate one.
private enum StringEncoding {
    case integer, embedded, raw

    init(_ value: UnsafeRawBufferPointer) {
        if parseRedisInteger(value) != nil {
            self = .integer
        } else {
            self = value.count <= 44 ? .embedded : .raw
        }
    }
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
/// [FREQ frequency]: Redis's checks in Redis's order. IDLETIME and FREQ are
/// checked and ignored (no access times or counts are kept).
private func restore(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    var replace = false, absolute = false, idleGiven = false, frequencyGiven = false
    var index = 4
    while index < arguments.count {
        let more = index + 1 < arguments.count
        if arguments.matches(index, "REPLACE") {
            replace = true
        } else if arguments.matches(index, "ABSTTL") {
            absolute = true
        } else if arguments.matches(index, "IDLETIME") && more && !frequencyGiven {
            guard let idle = arguments.integer(index + 1) else { return replies.error(CommandError.notInteger.reply) }
            guard idle >= 0 else { return replies.error("ERR Invalid IDLETIME value, must be >= 0") }
            idleGiven = true
            index += 1
        } else if arguments.matches(index, "FREQ") && more && !idleGiven {
            guard let frequency = arguments.integer(index + 1) else { return replies.error(CommandError.notInteger.reply) }
            guard (0...255).contains(frequency) else { return replies.error("ERR Invalid FREQ value, must be >= 0 and <= 255") }
            frequencyGiven = true
            index += 1
        } else {
            return replies.error(CommandError.syntax.reply)
        }
        index += 1
    }
    let key = arguments[1]
    let busy = "BUSYKEY Target key name already exists."
    // Checked here for Redis's order of errors, and again under the lock.
    guard let exists = call.attempt(&replies, { try call.keyspace.withValue(key) { _ in () } != nil }) else { return }
    if exists && !replace { return replies.error(busy) }
    guard let ttl = arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
    guard ttl >= 0 else { return replies.error("ERR Invalid TTL value, must be >= 0") }
    let value: [UInt8]
    // Too short to hold a version and a checksum: Redis says so too.
    let damaged = "ERR DUMP payload version or checksum are wrong"
    guard arguments[3].count >= 12 else { return replies.error(damaged) }
    do {
        value = try DumpPayload.decode(arguments[3])
    } catch where error == .checksumMismatch || error == .unsupportedVersion {
        return replies.error(damaged)
    } catch where error == .unsupportedType {
        return replies.error("ERR Bad data format: ttlkv-server stores strings only")
    } catch {
        return replies.error("ERR Bad data format")
    }
    let keyspace = call.server.keyspace
    let deadline = ttl == 0 ? nil : absolute ? keyspace.instant(unixMilliseconds: ttl) : keyspace.deadline(afterMilliseconds: ttl)
    // Redis's events: `restore`; `del` when a deadline already past
    // removed a key the RESTORE replaced; nothing when it removed nothing.
    var event: KeyspaceEvent?
    let restored = call.attempt(&replies) {
        try call.keyspace.update(key, sizeHint: value.count) { entry -> Bool in
            guard replace || entry.value == nil else { return false }
            event = deadline != Keyspace.past ? .restore : entry.value != nil ? .del : nil
            // A deadline already past removes the key (a replaced one too).
            entry.replaceValue(count: value.count, judgedDeadline: deadline) { $0.copyBytes(from: value) }
            return true
        }
    }
    guard let restored else { return }
    guard restored else { return replies.error(busy) }
    if let event {
        call.notify(event, key)
        call.takeOwnMessages(&replies)
    }
    replies.ok()
}
