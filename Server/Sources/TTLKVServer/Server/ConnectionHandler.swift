/*
 One client connection: bytes in, requests parsed and run on the event
 loop, replies out.

 Batching. Every request found in a read is run at once, in order, its
 reply appended to one output buffer; the buffer is written and flushed
 when the reads of a batch are done (channelReadComplete), so a pipeline of
 a hundred commands costs one write. Store calls never block for long (a
 lookup takes no lock, a write holds one shard lock for a few hundred
 nanoseconds), so they run right on the event loop. The exception is an
 APPEND to a large value, which copies all of it: consecutive APPENDs to
 one key are applied as one write, on a thread pool when the value is
 large, the connection stalled meanwhile (AppendGroup.swift).

 Bounded memory. Unparsed input is capped by the query buffer limit (the
 connection is closed past it, as Redis does). A large request's memory
 (its input buffer, the parser's argument array) is given back once it has
 run, so an idle connection keeps little of the largest request it sent.
 Output is bounded by back pressure: once the output reaches FLUSH_BYTES
 it is flushed, and after any flush that leaves the channel not writable
 (the client has not taken its replies up to the channel's high water
 mark) no further request is run and no further bytes are read until it is
 writable again. That holds however the client paces its requests, so a
 client that stops reading stalls itself and nobody else, holding at most
 the water mark, one batch and the reads already made.

 Pub/sub. What a connection's commands publish waits in its publish batch
 until their read is done and goes to the subscribers before their replies
 are written (PubSub/PublishBatch.swift). Messages for a subscribed
 connection wait in its outbox
 (PubSub/Subscriber.swift), which publishers on any thread fill; an
 OutboxReady event brings them to the connection's loop, where they join
 the replies, as do those waiting when a batch of requests starts (so a
 message published before a request was read goes out before its reply).
 They count against the pub/sub output buffer limit until the socket takes
 them. While the client does not take its output (the connection is
 paused) they stay in the outbox, one growing buffer, rather than queue
 up in the channel as one small write each: a subscriber that does not
 read holds one buffer, and is cut off by the limit.

 Ending. A protocol error is answered and the connection closed after the
 replies before it are out, as Redis does; so are QUIT and the server's
 shutdown (a ShutdownEvent). "Out" means every reply written, earlier
 batches' included, has been taken by the kernel (which sends what it holds
 after the close); meanwhile the connection reads on and drops what it
 reads, since unread bytes would make the close a reset that discards the
 kernel's unsent replies. The server closes connections still open after
 its shutdown grace.
 */
import Logging
import NIOCore
import NIOPosix

/// Sent to every connection when the server shuts down.
struct ShutdownEvent: Sendable {}

