/*
 A connection's MULTI and WATCH state, and how requests are queued.

 Between MULTI and EXEC a connection's commands are checked as usual
 (unknown command, arity, authentication, commands not allowed in a
 transaction), then queued and answered QUEUED: a refusal flags the
 transaction, and EXEC then answers EXECABORT and runs nothing. EXEC,
 DISCARD, MULTI, WATCH and QUIT run at once. EXEC itself refused (its
 arity) discards the transaction, as in Redis.

 The queue copies each command's arguments into one buffer. What a queue
 may hold is bounded, as the query buffer is, by --client-query-buffer-limit
 (1 GiB by default), counting the argument bytes and their bookkeeping: a
 command that would pass it is refused with an error, which flags the
 transaction. So do watched keys, counted the same way.
 */

/// MULTI's queue: the commands a connection queued, their arguments copied.
struct QueuedTransaction {
    /// Bytes a queued argument and a queued command cost beyond their own
    /// bytes, as counted against the limit.
    static let argumentOverhead = MemoryLayout<Range<Int>>.stride
    static let commandOverhead = 32

    /// Every queued argument's bytes, back to back.
    private var bytes: [UInt8] = []
    /// Each argument's range in bytes.
    private var ranges: [Range<Int>] = []
    /// Each command and its arguments' range in `ranges`.
    private(set) var commands: [(command: Command, arguments: Range<Int>)] = []
    /// Set by a refusal before EXEC: EXEC answers EXECABORT.
    private(set) var failed = false
    /// What the queue holds, as counted against the limit.
    private(set) var heldBytes = 0

    /// Flags the transaction: EXEC will answer EXECABORT.
    mutating func fail() {
        failed = true
    }

    /// Queues command with its arguments; false, queuing nothing, if the
    /// queue would then hold more than `limit` bytes.
    mutating func queue(_ command: Command, _ arguments: Arguments, limit: Int) -> Bool {
        var cost = Self.commandOverhead
        for index in 0..<arguments.count { cost += arguments[index].count + Self.argumentOverhead }
        guard heldBytes + cost <= limit else { return false }
        heldBytes += cost
        let first = ranges.count
        for index in 0..<arguments.count {
            let argument = arguments[index]
            ranges.append(bytes.count..<(bytes.count + argument.count))
            bytes.append(contentsOf: argument)
        }
        commands.append((command, first..<ranges.count))
        return true
    }

    /// Calls body with the queued commands and their arguments, in order,
    /// valid during the call.
    func withCommands<Result>(_ body: ([(command: Command, arguments: Arguments)]) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes { base in
            try body(commands.map { ($0.command, Arguments(base: base.baseAddress, ranges: Array(ranges[$0.arguments]))) })
        }
    }
}

/// A connection's watched keys (WATCH): its watcher, which writes mark, and
/// each key with whether it was live when watched.
struct WatchedKeys {
    let watcher = Watcher()
    private(set) var keys: [(key: [UInt8], wasLive: Bool)] = []
    private(set) var heldBytes = 0
    /// The keys again, for a lookup that stays quick with many of them.
    private var members: Set<[UInt8]> = []

    func contains(_ key: UnsafeRawBufferPointer) -> Bool {
        members.contains(Array(key))
    }

    /// Calls body with the watched keys as raw buffers, valid during the
    /// call (copied into one buffer, so that one borrow covers them all).
    func withKeys<Result>(_ body: ([UnsafeRawBufferPointer]) throws -> Result) rethrows -> Result {
        var ends: [Int] = []
        let bytes = keys.flatMap { entry -> [UInt8] in
            ends.append((ends.last ?? 0) + entry.key.count)
            return entry.key
        }
        return try bytes.withUnsafeBytes { base in
            try body(ends.indices.map { UnsafeRawBufferPointer(rebasing: base[($0 == 0 ? 0 : ends[$0 - 1])..<ends[$0]]) })
        }
    }

    mutating func add(_ key: [UInt8], wasLive: Bool) {
        keys.append((key, wasLive))
        members.insert(key)
        heldBytes += key.count + QueuedTransaction.argumentOverhead
    }

    /// Whether EXEC must fail: a watched key was written (the watcher is
    /// marked), or was live at WATCH and is not now (it expired, was
    /// evicted, or was removed by a FLUSHALL). Under the keys' locks.
    func changed(in keyspace: KeyspaceAccess) throws -> Bool {
        if watcher.isDirty { return true }
        for (key, wasLive) in keys where wasLive {
            if try key.withUnsafeBytes({ try keyspace.withValue($0) { _ in () } }) == nil { return true }
        }
        return false
    }
}

extension Session {
    /// Forgets the connection's watched keys (UNWATCH, EXEC, DISCARD, and
    /// when the connection goes).
    func unwatch(_ registry: WatchRegistry) {
        guard let watching else { return }
        registry.unregister(watching.watcher, keys: watching.keys.map(\.key))
        self.watching = nil
    }
}

/// Commands a transaction does not queue: they run at once.
private let runImmediately: Set<String> = ["exec", "discard", "multi", "watch", "quit"]

/// A request refused before it ran (unknown, wrong arity, not
/// authenticated): in a transaction, it flags it, or, for EXEC, discards it.
func refuse(_ message: String, command: Command?, session: Session, server: ServerContext, replies: inout Replies) {
    if command?.name == "exec", session.transaction != nil {
        session.transaction = nil
        session.unwatch(server.keyspace.watches)
        let reason = message.hasPrefix("ERR ") ? message.dropFirst(4) : message[...]
        return replies.error("EXECABORT Transaction discarded because of: \(reason)")
    }
    session.transaction?.fail()
    replies.error(message)
}

/// In a transaction, queues the request and answers it (QUEUED, or the
/// refusal); false if the session is not in one or the command runs now.
func queueInTransaction(_ command: Command, _ arguments: Arguments, session: Session, server: ServerContext,
                        replies: inout Replies) -> Bool {
    guard session.transaction != nil, !runImmediately.contains(command.name) else { return false }
    if command.flags.contains("no_multi") {
        refuse("ERR Command not allowed inside a transaction", command: command, session: session, server: server, replies: &replies)
    } else if session.transaction!.queue(command, arguments, limit: server.configuration.queryBufferLimit) {
        replies.status("QUEUED")
    } else {
        refuse("ERR MULTI queue full: its commands would pass client-query-buffer-limit",
               command: command, session: session, server: server, replies: &replies)
    }
    return true
}
