/*
 MULTI, EXEC, DISCARD, WATCH, UNWATCH.

 EXEC runs the queued commands as one step for writers: it takes the
 writer locks of every shard any of them, or any watched key, hashes to
 (all shards if one works on the whole keyspace: KEYS, SCAN, DBSIZE,
 RANDOMKEY, FLUSHDB, FLUSHALL), in shard order, through
 KeyspaceAccess.withLocks; under them it checks the watched keys (WatchedKeys:
 a mark left by a write, or a key live at WATCH and gone), then runs the
 commands one after the other against the transaction's view of the store,
 so that no other client's write comes between them. Readers take no lock:
 a client reading while an EXEC runs may see some of its writes and not yet
 the others, never another client's write between them.

 The run happens on the connection's event loop, in one go, the locks held
 throughout: a long transaction makes the writers of its shards, and the
 other connections of its loop, wait for it (Redis makes every client wait
 for any transaction). The queue's size is bounded (Transaction.swift).
 */
let transactionCommands: [Command] = [
    Command("multi", arity: 1, flags: ["noscript", "loading", "stale", "fast", "allow_busy"],
            categories: ["@fast", "@transaction"]) { call, replies in
        guard call.session.transaction == nil else { return replies.error("ERR MULTI calls can not be nested") }
        call.session.transaction = QueuedTransaction()
        replies.ok()
    },
    Command("exec", arity: 1, flags: ["noscript", "loading", "stale", "skip_slowlog"], categories: ["@slow", "@transaction"], run: exec),
    Command("discard", arity: 1, flags: ["noscript", "loading", "stale", "fast", "allow_busy"],
            categories: ["@fast", "@transaction"]) { call, replies in
        guard call.session.transaction != nil else { return replies.error("ERR DISCARD without MULTI") }
        call.session.transaction = nil
        call.session.unwatch(call.server.keyspace.watches)
        replies.ok()
    },
    Command("watch", arity: -2, flags: ["noscript", "loading", "stale", "fast", "allow_busy"], keys: (1, -1, 1),
            categories: ["@fast", "@transaction"], run: watch),
    Command("unwatch", arity: 1, flags: ["noscript", "loading", "stale", "fast", "allow_busy"],
            categories: ["@fast", "@transaction"]) { call, replies in
        call.session.unwatch(call.server.keyspace.watches)
        replies.ok()
    },
]

/// WATCH key [key ...]: each key is registered, and found live or not,
/// under its shard's lock, so that every later write of it marks the
/// watcher (WatchRegistry.swift).
private func watch(_ call: CommandCall, _ replies: inout Replies) {
    guard call.session.transaction == nil else { return replies.error("ERR WATCH inside MULTI is not allowed") }
    var watching = call.session.watching ?? WatchedKeys()
    var keys: [UnsafeRawBufferPointer] = []
    var bytes = watching.heldBytes
    var seen = Set<[UInt8]>()
    for index in 1..<call.arguments.count {
        let key = call.arguments[index]
        guard !watching.contains(key), seen.insert(Array(key)).inserted else { continue }
        keys.append(key)
        bytes += key.count + QueuedTransaction.argumentOverhead
    }
    guard bytes <= call.server.configuration.queryBufferLimit else {
        return replies.error("ERR watched keys would pass client-query-buffer-limit")
    }
    let registry = call.server.keyspace.watches
    let done: Void? = call.attempt(&replies) {
        try call.keyspace.withLocks(keys) { access in
            for key in keys {
                let copy = Array(key)
                registry.register(watching.watcher, key: copy)
                watching.add(copy, wasLive: try access.withValue(key) { _ in () } != nil)
            }
        }
    }
    call.session.watching = watching
    if done != nil { replies.ok() }
}

/// EXEC: nil (a null array) if a watched key changed, else the replies of
/// the queued commands as one array.
private func exec(_ call: CommandCall, _ replies: inout Replies) {
    let session = call.session
    guard let transaction = session.transaction else { return replies.error("ERR EXEC without MULTI") }
    session.transaction = nil
    defer { session.unwatch(call.server.keyspace.watches) }
    if transaction.failed { return replies.error("EXECABORT Transaction discarded because of previous errors.") }
    let watched = session.watching ?? WatchedKeys()
    do {
        try transaction.withCommands { commands in
            try watched.withKeys { watchedKeys in
                // nil: a command works on the whole keyspace, lock every shard.
                var locked: [UnsafeRawBufferPointer]? = watchedKeys
                for (command, arguments) in commands {
                    guard let mine = keys(of: command, arguments) else {
                        locked = nil
                        break
                    }
                    locked?.append(contentsOf: mine)
                }
                try call.keyspace.withLocks(locked) { access in
                    if try watched.changed(in: access) { return replies.nullArray() }
                    replies.arrayHeader(commands.count)
                    for (command, arguments) in commands { run(command, arguments, call: call, access: access, &replies) }
                }
            }
        }
    } catch {
        replies.error(Keyspace.errorReply(for: error, command: "exec"))
    }
}

/// Runs one queued command against the transaction's view, its APPENDs
/// applied at once (outside a transaction the connection groups them).
private func run(_ command: Command, _ arguments: Arguments, call: CommandCall, access: KeyspaceAccess, _ replies: inout Replies) {
    call.session.statistics.countCommand()
    TTLKVServer.run(command, CommandCall(arguments: arguments, session: call.session, server: call.server, command: command,
                                         keyspace: access), &replies)
    if let appends = call.session.appends {
        call.session.appends = nil
        appends.reply(appends.apply(to: access, maximumLength: call.server.configuration.limits.maximumBulkLength),
                      into: &replies, server: call.server, session: call.session)
    }
}

/// The keys a command works on, by its key positions (a container's by its
/// subcommand's); nil if it works on the whole keyspace.
private func keys(of command: Command, _ arguments: Arguments) -> [UnsafeRawBufferPointer]? {
    var command = command
    if !command.subcommands.isEmpty, arguments.count > 1 {
        let name = command.name + "|" + arguments.string(1).lowercased()
        command = command.subcommands.first { $0.name == name } ?? command
    }
    let (first, last, step) = command.keys
    guard first > 0 else { return command.categories.contains("@keyspace") ? nil : [] }
    let end = last < 0 ? arguments.count + last : min(last, arguments.count - 1)
    guard first <= end else { return [] }
    return stride(from: first, through: end, by: step).map { arguments[$0] }
}