final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Output flushed in the middle of a batch once it holds this much.
    private static let flushBytes = 64 * 1024
    /// An input buffer larger than this is not kept for the rest of a
    /// request once the requests before it are done.
    private static let keptInputBytes = 1 << 20

    private let server: ServerContext
    private let logger: Logger
    private var session: Session?
    private var parser: RequestParser
    private var input: ByteBuffer?
    private var replies: Replies

    /// No request runs and nothing is read while the channel is not writable.
    private var paused = false
    /// Nor while its work runs on the thread pool (a group of appends to
    /// a large value, a KEYS); its close waits for that work too.
    private var workingOffLoop = false
    private var stalled: Bool { paused || workingOffLoop }
    /// A read() held back while stalled.
    private var readHeld = false
    /// Set once the connection is to close after its pending replies.
    private var closing = false
    /// The last write handed to the channel: a closing connection closes
    /// once it completes, when every reply is in the kernel's hands.
    private var lastWrite: EventLoopFuture<Void>?
    /// Set once the close after the last write is arranged.
    private var closeArranged = false

    init(server: ServerContext, logger: Logger) {
        self.server = server
        self.logger = logger
        parser = RequestParser(limits: server.configuration.limits)
        replies = Replies(allocator: ByteBufferAllocator())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        replies = Replies(allocator: context.channel.allocator)
    }

    func channelActive(context: ChannelHandlerContext) {
        let limit = server.configuration.maximumClients
        guard let id = server.clients.admit(context.channel, limit: limit) else {
            // As Redis: accept, say why, close.
            replies.error("ERR max number of clients reached")
            closing = true
            flush(context)
            return
        }
        let session = Session(id: id, channel: context.channel, statistics: server.statistics.counters(for: context.eventLoop),
                              authenticated: !server.requiresPassword)
        self.session = session
        parser.requireAuthentication = !session.authenticated
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let session {
            session.publishes?.deliver()
            server.clients.leave(context.channel)
            session.unwatch(server.keyspace.watches)
            session.subscriptions?.removeAll(from: server.pubSub)
        }
        session = nil
        input = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard session != nil, !closing else { return }
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        if input!.readableBytes > server.configuration.queryBufferLimit {
            logger.warning("closing client that reached max query buffer length", metadata: ["id": "\(session!.id)"])
            input = nil
            context.close(promise: nil)
            return
        }
        runRequests(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && paused {
            paused = false
            resume(context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Runs what waited while the connection was stalled, and reads again.
    private func resume(_ context: ChannelHandlerContext) {
        session?.subscriptions?.collect(into: &replies)
        runRequests(context)
        flush(context)
        if !stalled && readHeld {
            readHeld = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        // A closing connection reads on and drops what it reads: bytes left
        // unread in the kernel would turn its close into a reset, which
        // discards the replies the kernel has not sent yet.
        if stalled && !closing {
            readHeld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is OutboxReady {
            // While paused, resume() collects the outbox once writable.
            guard let subscriptions = session?.subscriptions, !closing, !paused else { return }
            subscriptions.collect(into: &replies)
            flush(context)
        } else if event is ShutdownEvent {
            closing = true
            flush(context)
            if readHeld {
                readHeld = false
                context.read()
            }
        } else if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset by the peer and the like: nothing to answer.
        context.close(promise: nil)
    }

    /// Runs every complete request in the input, until the input runs out,
    /// the output backs up, appends go to the thread pool, or the connection
    /// is to close; then applies the appends still pending.
    private func runRequests(_ context: ChannelHandlerContext) {
        guard let session, var input, !stalled, !closing else { return }
        session.subscriptions?.collect(into: &replies)
        self.input = nil // so that the buffer below is uniquely referenced
        let consumed = input.withUnsafeReadableBytes { bytes -> Int in
            var offset = 0
            while offset < bytes.count && !stalled && !closing {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                switch parser.parse(rest) {
                case .incomplete:
                    return offset
                case .request(let length):
                    // Left unconsumed if it must wait for appends on the pool.
                    if !parser.arguments.isEmpty && !run(rest, session: session, context) { return offset }
                    offset += length
                    // An AUTH that succeeded lifts the limits for the very
                    // next request, even one in the same read.
                    parser.requireAuthentication = !session.authenticated
                case .protocolError(let message):
                    applyAppends(context, offLoop: false)
                    replies.error("ERR " + message)
                    closing = true
                    return bytes.count
                }
                if session.closeAfterReply { closing = true }
                if replies.buffer.readableBytes >= Self.flushBytes { flush(context) }
            }
            return offset
        }
        input.moveReaderIndex(forwardBy: consumed)
        if input.readableBytes == 0 || closing {
            self.input = nil
        } else {
            // Compact only when the consumed part outweighs the rest, so a
            // large request arriving in pieces is not copied over and over;
            // the rest of a large buffer moves to one of its own size, so that
            // a partial request does not keep the room of the one before it.
            if input.readerIndex > input.readableBytes {
                if input.capacity > Self.keptInputBytes {
                    var rest = context.channel.allocator.buffer(capacity: input.readableBytes)
                    rest.writeBuffer(&input)
                    input = rest
                } else {
                    input.discardReadBytes()
                }
            }
            self.input = input
        }
        parser.releaseExcess()
        applyAppends(context)
        session.publishes?.deliver()
    }

    /// Runs the request just parsed, after the pending appends unless it is
    /// one more of them; false, without running it, if they went to the pool.
    private func run(_ request: UnsafeRawBufferPointer, session: Session, _ context: ChannelHandlerContext) -> Bool {
        let run = { (arguments: Arguments) -> Bool in
            if let appends = session.appends, !appends.continues(with: arguments) {
                self.applyAppends(context)
                if self.workingOffLoop { return false }
            }
            execute(arguments, session: session, server: self.server, replies: &self.replies)
            session.publishes?.commandEnded()
            if session.keysWalk != nil { self.walkKeys(context) }
            return true
        }
        if parser.isInline {
            return parser.inlineBytes.withUnsafeBytes { run(Arguments(base: $0.baseAddress, ranges: parser.arguments)) }
        }
        return run(Arguments(base: request.baseAddress, ranges: parser.arguments))
    }

    /// Applies the session's pending appends (AppendGroup.swift): right
    /// here if their value is small or `offLoop` is false, else on the
    /// thread pool, the connection stalled until they are done.
    private func applyAppends(_ context: ChannelHandlerContext, offLoop: Bool = true) {
        guard let session, let appends = session.appends else { return }
        session.appends = nil
        let keyspace = server.keyspace
        let maximumLength = server.configuration.limits.maximumBulkLength
        guard offLoop, appends.isLarge(in: keyspace.access) else {
            return appends.reply(appends.apply(to: keyspace.access, maximumLength: maximumLength), into: &replies,
                                 server: server, session: session)
        }
        runOffLoop(context) {
            appends.apply(to: keyspace.access, maximumLength: maximumLength)
        } then: { [server] outcome, replies in
            switch outcome {
            case .success(let outcomes): appends.reply(outcomes, into: &replies, server: server, session: session)
            case .failure(let error):
                appends.reply(appends.failed("ERR \(error)"), into: &replies, server: server, session: session)
            }
            // The connection may have closed meanwhile, and flush no longer
            // reach this session: its `append` events go now.
            session.publishes?.deliver()
        }
    }

    /// Walks the store for the session's KEYS on the thread pool
    /// (KeysWalk.swift), the connection stalled until it answers.
    private func walkKeys(_ context: ChannelHandlerContext) {
        guard let session, let keys = session.keysWalk else { return }
        session.keysWalk = nil
        let keyspace = server.keyspace
        runOffLoop(context) { () throws -> ByteBuffer in
            var walk = keys
            return try walk.complete(keyspace.access)
        } then: { outcome, replies in
            switch outcome {
            case .success(let answer): replies.append(answer)
            case .failure(let error): replies.error(Keyspace.errorReply(for: error, command: "keys"))
            }
        }
    }

    /// Runs work on the thread pool, the connection stalled meanwhile (it
    /// runs and reads nothing, as when its client does not read); then, on
    /// the event loop, `then` writes its reply and the connection resumes.
    private func runOffLoop<Outcome: Sendable>(
        _ context: ChannelHandlerContext, _ work: @escaping @Sendable () throws -> Outcome,
        then reply: @escaping (Result<Outcome, any Error>, inout Replies) -> Void
    ) {
        workingOffLoop = true
        // The handler and its context belong to this event loop: the pool
        // hands the outcome back there.
        let connection = NIOLoopBound((handler: self, context: context, reply: reply), eventLoop: context.eventLoop)
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop, work).whenComplete { outcome in
            let (handler, context, reply) = connection.value
            handler.workingOffLoop = false
            reply(outcome, &handler.replies)
            handler.resume(context)
        }
    }

    /// Writes and flushes the pending replies; if the connection is closing,
    /// closes it once every reply written so far (earlier batches' too) is
    /// in the kernel's hands.
    private func flush(_ context: ChannelHandlerContext) {
        // A command's messages reach their subscribers before its reply.
        session?.publishes?.deliver()
        if !replies.isEmpty {
            let write = context.writeAndFlush(wrapOutboundOut(replies.buffer))
            lastWrite = write
            if let subscriptions = session?.subscriptions, subscriptions.unwritten > 0 {
                // Messages stay counted against the output limit until written.
                let (subscriber, count) = (subscriptions.subscriber, subscriptions.unwritten)
                subscriptions.unwritten = 0
                write.whenComplete { _ in subscriber.written(count) }
            }
            // Whatever the size of the batches that filled it: output the
            // client has not taken stops its requests and its reads.
            if !context.channel.isWritable { paused = true }
            // When the socket took everything, the channel has let go of the
            // buffer and clear() reuses it; large one-off replies do not keep
            // their memory.
            if replies.buffer.capacity > 1 << 20 {
                replies.buffer = context.channel.allocator.buffer(capacity: 4096)
            } else {
                replies.buffer.clear()
            }
        }
        if closing && !closeArranged && !workingOffLoop {
            closeArranged = true
            if let lastWrite {
                let channel = context.channel
                lastWrite.whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }
}
