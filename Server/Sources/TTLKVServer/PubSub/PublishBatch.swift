/*
 What one connection's commands publish, held until its read is done.

 With keyspace notifications on, every write publishes, and a pipelining
 client sends writes by the dozen in one read. Handed over one message at
 a time, each message took its subscriber's outbox lock, which every event
 loop and the subscriber's own loop contend for, and each publish took the
 pattern table's lock. So a connection's commands publish into a batch of
 their own instead: each message is matched and encoded at once, into a
 share per subscriber, and each share reaches its subscriber's outbox in
 one lock hold when the read's requests have run (and before any of their
 replies is written). The batch also keeps the pattern table it last took,
 in copies of its own so that matching retains nothing another loop
 retains (a shared reference count is a cache line moving between cores),
 and takes it again only after a PSUBSCRIBE or PUNSUBSCRIBE changed it; it
 keeps that table's subscribers alive until then, or until its connection
 closes.

 What stays as it was:
 - A subscriber gets one connection's messages in the order its commands
   ran, and a RESP3 client subscribed to its own events gets them where a
   command places them among its replies (the command hands its own share
   over first).
 - A command's messages are in the outboxes before its reply is written:
   a client that saw the reply and then has another connection write sees
   the two writes' messages in that order.
 - The output buffer limit counts every message: a share is handed over
   once it holds `handOverBytes`, so a command that publishes much (an
   MSET of thousands of keys) holds little, and a subscriber that does not
   read is cut off as before.
 What moves: a message is matched when its command runs and reaches the
 outbox when the read is done, so a subscriber that unsubscribes in
 between may still get it, after its unsubscribe confirmation. Redis
 replies to the PUBLISH as if delivered either way; this server's window
 was the few instructions between the match and the hand-over before.

 The expiry worker's `expired` and `evicted` events are not a connection's
 and go straight to the outboxes, as before.
 */
import NIOCore

/// A connection's publishes, per subscriber, until the end of its read;
/// owned by the connection's event loop.
final class PublishBatch {
    /// A share past this many bytes is handed over at once.
    static let handOverBytes = 64 * 1024

    private struct Share {
        let id: ObjectIdentifier
        let subscriber: Subscriber
        var messages: ByteBuffer
    }

    /// A pattern as this batch matches it, in arrays of the batch's own.
    private struct Route {
        let glob: GlobPattern
        let head: [UInt8]
        /// Unretained: `table` holds every one of them while the route exists.
        let subscribers: [Unmanaged<Subscriber>]
    }

    private let allocator: ByteBufferAllocator
    private var shares: [Share] = []
    /// The share of each subscriber in `shares`.
    private var shareIndex: [ObjectIdentifier: Int] = [:]
    /// The pattern table as this batch last took it, and its routes.
    private var table = PubSub.PatternSnapshot(version: -1, entries: [])
    private var routes: [Route] = []

    init(allocator: ByteBufferAllocator) {
        self.allocator = allocator
    }

    /// Which version of the pattern table the batch matches against.
    var patternVersion: Int { table.version }

    /// Matches against snapshot from now on.
    func use(_ snapshot: PubSub.PatternSnapshot) {
        table = snapshot
        // Copies, not the snapshot's shared buffers.
        routes = snapshot.entries.map { entry in
            Route(glob: GlobPattern(entry.name.bytes.map { $0 }), head: entry.head.map { $0 },
                  subscribers: entry.subscribers.map { Unmanaged.passUnretained($0) })
        }
    }

    /// Adds message on channel for every subscriber of a pattern that
    /// matches it; returns how many that made.
    func publishToPatterns(_ message: UnsafeRawBufferPointer, on channel: UnsafeRawBufferPointer) -> Int {
        var receivers = 0
        // Through pointers, so that the loop borrows the routes rather than
        // copying (and retaining) each.
        routes.withUnsafeBufferPointer { routes in
            for index in routes.indices where routes[index].glob.matches(channel) {
                routes[index].head.withUnsafeBytes { head in
                    routes[index].subscribers.withUnsafeBufferPointer { subscribers in
                        for subscriber in subscribers {
                            subscriber._withUnsafeGuaranteedRef {
                                add(PushMessage(head: head, channel: channel, payload: message), for: $0)
                            }
                        }
                    }
                }
                receivers += routes[index].subscribers.count
            }
        }
        return receivers
    }

    /// Adds message to subscriber's share, encoded as it expects it.
    func add(_ message: PushMessage, for subscriber: Subscriber) {
        let index = share(of: subscriber)
        message.write(to: &shares[index].messages, resp3: subscriber.resp3.load(ordering: .relaxed))
        if shares[index].messages.readableBytes >= Self.handOverBytes { handOver(index) }
    }

    /// Hands every share to its subscriber.
    func deliver() {
        guard !shares.isEmpty else { return }
        for index in shares.indices { handOver(index) }
        shares.removeAll(keepingCapacity: true)
        shareIndex.removeAll(keepingCapacity: true)
    }

    /// Hands subscriber's share over, if it has one: the connection is
    /// about to collect its own messages.
    func deliver(to subscriber: Subscriber) {
        if let index = shareIndex[ObjectIdentifier(subscriber)] { handOver(index) }
    }

    private func share(of subscriber: Subscriber) -> Int {
        // One subscriber (a monitor of every event) is the common case.
        let id = ObjectIdentifier(subscriber)
        if let last = shares.indices.last, shares[last].id == id { return last }
        if let index = shareIndex[id] { return index }
        shares.append(Share(id: id, subscriber: subscriber, messages: allocator.buffer(capacity: 1024)))
        shareIndex[id] = shares.count - 1
        return shares.count - 1
    }

    private func handOver(_ index: Int) {
        guard shares[index].messages.readableBytes > 0 else { return }
        shares[index].subscriber.deliver(encoded: &shares[index].messages)
        shares[index].messages.clear()
    }
}
