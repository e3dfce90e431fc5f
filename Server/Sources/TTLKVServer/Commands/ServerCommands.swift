#if canImport(Glibc)
import Glibc
#endif

/// COMMAND, CONFIG, INFO, TIME, SHUTDOWN.
let serverCommands: [Command] = [
    Command("command", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@connection"],
            subcommands: commandSubcommands) { call, replies in
        guard call.arguments.count > 1 else { return describe(CommandTable.all, &replies) }
        dispatchSubcommand(call, &replies, among: commandSubcommands, container: "COMMAND")
    },
    configCommand,
    Command("info", arity: -1, flags: ["loading", "stale"], categories: ["@slow", "@dangerous"]) { call, replies in
        let sections = (1..<max(1, call.arguments.count)).map { call.arguments.string($0).lowercased() }
        replies.verbatim(ServerInfo(call.server).text(sections: sections))
    },
    Command("time", arity: 1, flags: ["loading", "stale", "fast"], categories: ["@fast"]) { _, replies in
        let now = WallClock.microseconds()
        replies.arrayHeader(2)
        replies.bulk(decimal: now / 1_000_000)
        replies.bulk(decimal: now % 1_000_000)
    },
    Command("shutdown", arity: -1, flags: ["admin", "noscript", "loading", "stale", "no_multi", "allow_busy"],
            categories: ["@admin", "@slow", "@dangerous"]) { call, replies in
        // NOW changes nothing (there are no replicas to wait for).
        let arguments = call.arguments
        var save = false, noSave = false, abort = false, now = false, force = false
        for index in 1..<max(1, arguments.count) {
            if arguments.matches(index, "NOSAVE") { noSave = true }
            else if arguments.matches(index, "SAVE") { save = true }
            else if arguments.matches(index, "NOW") { now = true }
            else if arguments.matches(index, "FORCE") { force = true }
            else if arguments.matches(index, "ABORT") { abort = true }
            else { return replies.error(CommandError.syntax.reply) }
        }
        if (abort && (save || noSave || now || force)) || (save && noSave) { return replies.error(CommandError.syntax.reply) }
        if abort { return replies.error("ERR No shutdown in progress.") }
        // As Redis: the final save if SAVE, or if there are save rules and
        // not NOSAVE (never while loading); if it fails, an error and the
        // server goes on, unless FORCE (Persistence.swift).
        guard call.server.persistence.prepareShutdown(save: save ? true : noSave ? false : nil, force: force) else {
            return replies.error("ERR Errors trying to SHUTDOWN. Check logs.")
        }
        // As Redis: no reply; every connection closes once its replies are out.
        call.server.requestShutdown()
    },
]

