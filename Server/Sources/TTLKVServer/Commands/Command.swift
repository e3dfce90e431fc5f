/// One Redis command: its name, how many arguments it takes, what
/// `COMMAND INFO` says about it, and the function that runs it. A class, so
/// that dispatch hands around one reference instead of copying five.
final class Command: Sendable {
    /// The lowercase name, as Redis reports it (`client|setname` for a
    /// subcommand).
    let name: String
    /// Redis's arity: n means exactly n arguments (the name included), -n
    /// means at least n.
    let arity: Int
    /// Redis's command flags, for `COMMAND INFO` (`write`, `readonly`, ...).
    let flags: [String]
    /// Positions of the first and last key and the step between keys (0 if
    /// none; a negative last counts from the end), for clients that route.
    let keys: (first: Int, last: Int, step: Int)
    /// ACL categories, for `COMMAND INFO`.
    let categories: [String]
    /// Subcommands, for `COMMAND INFO` of a container command.
    let subcommands: [Command]
    /// The function that runs it; arity and authentication are checked first.
    let run: @Sendable (CommandCall, inout Replies) -> Void
    /// Whether it may change the keyspace (Redis's `write` flag): refused
    /// when writes are (Persistence.swift), counted as changes when it runs.
    let isWrite: Bool
    /// Whether it runs while the snapshot loads at start (Redis's `loading`
    /// flag; a container command if every subcommand has it).
    let allowedWhileLoading: Bool

    init(
        _ name: String, arity: Int, flags: [String], keys: (Int, Int, Int) = (0, 0, 0),
        categories: [String], subcommands: [Command] = [],
        run: @escaping @Sendable (CommandCall, inout Replies) -> Void
    ) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.keys = keys
        self.categories = categories
        self.subcommands = subcommands
        self.run = run
        isWrite = flags.contains("write")
        allowedWhileLoading = flags.contains("loading")
            || (!subcommands.isEmpty && subcommands.allSatisfy { $0.flags.contains("loading") })
    }

    /// Whether a connection may run it before it authenticates.
    var allowedBeforeAuthentication: Bool { flags.contains("no_auth") }

    /// Whether `count` arguments satisfy the arity.
    func accepts(argumentCount count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    var wrongArity: String { "ERR wrong number of arguments for '\(name)' command" }

    /// How many keys a call with `count` arguments names, by the key
    /// positions; 1 for a command without keys (FLUSHALL).
    func keyCount(argumentCount count: Int) -> Int {
        guard keys.first > 0 else { return 1 }
        let last = keys.last < 0 ? count + keys.last : keys.last
        return max(1, (last - keys.first) / max(keys.step, 1) + 1)
    }
}

/// One command being run: its arguments, its connection, the server, and
/// the store as the command sees it (in a transaction, with its shards
/// locked).
struct CommandCall {
    let arguments: Arguments
    let session: Session
    let server: ServerContext
    let command: Command
    let keyspace: KeyspaceAccess
}

/// A command name folded to lowercase and packed into two words, so that
/// looking a command up allocates nothing. Names over 16 bytes are unknown.
struct CommandName: Hashable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    private var length: Int

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= 16 else { return nil }
        length = bytes.count
        for (index, byte) in bytes.enumerated() {
            let shifted = UInt64(asciiLowercase(byte)) << UInt64((index % 8) * 8)
            if index < 8 { low |= shifted } else { high |= shifted }
        }
    }

    init(_ name: String) {
        var name = name
        self = name.withUTF8 { CommandName(UnsafeRawBufferPointer($0))! }
    }
}

/// Every command the server knows, by name.
enum CommandTable {
    static let all: [Command] = connectionCommands + serverCommands + stringCommands + keyCommands + expiryCommands
        + stringEditCommands + [lcsCommand] + bitCommands + keyspaceCommands + transactionCommands
        + pubSubCommands + persistenceCommands

    private static let byName: [CommandName: Command] = Dictionary(
        uniqueKeysWithValues: all.map { (CommandName($0.name), $0) }
    )

    static func command(named bytes: UnsafeRawBufferPointer) -> Command? {
        CommandName(bytes).flatMap { byName[$0] }
    }

    static func command(named name: String) -> Command? {
        var name = name
        return name.withUTF8 { command(named: UnsafeRawBufferPointer($0)) }
    }
}

/// Runs one request: finds the command, checks arity, authentication and
/// whether it may run now (loading, writes refused; in Redis's order),
/// queues it in a transaction, or counts it and runs it, writing its reply.
func execute(_ arguments: Arguments, session: Session, server: ServerContext, replies: inout Replies) {
    guard let command = CommandTable.command(named: arguments[0]) else {
        return refuse(unknownCommandMessage(arguments), command: nil, session: session, server: server, replies: &replies)
    }
    guard command.accepts(argumentCount: arguments.count) else {
        return refuse(command.wrongArity, command: command, session: session, server: server, replies: &replies)
    }
    if !session.authenticated && !command.allowedBeforeAuthentication {
        return refuse("NOAUTH Authentication required.", command: command, session: session, server: server, replies: &replies)
    }
    switch server.persistence.refusal(of: command) {
    case nil: break
    case .error(let message)?:
        return refuse(message, command: command, session: session, server: server, replies: &replies)
    case .hangUp?:
        session.closeAfterReply = true
        return
    }
    if session.isSubscriberMode(resp3: replies.resp3), let refusal = subscriberModeRefusal(command, arguments) {
        return refuse(refusal, command: command, session: session, server: server, replies: &replies)
    }
    // Between MULTI and EXEC: queued (Transaction.swift).
    if queueInTransaction(command, arguments, session: session, server: server, replies: &replies) { return }
    session.statistics.countCommand()
    run(command, CommandCall(arguments: arguments, session: session, server: server, command: command,
                             keyspace: server.keyspace.access), &replies)
}

/// Runs a command; a write that did not answer with an error adds the keys
/// it names to the changes the save rules count.
func run(_ command: Command, _ call: CommandCall, _ replies: inout Replies) {
    let mark = replies.buffer.writerIndex
    command.run(call, &replies)
    if command.isWrite && replies.buffer.getInteger(at: mark, as: UInt8.self) != UInt8(ascii: "-") {
        call.session.statistics.countChanges(command.keyCount(argumentCount: call.arguments.count))
    }
}

/// Redis's message for an unknown command: the name and the first
/// arguments, quoted, within about 128 characters each.
private func unknownCommandMessage(_ arguments: Arguments) -> String {
    var quoted = ""
    var index = 1
    while index < arguments.count && quoted.utf8.count < 128 {
        quoted += "'" + prefix(arguments[index], 128 - quoted.utf8.count) + "' "
        index += 1
    }
    return "ERR unknown command '\(prefix(arguments[0], 128))', with args beginning with: \(quoted)"
}

/// The first `length` bytes of `bytes` as text for an error message, ending
/// at a NUL byte as Redis's C formatting of the same message does.
func prefix(_ bytes: UnsafeRawBufferPointer, _ length: Int = .max) -> String {
    String(decoding: bytes.prefix(length).prefix { $0 != 0 }, as: UTF8.self)
}
