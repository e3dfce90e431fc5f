/*
 The server's settings under Redis's names, for CONFIG GET and CONFIG SET.

 Each parameter says how to read it and, if it can change while the server
 runs, how to parse a new value into a change to apply. CONFIG SET takes
 several parameter-value pairs at once and, as Redis, applies all or none:
 every name is checked first (unknown, immutable, given twice: the first
 problem is the answer), then every value is parsed, and only when all of
 them parsed are the changes applied. A parameter that becomes settable
 (`maxmemory`, `maxmemory-policy`) needs only its `set`.
 */

/// One setting as CONFIG GET and CONFIG SET see it.
struct ConfigParameter: Sendable {
    /// What CONFIG SET makes of a value: the change to apply, or why not.
    typealias Parse = @Sendable (String) -> Result<@Sendable (ServerContext) -> Void, ConfigError>

    /// Redis's name, lowercase.
    let name: String
    /// The value in force, as CONFIG GET prints it.
    let get: @Sendable (ServerContext) -> String
    /// nil: fixed when the server starts (CONFIG SET answers "can't set
    /// immutable config").
    let set: Parse?

    init(_ name: String, set: Parse? = nil, get: @escaping @Sendable (ServerContext) -> String) {
        self.name = name
        self.get = get
        self.set = set
    }

    /// Every parameter, in CONFIG GET's order.
    static let all: [ConfigParameter] = [
        ConfigParameter("bind") { $0.configuration.bindAddresses.joined(separator: " ") },
        ConfigParameter("port") { "\($0.configuration.port)" },
        ConfigParameter("protected-mode") { $0.configuration.protectedMode ? "yes" : "no" },
        ConfigParameter("maxclients") { "\($0.configuration.maximumClients)" },
        ConfigParameter("timeout") { "\($0.configuration.idleTimeout)" },
        ConfigParameter("tcp-keepalive") { "\($0.configuration.tcpKeepalive)" },
        ConfigParameter("proto-max-bulk-len") { "\($0.configuration.limits.maximumBulkLength)" },
        ConfigParameter("client-query-buffer-limit") { "\($0.configuration.queryBufferLimit)" },
        ConfigParameter("databases") { _ in "1" },
        ConfigParameter("save") { SaveRule.text($0.configuration.saveRules) },
        ConfigParameter("dir") { $0.configuration.snapshotDirectory },
        ConfigParameter("dbfilename") { $0.configuration.snapshotFileName },
        ConfigParameter("stop-writes-on-bgsave-error") { $0.configuration.stopWritesOnSaveError ? "yes" : "no" },
        ConfigParameter("appendonly") { _ in "no" },
        ConfigParameter("maxmemory", set: { text in
            // A store opened without a budget carries no eviction queues,
            // and one opened with a budget has its shards' shares fixed:
            // the budget is set at start (--maxmemory) only.
            guard parseMemory(text) != nil else { return .failure(ConfigError("argument must be a memory value")) }
            return .failure(ConfigError("ttlkv-server sets maxmemory at start only (--maxmemory)"))
        }) { "\($0.keyspace.maximumMemory)" },
        ConfigParameter("maxmemory-policy", set: { text in
            guard let policy = MaxMemoryPolicy(name: text) else { return .failure(MaxMemoryPolicy.invalid) }
            return .success { $0.keyspace.maximumMemoryPolicy = policy }
        }) { $0.keyspace.maximumMemoryPolicy.rawValue },
        ConfigParameter("notify-keyspace-events", set: { text in
            guard let flags = KeyspaceEventFlags(text) else { return .failure(KeyspaceEventFlags.invalid) }
            return .success { $0.notifications.setFlags(flags) }
        }) { $0.notifications.flags.description },
        ConfigParameter("client-output-buffer-limit", set: { text in
            // Parsed against the default: only the classes named change, and
            // only the pubsub class has a limit to change.
            OutputBufferLimit.parse(text, current: OutputBufferLimit()).map { limit in
                { $0.outputBufferLimit.value = limit }
            }
        }) { $0.outputBufferLimit.value.description },
    ]

    private static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The parameter called name, in any case.
    static func named(_ name: String) -> ConfigParameter? {
        byName[name.lowercased()]
    }
}
