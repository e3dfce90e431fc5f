/// How a ``RedisServer`` listens, what it allows, and how big its store is.
/// The defaults are Redis 7's where Redis has one.
public struct ServerConfiguration: Sendable {
    /// Addresses to listen on. Default: 127.0.0.1 only.
    public var bindAddresses: [String] = ["127.0.0.1"]
    /// TCP port; 0 picks a free one (see ``RedisServer/port``). Default 6379.
    public var port = 6379
    /// How long a connection's publishes may wait for the end of its read
    /// (PublishBatch.swift): not an option, but tests that count hand-overs
    /// on a slow machine (ThreadSanitizer) set it.
    var publishHoldNanoseconds = PublishBatch.holdNanoseconds
    /// The password clients must give with AUTH or HELLO; nil or empty:
    /// none (an empty password is no password, as Redis's `requirepass ""`).
    public var password: String?
    /// Refuse to listen on a non-loopback address without a password
    /// (Redis's protected mode). Default true.
    public var protectedMode = true
    /// The most clients connected at once; more are refused. Default 10,000.
    public var maximumClients = 10_000
    /// Seconds a client may stay idle before it is closed; 0: never (the
    /// default, as Redis).
    public var idleTimeout = 0
    /// Seconds a connection may stay silent before the kernel starts probing
    /// whether its peer is still there (TCP keepalive, Redis `tcp-keepalive`),
    /// so that a client gone without a word (a crash, a cut cable) does not
    /// keep its slot forever; 0: no probes. Default 300, as Redis.
    public var tcpKeepalive = 300
    /// Request limits: bulk length and argument count.
    public var limits = RequestLimits()
    /// The most bytes of unparsed requests one client may have pending
    /// (Redis `client-query-buffer-limit`). Default 1 GiB.
    public var queryBufferLimit = 1 << 30
    /// The output a pub/sub client may leave unread before it is
    /// disconnected (Redis `client-output-buffer-limit pubsub`). Default
    /// 32 MiB hard, 8 MiB for 60 s soft, as Redis.
    public var pubSubOutputBufferLimit = OutputBufferLimit()
    /// Which keyspace notifications to publish, in Redis's letters (`KEA`,
    /// `Ex`, ...; Redis `notify-keyspace-events`). Default "": none.
    public var notifyKeyspaceEvents = ""
    /// Event loop threads; nil: one per core.
    public var eventLoops: Int?
    /// Keys to preallocate the store for (no resize up to this many).
    public var capacity = 1 << 20
    /// The most keys held; past it writes of new keys get an OOM error.
    /// nil: no limit (the default).
    public var maximumKeys: Int?
    /// The store's memory budget in bytes (Redis `maxmemory`), as the store
    /// counts them (``StoreStatistics/usedBytes``); 0: none (the default).
    /// At least 1 MiB otherwise.
    public var maximumMemory = 0
    /// What a write does when the budget is full (Redis
    /// `maxmemory-policy`): `noeviction` (the default) refuses it with
    /// Redis's OOM error; `allkeys-lru`, `allkeys-lfu` and `allkeys-random`
    /// evict by the store's S3-FIFO over all keys; `volatile-lru`,
    /// `volatile-lfu` and `volatile-random` the same over keys with a TTL;
    /// `volatile-ttl` the nearest deadline of a sample.
    public var maximumMemoryPolicy = "noeviction"
    /// The folder of the snapshot file (Redis `dir`), which must exist.
    /// Default: the working directory.
    public var snapshotDirectory = "."
    /// The snapshot file's name in ``snapshotDirectory`` (Redis
    /// `dbfilename`): loaded at start if it is there, written by SAVE,
    /// BGSAVE, the save rules and the shutdown. Default `dump.rdb`.
    public var snapshotFileName = "dump.rdb"
    /// When a background save starts by itself (Redis `save`); empty: never.
    /// Default: Redis 7's (``SaveRule/redisDefaults``).
    public var saveRules = SaveRule.redisDefaults
    /// Whether writes (and PING) are refused with Redis's MISCONF error
    /// while the last background save failed and there are save rules
    /// (Redis `stop-writes-on-bgsave-error`). Default true.
    public var stopWritesOnSaveError = true

    /// The defaults.
    public init() {}

    /// A byte count as Redis's configuration parses one: digits with an
    /// optional unit, k/kb/m/mb/g/gb (k = 1000, kb = 1024, ...); nil if it
    /// is not one.
    public static func bytes(parsing text: String) -> Int? {
        parseMemory(text)
    }

    /// The password clients must give, if any: ``password`` unless empty.
    var requiredPassword: String? {
        password?.isEmpty == false ? password : nil
    }

    /// The snapshot file: ``snapshotFileName`` in ``snapshotDirectory``.
    public var snapshotPath: String {
        snapshotDirectory.hasSuffix("/") ? snapshotDirectory + snapshotFileName : "\(snapshotDirectory)/\(snapshotFileName)"
    }

    /// Why this configuration cannot be served, or nil if it can. (Whether
    /// ``snapshotDirectory`` exists is checked when the server starts.)
    public var problem: String? {
        if !mayListenOnOpenAddresses, let open = bindAddresses.first(where: { !BindAddress.isLoopback($0) }) {
            return refusal(open)
        }
        if bindAddresses.isEmpty { return "no address to listen on" }
        if maximumClients < 1 { return "maxclients must be at least 1" }
        if tcpKeepalive < 0 || tcpKeepalive > 32767 { return "tcp-keepalive must be between 0 and 32767 seconds" }
        if limits.maximumBulkLength < 1 || limits.maximumBulkLength > 1 << 30 {
            return "proto-max-bulk-len must be between 1 byte and 1 GiB"
        }
        if limits.maximumArguments < 1 { return "the argument limit must be at least 1" }
        if queryBufferLimit < 1 << 20 { return "client-query-buffer-limit must be at least 1 MiB" }
        let limit = pubSubOutputBufferLimit
        if limit.hardBytes < 0 || limit.softBytes < 0 || limit.softSeconds < 0 {
            return "client-output-buffer-limit values must not be negative"
        }
        if KeyspaceEventFlags(notifyKeyspaceEvents) == nil {
            return "notify-keyspace-events: \(KeyspaceEventFlags.invalid)"
        }
        if let eventLoops, eventLoops < 1 { return "at least one event loop is needed" }
        if maximumMemory != 0 && maximumMemory < 1 << 20 { return "maxmemory must be 0 (none) or at least 1mb" }
        if MaxMemoryPolicy(name: maximumMemoryPolicy) == nil {
            return "maxmemory-policy \(maximumMemoryPolicy): \(MaxMemoryPolicy.invalid)"
        }
        if snapshotFileName.isEmpty || snapshotFileName.contains("/") {
            return "dbfilename can't be a path, just a filename (\(snapshotFileName))"
        }
        if !saveRules.allSatisfy(\.isValid) { return "Invalid save parameters: seconds must be at least 1, changes at least 0" }
        return nil
    }

    /// Whether protected mode lets the server listen on any address, not
    /// only on loopback ones (see ``BindAddress``): with a password, or
    /// with protected mode off.
    var mayListenOnOpenAddresses: Bool {
        !protectedMode || requiredPassword != nil
    }

    /// The refusal of protected mode to listen on `host`.
    func refusal(_ host: String) -> String {
        "refusing to listen on \(host) without a password (it is not a loopback-only address, and an empty "
            + "password is none): set --requirepass, or pass --protected-mode no to accept unauthenticated "
            + "clients from the network"
    }
}
