/// PING, ECHO, QUIT, SELECT, AUTH, HELLO, CLIENT.
let connectionCommands: [Command] = [
    Command("ping", arity: -1, flags: ["fast"], categories: ["@fast", "@connection"]) { call, replies in
        guard call.arguments.count <= 2 else { return replies.error(call.command.wrongArity) }
        if call.session.isSubscriberMode(resp3: replies.resp3) {
            // As Redis in subscriber mode: ["pong", the argument or ""].
            replies.arrayHeader(2)
            replies.bulk("pong")
            return call.arguments.count == 2 ? replies.bulk(call.arguments[1]) : replies.bulk("")
        }
        if call.arguments.count == 2 { replies.bulk(call.arguments[1]) } else { replies.status("PONG") }
    },
    Command("echo", arity: 2, flags: ["loading", "stale", "fast"], categories: ["@fast", "@connection"]) { call, replies in
        replies.bulk(call.arguments[1])
    },
    Command("quit", arity: -1, flags: ["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"],
            categories: ["@fast", "@connection"]) { call, replies in
        replies.ok()
        call.session.closeAfterReply = true
    },
    Command("select", arity: 2, flags: ["loading", "stale", "fast"], categories: ["@fast", "@connection"]) { call, replies in
        // One database: SELECT 0 is all there is.
        switch call.arguments.integer(1) {
        case nil: replies.error("ERR value is not an integer or out of range")
        case 0?: replies.ok()
        default: replies.error("ERR DB index is out of range")
        }
    },
    Command("auth", arity: -2, flags: ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
            categories: ["@fast", "@connection"]) { call, replies in
        let arguments = call.arguments
        guard arguments.count <= 3 else { return replies.error("ERR syntax error") }
        if arguments.count == 2 && call.server.configuration.requiredPassword == nil {
            return replies.error("ERR AUTH <password> called without any password configured for the default user. "
                + "Are you sure your configuration is correct?")
        }
        let user = arguments.count == 3 ? arguments[1] : nil
        guard authenticate(call, user: user, password: arguments[arguments.count - 1]) else {
            return replies.error(wrongPassword)
        }
        replies.ok()
    },
    Command("hello", arity: -1, flags: ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
            categories: ["@fast", "@connection"], run: hello),
    Command("client", arity: -2, flags: [], categories: ["@slow"], subcommands: clientSubcommands, run: client),
]

private let wrongPassword = "WRONGPASS invalid username-password pair or user is disabled."

/// Checks a user (nil: the default user) and password; on success the
/// connection is authenticated. Without a configured password the default
/// user takes any password, as Redis's `nopass` default user does.
private func authenticate(_ call: CommandCall, user: UnsafeRawBufferPointer?, password: UnsafeRawBufferPointer) -> Bool {
    if let user, !user.elementsEqual("default".utf8) { return false }
    if let expected = call.server.configuration.requiredPassword, !constantTimeEqual(password, expected) { return false }
    call.session.authenticated = true
    return true
}

/// Compares without an early exit, in a time that depends on the length of
/// the guess alone: not on how much of it was right, nor on the password's
/// length. The length difference is kept at full width (folded into one
/// byte, lengths 256 apart compared equal), and each byte of the guess is
/// compared with the password's byte at the same position, the password
/// repeated as far as the guess goes.
func constantTimeEqual(_ given: UnsafeRawBufferPointer, _ expected: String) -> Bool {
    let expected = Array(expected.utf8)
    var difference = UInt(bitPattern: given.count ^ expected.count)
    guard !expected.isEmpty else { return difference == 0 }
    for index in 0..<given.count {
        difference |= UInt(given[index] ^ expected[index % expected.count])
    }
    return difference == 0
}

/// A client name or library attribute: printable ASCII, no spaces.
private func validAttribute(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.allSatisfy { $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }
}

