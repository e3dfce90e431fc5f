import ArgumentParser
import Logging
import TTLKVServer

/// `ttlkv-server`: TTLKV over the Redis protocol. Options are named after
/// Redis's configuration directives, with Redis's defaults.
@main
struct TTLKVServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttlkv-server",
        abstract: "A Redis-protocol server over the TTLKV store.",
        discussion: """
            Speaks RESP2 (and RESP3 after HELLO 3) with Redis 7's command semantics for strings and expiry. \
            Keeps Redis's RDB snapshots: loads --dir/--dbfilename (dump.rdb in the working directory) at start \
            if it is there, and saves it on SAVE, BGSAVE, the --save rules and the shutdown, as Redis does. \
            Stops gracefully on SIGTERM, SIGINT or SHUTDOWN.
            """
    )

    @Option(help: "Address to listen on; repeat for several.")
    var bind: [String] = ["127.0.0.1"]

    @Option(help: "TCP port; 0 picks a free one.")
    var port = 6379

    @Option(help: """
        Password clients must give with AUTH or HELLO (empty: none, as Redis). Every local user sees it in ps: \
        prefer --requirepass-file or the \(PasswordOptions.environmentVariable) environment variable.
        """)
    var requirepass: String?

    @Option(name: .customLong("requirepass-file"), help: """
        Read the password from the first line of this file instead (kept out of ps). Without either option, \
        the password is read from the \(PasswordOptions.environmentVariable) environment variable, if set.
        """)
    var requirepassFile: String?

    @Option(name: .customLong("protected-mode"), help: "yes: refuse to start on an address that is not loopback-only (a name counts by what it resolves to) without a password.")
    var protectedMode: YesNo = .yes

    @Option(help: "Most clients connected at once.")
    var maxclients = 10_000

    @Option(help: "Close a client idle for this many seconds (0: never).")
    var timeout = 0

    @Option(name: .customLong("tcp-keepalive"), help: "Probe a silent client after this many seconds, drop it if it is gone (0: never).")
    var tcpKeepalive = 300

    @Option(name: .customLong("proto-max-bulk-len"), help: "Longest bulk string in a request, in bytes (also the largest key and value).")
    var protoMaxBulkLength = 512 << 20

    @Option(name: .customLong("max-arguments"), help: "Most arguments in one request.")
    var maxArguments = 1 << 20

    @Option(name: .customLong("client-query-buffer-limit"), help: "Most bytes of unparsed requests per client.")
    var queryBufferLimit = 1 << 30

    @Option(name: .customLong("notify-keyspace-events"), help: """
        Keyspace notifications to publish, in Redis's letters: K (__keyspace@0__:<key>), E (__keyevent@0__:<event>), \
        and classes g (generic), $ (string), x (expired, at the deadline), e (evicted), A (all of these), m (key \
        miss); Redis's other letters are accepted, and n (new key) sends nothing yet. Default: none.
        """)
    var notifyKeyspaceEvents = ""

    @Option(name: .customLong("client-output-buffer-limit"), help: """
        Disconnect a pub/sub client whose unsent output reaches the hard limit, or stays over the soft limit for the \
        seconds given (Redis's syntax; 0 turns a limit off).
        """)
    var clientOutputBufferLimit = "pubsub 32mb 8mb 60"

    @Option(name: .customLong("event-loops"), help: "Event loop threads (default: one per core).")
    var eventLoops: Int?

    @Option(help: "Keys to preallocate the store for.")
    var capacity = 1 << 20

    @Option(help: "Most keys held; past it, writes of new keys get an OOM error (default: no limit).")
    var maxkeys: Int?

    @Option(help: """
        Memory budget of the store, in bytes or with Redis's units (100mb, 2gb, 1g); 0: none. Counted by the \
        store (INFO used_memory). Writes past it evict by --maxmemory-policy or get an OOM error.
        """)
    var maxmemory = "0"

    @Option(name: .customLong("maxmemory-policy"), help: """
        noeviction (default: OOM error), allkeys-lru / allkeys-lfu / allkeys-random (the store's S3-FIFO over all \
        keys), volatile-lru / volatile-lfu / volatile-random (the same over keys with a TTL), volatile-ttl (nearest \
        deadline of a sample).
        """)
    var maxmemoryPolicy = "noeviction"

    @Option(help: "Folder of the snapshot file, which must exist (default: the working directory).")
    var dir = "."

    @Option(help: """
        Snapshot file name in --dir (an RDB file, as Redis's): loaded at start if it is there, written by SAVE, \
        BGSAVE, the save rules and the shutdown.
        """)
    var dbfilename = "dump.rdb"

    @Option(help: """
        Save rules, as Redis's save directive: "seconds changes" pairs; a background save starts once that many \
        seconds have passed since the last save and at least that many keys changed. Repeatable; "" for none, so \
        no save on shutdown either. Default: "3600 1 300 100 60 10000".
        """)
    var save: [String] = []

    @Option(name: .customLong("stop-writes-on-bgsave-error"), help: """
        yes: while the last background save failed (and there are save rules), refuse writes and PING with MISCONF.
        """)
    var stopWritesOnBgsaveError: YesNo = .yes

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var loglevel: Logger.Level = .notice

    enum YesNo: String, ExpressibleByArgument {
        case yes, no
    }

    func run() async throws {
        let level = loglevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ttlkv-server")
        Allocator.giveLargeBlocksBack()
        var configuration = ServerConfiguration()
        configuration.bindAddresses = bind
        configuration.port = port
        configuration.password = try PasswordOptions.password(option: requirepass, file: requirepassFile)
        configuration.protectedMode = protectedMode == .yes
        configuration.maximumClients = maxclients
        configuration.idleTimeout = timeout
        configuration.tcpKeepalive = tcpKeepalive
        configuration.limits = RequestLimits(maximumBulkLength: protoMaxBulkLength, maximumArguments: maxArguments)
        configuration.queryBufferLimit = queryBufferLimit
        configuration.eventLoops = eventLoops
        configuration.notifyKeyspaceEvents = notifyKeyspaceEvents
        do {
            configuration.pubSubOutputBufferLimit = try OutputBufferLimit(parsing: clientOutputBufferLimit)
        } catch {
            throw ValidationError("\(error)")
        }
        configuration.capacity = capacity
        configuration.maximumKeys = maxkeys
        guard let budget = ServerConfiguration.bytes(parsing: maxmemory) else {
            throw ValidationError("--maxmemory \(maxmemory): give bytes, or a number with k, kb, m, mb, g or gb")
        }
        configuration.maximumMemory = budget
        configuration.maximumMemoryPolicy = maxmemoryPolicy
        configuration.snapshotDirectory = dir
        configuration.snapshotFileName = dbfilename
        if !save.isEmpty { configuration.saveRules = try saveRules() }
        configuration.stopWritesOnSaveError = stopWritesOnBgsaveError == .yes
        if let problem = configuration.problem { throw ValidationError(problem) }

        let signals = await StopSignals.catchSignals()
        let server = try await RedisServer.start(configuration: configuration, logger: logger)
        signals.stop(server)
        await server.run()
        signals.cancel()
        // The snapshot could not be loaded (logged): not a clean exit.
        if server.startupError != nil { throw ExitCode.failure }
    }

    /// The rules of every --save, in order, as Redis adds up its save lines.
    private func saveRules() throws -> [SaveRule] {
        try save.flatMap { text in
            guard let rules = SaveRule.parse(text) else {
                throw ValidationError("Invalid save parameters in --save \"\(text)\": give \"seconds changes\" pairs, "
                    + "seconds at least 1, changes at least 0")
            }
            return rules
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