private let commandSubcommands: [Command] = [
    Command("command|count", arity: 2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { _, replies in
        replies.integer(CommandTable.all.count)
    },
    Command("command|info", arity: -2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { call, replies in
        if call.arguments.count == 2 { return describe(CommandTable.all, &replies) }
        replies.arrayHeader(call.arguments.count - 2)
        for index in 2..<call.arguments.count {
            if let command = CommandTable.command(named: call.arguments[index]) {
                describe(command, &replies)
            } else {
                replies.null()
            }
        }
    },
    Command("command|list", arity: -2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { _, replies in
        replies.arrayHeader(CommandTable.all.count)
        for command in CommandTable.all { replies.bulk(command.name) }
    },
    // Documentation is for interactive hints; clients accept an empty map.
    Command("command|docs", arity: -2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { _, replies in
        replies.mapHeader(0)
    },
    Command("command|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow", "@connection"]) { _, replies in
        let lines = [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)", "    Return details about all commands.",
            "COUNT", "    Return the total number of commands in this server.",
            "LIST", "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]", "    Return details about the given commands, or all commands.",
            "DOCS [<command-name> ...]", "    Return documentation details (none here).",
            "HELP", "    Print this help.",
        ]
        replies.help(lines)
    },
]

private func describe(_ commands: [Command], _ replies: inout Replies) {
    replies.arrayHeader(commands.count)
    for command in commands { describe(command, &replies) }
}

/// One command in COMMAND INFO's ten-field form (Redis 7): name, arity,
/// flags, first key, last key, step, ACL categories, tips, key specs,
/// subcommands.
private func describe(_ command: Command, _ replies: inout Replies) {
    replies.arrayHeader(10)
    replies.bulk(command.name)
    replies.integer(command.arity)
    replies.arrayHeader(command.flags.count)
    for flag in command.flags { replies.status(flag) }
    replies.integer(command.keys.first)
    replies.integer(command.keys.last)
    replies.integer(command.keys.step)
    replies.arrayHeader(command.categories.count)
    for category in command.categories { replies.status(category) }
    replies.arrayHeader(0)
    replies.arrayHeader(0)
    describe(command.subcommands, &replies)
}

/// The text of INFO, in Redis's `key:value` format, sections `# Name`, so
/// that redis_exporter and client libraries parse it.
struct ServerInfo {
    let server: ServerContext

    init(_ server: ServerContext) {
        self.server = server
    }

    static let defaultSections = ["server", "clients", "memory", "persistence", "stats", "keyspace"]

    func text(sections requested: [String]) -> String {
        let all = requested.isEmpty || requested.contains { ["all", "everything", "default"].contains($0) }
        let chosen = Self.defaultSections.filter { all || requested.contains($0) }
        return chosen.map { section in
            "# \(section.prefix(1).uppercased() + section.dropFirst())\r\n"
                + fields(section).map { "\($0.0):\($0.1)\r\n" }.joined()
        }.joined(separator: "\r\n")
    }

    private func fields(_ section: String) -> [(String, String)] {
        let configuration = server.configuration
        switch section {
        case "server":
            let uptime = (WallClock.milliseconds() - server.startedAt) / 1000
            return [
                ("redis_version", redisCompatibleVersion), ("ttlkv_version", ttlkvVersion),
                ("redis_mode", "standalone"), ("os", operatingSystem), ("arch_bits", "64"),
                ("multiplexing_api", "epoll"), ("process_id", "\(getpid())"), ("run_id", runID),
                ("tcp_port", "\(server.port.load(ordering: .relaxed))"),
                ("server_time_usec", "\(WallClock.microseconds())"),
                ("uptime_in_seconds", "\(uptime)"), ("uptime_in_days", "\(uptime / 86400)"),
                ("event_loops", "\(configuration.eventLoops ?? System.coreCount)"),
            ]
        case "clients":
            return [("connected_clients", "\(server.clients.connected)"),
                    ("maxclients", "\(configuration.maximumClients)"), ("blocked_clients", "0")]
        case "memory":
            // used_memory is the store's own count, the one maxmemory
            // bounds (Redis's is its allocator's); the process's resident
            // size is used_memory_rss.
            let resident = MemoryUse.resident()
            let keyspace = server.keyspace, statistics = keyspace.statistics
            return [
                ("used_memory", "\(statistics.usedBytes)"), ("used_memory_human", humanBytes(statistics.usedBytes)),
                ("used_memory_rss", "\(resident)"), ("used_memory_rss_human", humanBytes(resident)),
                ("used_memory_dataset", "\(statistics.bytes)"),
                ("maxmemory", "\(keyspace.maximumMemory)"), ("maxmemory_human", humanBytes(keyspace.maximumMemory)),
                ("maxmemory_policy", keyspace.maximumMemoryPolicy.rawValue),
            ]
        case "persistence":
            return server.persistence.info()
        case "stats":
            let statistics = server.statistics
            return [
                ("total_connections_received", "\(server.clients.accepted.load(ordering: .relaxed))"),
                ("total_commands_processed", "\(statistics.commands)"),
                ("rejected_connections", "\(server.clients.rejected.load(ordering: .relaxed))"),
                ("expired_keys", "\(server.keyspace.statistics.expiredKeys)"),
                ("evicted_keys", "\(server.keyspace.statistics.evictedKeys)"),
                ("keyspace_hits", "\(statistics.hits)"), ("keyspace_misses", "\(statistics.misses)"),
            ] + pubSubStatistics(server)
        case "keyspace":
            let keyspace = server.keyspace.statistics
            guard keyspace.keys > 0 else { return [] }
            return [("db0", "keys=\(keyspace.keys),expires=\(min(keyspace.pendingExpiryRecords, keyspace.keys)),avg_ttl=0")]
        default:
            return []
        }
    }

    private var operatingSystem: String {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(field(name.sysname)) \(field(name.release)) \(field(name.machine))"
    }
}

/// The TTLKV release the server is built from.
let ttlkvVersion = "0.1.0"

/// A random id for this run of the server, as Redis's run_id.
private let runID = (0..<40).map { _ in String(Int.random(in: 0..<16), radix: 16) }.joined()

/// Redis's bytesToHuman: 1.50K, 2.00M, ...
func humanBytes(_ bytes: Int) -> String {
    let units: [(Int, String)] = [(1 << 50, "P"), (1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")]
    for (size, unit) in units where bytes >= size {
        let hundredths = (bytes * 100 + size / 2) / size
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)\(unit)"
    }
    return "\(bytes)B"
}