private let invalidName = "ERR Client names cannot contain spaces, newlines or special characters."

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
private func hello(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    var version = replies.resp3 ? 3 : 2
    if arguments.count >= 2 {
        guard let requested = arguments.integer(1) else {
            return replies.error("ERR Protocol version is not an integer or out of range")
        }
        guard requested == 2 || requested == 3 else { return replies.error("NOPROTO unsupported protocol version") }
        version = Int(requested)
    }
    var credentials: (user: UnsafeRawBufferPointer, password: UnsafeRawBufferPointer)?
    var name: UnsafeRawBufferPointer?
    var index = 2
    while index < arguments.count {
        let more = arguments.count - 1 - index
        if arguments.matches(index, "AUTH") && more >= 2 {
            credentials = (arguments[index + 1], arguments[index + 2])
            index += 3
        } else if arguments.matches(index, "SETNAME") && more >= 1 {
            name = arguments[index + 1]
            guard validAttribute(name!) else { return replies.error(invalidName) }
            index += 2
        } else {
            return replies.error("ERR Syntax error in HELLO option '\(prefix(arguments[index]))'")
        }
    }
    if !call.session.authenticated && credentials == nil {
        return replies.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            + "HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "
            + "version at the same time")
    }
    if let credentials, !authenticate(call, user: credentials.user, password: credentials.password) {
        return replies.error(wrongPassword)
    }
    if let name { call.session.name = String(decoding: name, as: UTF8.self) }
    replies.resp3 = version == 3
    call.session.subscriptions?.subscriber.resp3.store(replies.resp3, ordering: .relaxed)
    replies.mapHeader(7)
    replies.bulk("server")
    replies.bulk("redis")
    replies.bulk("version")
    replies.bulk(redisCompatibleVersion)
    replies.bulk("proto")
    replies.integer(version)
    replies.bulk("id")
    replies.integer(call.session.id)
    replies.bulk("mode")
    replies.bulk("standalone")
    replies.bulk("role")
    replies.bulk("master")
    replies.bulk("modules")
    replies.arrayHeader(0)
}

/// The Redis version the server reports to clients (HELLO, INFO): the one
/// whose protocol and command semantics it follows.
let redisCompatibleVersion = "7.0.0"

private let clientSubcommands: [Command] = [
    Command("client|id", arity: 2, flags: ["noscript", "loading", "stale"], categories: ["@slow", "@connection"]) { call, replies in
        replies.integer(call.session.id)
    },
    Command("client|getname", arity: 2, flags: ["noscript", "loading", "stale"], categories: ["@slow", "@connection"]) { call, replies in
        if let name = call.session.name { replies.bulk(name) } else { replies.null() }
    },
    Command("client|setname", arity: 3, flags: ["noscript", "loading", "stale"], categories: ["@slow", "@connection"]) { call, replies in
        let name = call.arguments[2]
        guard validAttribute(name) else { return replies.error(invalidName) }
        call.session.name = name.isEmpty ? nil : String(decoding: name, as: UTF8.self)
        replies.ok()
    },
    Command("client|setinfo", arity: 4, flags: ["noscript", "loading", "stale"], categories: ["@slow", "@connection"]) { call, replies in
        let arguments = call.arguments
        let isName = arguments.matches(2, "LIB-NAME")
        guard isName || arguments.matches(2, "LIB-VER") else {
            return replies.error("ERR Unrecognized option '\(prefix(arguments[2]))'")
        }
        guard validAttribute(arguments[3]) else {
            return replies.error("ERR \(prefix(arguments[2])) cannot contain spaces, newlines or special characters.")
        }
        if isName { call.session.libraryName = arguments.string(3) } else { call.session.libraryVersion = arguments.string(3) }
        replies.ok()
    },
    Command("client|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { _, replies in
        let lines = [
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME", "    Return the name of the current connection.",
            "ID", "    Return the ID of the current connection.",
            "SETINFO <option> <value>", "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.", "    * LIB-VER: the client lib version.",
            "SETNAME <name>", "    Assign the name <name> to the current connection.",
            "HELP", "    Print this help.",
        ]
        replies.help(lines)
    },
]

/// CLIENT <subcommand>: dispatched like a command, with Redis's errors.
private func client(_ call: CommandCall, _ replies: inout Replies) {
    dispatchSubcommand(call, &replies, among: clientSubcommands, container: "CLIENT")
}

/// Runs the subcommand named by argument 1 of a container command.
func dispatchSubcommand(_ call: CommandCall, _ replies: inout Replies, among subcommands: [Command], container: String) {
    let name = container.lowercased() + "|" + call.arguments.string(1).lowercased()
    guard let subcommand = subcommands.first(where: { $0.name == name }) else {
        return replies.error("ERR unknown subcommand '\(prefix(call.arguments[1], 128))'. Try \(container) HELP.")
    }
    guard subcommand.accepts(argumentCount: call.arguments.count) else { return replies.error(subcommand.wrongArity) }
    subcommand.run(CommandCall(arguments: call.arguments, session: call.session, server: call.server, command: subcommand,
                               keyspace: call.keyspace), &replies)
}
