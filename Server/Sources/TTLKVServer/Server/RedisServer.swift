import Dispatch
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A Redis-protocol server over one TTLKV ``Store``: `redis-cli`, client
/// libraries, `redis-benchmark` and proxies such as twemproxy work with it
/// unchanged.
///
/// ```swift
/// var configuration = ServerConfiguration()
/// configuration.port = 0
/// let server = try await RedisServer.start(configuration: configuration, logger: logger)
/// print(server.port)
/// await server.run()              // returns after SHUTDOWN or shutdown()
/// ```
public final class RedisServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channels: [any Channel]
    private let context: ServerContext
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// Why the server stopped by itself, if it did.
    private let failure = Mutex<(any Error)?>(nil)
    /// True once shut down; the continuations of run() waiting for it.
    private let stopped = Mutex<(done: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    /// How long a shutdown waits for clients to take their last replies
    /// before it closes their connections anyway.
    public static let shutdownGrace: TimeAmount = .seconds(5)

    private init(group: MultiThreadedEventLoopGroup, channels: [any Channel], context: ServerContext, logger: Logger) {
        self.group = group
        self.channels = channels
        self.context = context
        self.logger = logger
    }

    /// Opens the store and starts listening; if the snapshot file is there,
    /// loads it meanwhile (clients get Redis's LOADING error until it is
    /// loaded; if it cannot be, the server stops: see ``startupError``).
    /// Throws if the configuration cannot be served (see
    /// ``ServerConfiguration/problem``; the snapshot folder must exist) or
    /// an address cannot be bound.
    public static func start(configuration: ServerConfiguration, logger: Logger) async throws -> RedisServer {
        if let problem = configuration.problem { throw ServerError(problem) }
        var configuration = configuration
        configuration.snapshotDirectory = try SnapshotFolder.resolve(configuration.snapshotDirectory)
        let loading = SnapshotFolder.hasSnapshot(at: configuration.snapshotPath)
        let files = System.raiseFileLimit(to: configuration.maximumClients + 64)
        if files < configuration.maximumClients + 32 {
            logger.warning("open file limit \(files) is below maxclients \(configuration.maximumClients): connections past it will be refused")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoops ?? System.coreCount)
        do {
            let context = try ServerContext(configuration: configuration, eventLoops: Array(group.makeIterator()),
                                            loadingSnapshot: loading, logger: logger)
            var bound: [any Channel] = []
            var port = configuration.port
            for host in configuration.bindAddresses {
                // The first address the name resolves to, as bind(host:) takes,
                // checked again: the name may resolve otherwise than before.
                guard let address = BindAddress.resolve(host, port: port).first else {
                    throw ServerError("cannot resolve the address \(host)")
                }
                guard configuration.mayListenOnOpenAddresses || BindAddress.isLoopback(address) else {
                    throw ServerError(configuration.refusal(host))
                }
                let channel = try await bootstrap(group: group, context: context, logger: logger)
                    .bind(to: address).get()
                bound.append(channel)
                // Every address on the same port, the one the first was given.
                port = channel.localAddress?.port ?? port
            }
            context.port.store(port, ordering: .relaxed)
            let server = RedisServer(group: group, channels: bound, context: context, logger: logger)
            context.onShutdownRequest { [weak server] in server?.shutdown() }
            context.persistence.start(on: group.next()) { [weak server] error in server?.stop(failure: error) }
            logger.info("ready to accept connections", metadata: [
                "addresses": "\(configuration.bindAddresses)", "port": "\(port)",
                "event_loops": "\(configuration.eventLoops ?? System.coreCount)",
            ])
            return server
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func bootstrap(group: MultiThreadedEventLoopGroup, context: ServerContext, logger: Logger) -> ServerBootstrap {
        let idle = context.configuration.idleTimeout
        return keepalive(ServerBootstrap(group: group), seconds: context.configuration.tcpKeepalive)
            .serverChannelOption(.backlog, value: 511)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if idle > 0 {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(idle))))
                    }
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: context, logger: logger))
                }
            }
    }

    /// TCP keepalive on every connection, as Redis's anetKeepAlive sets it:
    /// the first probe after `seconds` of silence, then one every third of
    /// that, and the connection dropped after 3 unanswered (the kernel's
    /// defaults, 2 hours and 9 probes, would keep a dead peer for hours).
    private static func keepalive(_ bootstrap: ServerBootstrap, seconds: Int) -> ServerBootstrap {
        guard seconds > 0 else { return bootstrap }
        func tcp(_ name: Int32) -> ChannelOptions.Types.SocketOption {
            .init(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
        }
        return bootstrap
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelOption(tcp(TCP_KEEPIDLE), value: SocketOptionValue(seconds))
            .childChannelOption(tcp(TCP_KEEPINTVL), value: SocketOptionValue(max(1, seconds / 3)))
            .childChannelOption(tcp(TCP_KEEPCNT), value: 3)
    }

    /// The port the server listens on.
    public var port: Int { context.port.load(ordering: .relaxed) }

    /// Waits until the server has shut down and closed its store.
    public func run() async {
        await withCheckedContinuation { continuation in
            let done = stopped.withLock { state in
                if !state.done { state.waiting.append(continuation) }
                return state.done
            }
            if done { continuation.resume() }
        }
    }

    /// Why the server stopped by itself: the snapshot it started on could
    /// not be loaded (the log says why). Nil if it was shut down.
    public var startupError: (any Error)? {
        failure.withLock { $0 }
    }

    /// Shuts down gracefully: saves the final snapshot if the save rules
    /// ask for one (or SHUTDOWN SAVE did), stops accepting, lets every
    /// client take the replies to what it sent (closing any still connected
    /// after ``shutdownGrace``), closes the store, stops the event loops.
    /// If that save fails, the server goes on serving, as Redis does (the
    /// log says why). Idempotent; returns at once, ``run()`` returns when it
    /// is done.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        // Off the event loops: the save may take a while, and waits for a
        // background save to stop.
        DispatchQueue.global().async {
            guard self.context.persistence.prepareShutdown(save: nil, force: false) else {
                self.logger.error("errors trying to shut down the server: still serving (SHUTDOWN NOSAVE stops it without saving)")
                self.stopping.store(false, ordering: .relaxed)
                return
            }
            self.closeConnectionsAndStore()
        }
    }

    /// Stops the server because of `error` (the snapshot could not be loaded).
    private func stop(failure error: any Error) {
        failure.withLock { $0 = error }
        shutdown()
    }

    private func closeConnectionsAndStore() {
        logger.info("shutting down")
        let loop = group.next()
        let listeners = channels.map { $0.close() }
        EventLoopFuture.andAllComplete(listeners, on: loop).flatMap { () -> EventLoopFuture<Void> in
            let clients = self.context.clients.all
            for client in clients { client.pipeline.fireUserInboundEventTriggered(ShutdownEvent()) }
            let closed = EventLoopFuture.andAllComplete(clients.map { $0.closeFuture }, on: loop)
            let deadline = loop.scheduleTask(in: Self.shutdownGrace) {
                for client in self.context.clients.all { client.close(promise: nil) }
            }
            return closed.always { _ in deadline.cancel() }
        }.whenComplete { _ in
            // Off the event loops: the group cannot be shut down from one.
            DispatchQueue.global().async {
                self.context.keyspace.close()
                self.logger.info("store closed, bye")
                self.group.shutdownGracefully { _ in self.finish() }
            }
        }
    }

    private func finish() {
        let waiting = stopped.withLock { state in
            state.done = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// A configuration the server cannot serve, with the reason.
public struct ServerError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
