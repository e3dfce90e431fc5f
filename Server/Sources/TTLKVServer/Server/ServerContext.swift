import Logging
import NIOCore
import Synchronization

/// What every connection of a server shares: the configuration, the store,
/// the clients, the counters, snapshots, and the way to shut the server down.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let keyspace: Keyspace
    let clients = ClientRegistry()
    let statistics: ServerStatistics
    /// Channels, patterns and their subscribers.
    let pubSub = PubSub()
    /// The pub/sub output buffer limit in force (CONFIG SET changes it).
    let outputBufferLimit: OutputBufferLimitSetting
    /// Keyspace notifications (`notify-keyspace-events`).
    let notifications: KeyspaceNotifier
    /// SAVE, BGSAVE, the save rules, the final save, the load at start.
    let persistence: Persistence
    /// Unix time the server started, in milliseconds.
    let startedAt = WallClock.milliseconds()
    /// The listening port, once bound.
    let port = Atomic<Int>(0)
    /// Whether a shutdown was asked for, and what carries it out once set.
    private let shutdown = Mutex<(requested: Bool, handler: (@Sendable () -> Void)?)>((false, nil))

    /// A server's shared state; with an empty store awaiting the snapshot
    /// if `loadingSnapshot` (``Persistence/start(on:onLoadFailure:)`` loads it).
    init(configuration: ServerConfiguration, eventLoops: [any EventLoop], loadingSnapshot: Bool = false,
         logger: Logger = Logger(label: "ttlkv-server")) throws {
        self.configuration = configuration
        keyspace = try Keyspace(configuration: configuration, awaitingSnapshot: loadingSnapshot)
        statistics = ServerStatistics(eventLoops: eventLoops)
        outputBufferLimit = OutputBufferLimitSetting(configuration.pubSubOutputBufferLimit)
        notifications = KeyspaceNotifier(
            flags: KeyspaceEventFlags(configuration.notifyKeyspaceEvents) ?? [], pubSub: pubSub, keyspace: keyspace)
        persistence = Persistence(configuration: configuration, keyspace: keyspace, statistics: statistics,
                                  loading: loadingSnapshot, logger: logger)
    }

    /// Whether clients must authenticate.
    var requiresPassword: Bool { configuration.requiredPassword != nil }

    /// Sets what ``requestShutdown()`` does, and does it at once if a
    /// shutdown was asked for already: a client may send SHUTDOWN as soon as
    /// the server listens, before the server has set this.
    func onShutdownRequest(_ handler: @escaping @Sendable () -> Void) {
        let requested = shutdown.withLock { state in
            state.handler = handler
            return state.requested
        }
        if requested { handler() }
    }

    /// Starts a graceful shutdown (SHUTDOWN, SIGTERM).
    func requestShutdown() {
        let handler = shutdown.withLock { state in
            state.requested = true
            return state.handler
        }
        handler?()
    }
}

/// The connected clients: their count against the limit, their ids, and
/// their channels, so that a shutdown can reach every one of them.
final class ClientRegistry: Sendable {
    private let nextID = Atomic<Int>(1)
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    /// Connections accepted since start, and those refused at the limit.
    let accepted = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)

    /// Registers channel and returns its client id, or nil if `limit`
    /// clients are connected already.
    func admit(_ channel: any Channel, limit: Int) -> Int? {
        let admitted = channels.withLock { channels -> Bool in
            guard channels.count < limit else { return false }
            channels[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            rejected.add(1, ordering: .relaxed)
            return nil
        }
        accepted.add(1, ordering: .relaxed)
        return nextID.add(1, ordering: .relaxed).oldValue
    }

    func leave(_ channel: any Channel) {
        _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    var connected: Int { channels.withLock { $0.count } }

    var all: [any Channel] { channels.withLock { Array($0.values) } }
}

/// Per-event-loop counters: each loop's connections bump their own, so the
/// hot path touches no shared cache line; INFO adds them up.
final class ServerStatistics: Sendable {
    private let loops: [ObjectIdentifier: LoopStatistics]

    init(eventLoops: [any EventLoop]) {
        loops = Dictionary(uniqueKeysWithValues: eventLoops.map { (ObjectIdentifier($0), LoopStatistics()) })
    }

    /// The counters of `loop` (a fresh set for a loop not seen at start,
    /// as in tests on an EmbeddedEventLoop).
    func counters(for loop: any EventLoop) -> LoopStatistics {
        loops[ObjectIdentifier(loop)] ?? LoopStatistics()
    }

    var commands: Int { loops.values.reduce(0) { $0 + $1.commands } }
    /// Keys changed by writes since start (what the save rules count).
    var changes: Int { loops.values.reduce(0) { $0 + $1.changes } }
    var hits: Int { loops.values.reduce(0) { $0 + $1.hits } }
    var misses: Int { loops.values.reduce(0) { $0 + $1.misses } }
}

/// One event loop's counters. Only that loop's thread writes them (a plain
/// load and store, no locked add), any thread may read them.
final class LoopStatistics: Sendable {
    private let commandCount = Atomic<Int>(0)
    private let hitCount = Atomic<Int>(0)
    private let missCount = Atomic<Int>(0)
    private let changeCount = Atomic<Int>(0)

    func countCommand() { bump(commandCount, by: 1) }

    /// Keys changed by a write.
    func countChanges(_ keys: Int) { bump(changeCount, by: keys) }

    /// A key looked up: found or not.
    func countLookup(found: Bool) {
        countLookups(hits: found ? 1 : 0, misses: found ? 0 : 1)
    }

    /// A batch of keys looked up.
    func countLookups(hits: Int, misses: Int) {
        bump(hitCount, by: hits)
        bump(missCount, by: misses)
    }

    var commands: Int { commandCount.load(ordering: .relaxed) }
    var hits: Int { hitCount.load(ordering: .relaxed) }
    var misses: Int { missCount.load(ordering: .relaxed) }
    var changes: Int { changeCount.load(ordering: .relaxed) }

    private func bump(_ counter: borrowing Atomic<Int>, by amount: Int) {
        counter.store(counter.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }
}
