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
 in copies of its own so that a publish retains nothing another loop
 retains (a shared reference count is a cache line moving between cores),
 and takes it again only after a PSUBSCRIBE or PUNSUBSCRIBE changed it; it
 lets go of a changed table when its read ends, so an idle connection keeps
 no subscriber alive.

 What stays as it was:
 - A subscriber gets one connection's messages in the order its commands
   ran, and a RESP3 client subscribed to its own events gets them where a
   command places them among its replies (the command hands its own share
   over first).
 - A command's messages are in the outboxes before its reply is written:
   a client that saw the reply and then has another connection write sees
   the two writes' messages in that order.
 - A key's events come before the expiry worker's `expired` or `evicted`
   for it, which go straight to the outboxes: a command that gives a key a
   deadline (its `expire` event) hands the batch over when it ends, as does
   every write while writes may evict, and no batch holds messages for
   more than a millisecond past the command running then. (A write to a
   key that already has a deadline, an INCR or a RENAME, is covered by that
   millisecond alone: its deadline would have to fall within it.)
 - The output buffer limit counts every message before it is copied: a
   message of `handOverBytes` or more goes straight to its outbox, a share
   is handed over once it holds that much, and the whole batch once it
   holds `batchBytes` (a publish to thousands of subscribers), so a batch
   holds little and a subscriber that does not read is cut off as before.
 What moves: a message is matched when its command runs and reaches the
 outbox later in the read. A subscriber that unsubscribes from a channel
 in between may get it after the confirmation; one that has left its last
 channel and pattern does not, since a RESP2 client back to normal
 commands would read it as a reply: a message carries the subscriber's
 epoch as it was read under the lock its subscription changes under (the
 channel's shard, or the pattern table when the batch's copy was taken),
 a share holds one epoch's messages, and a hand-over from an epoch that
 has ended is dropped.
 */
import NIOCore

/// A connection's publishes, per subscriber, until the end of its read;
/// owned by the connection's event loop.
final class PublishBatch {
    /// A share past this many bytes is handed over at once, and a message
    /// this large goes straight to its subscriber (its size checked against
    /// the limit before it is copied).
    static let handOverBytes = 64 * 1024
    /// The whole batch is handed over past this many bytes (a publish to
    /// thousands of subscribers makes a share each).
    static let batchBytes = 256 * 1024
    /// A batch that has held messages this long is handed over after the
    /// command that is running, so that a read that takes long (a large
    /// EXEC, a write waiting for the budget) holds nothing long.
    static let holdNanoseconds: UInt64 = 1_000_000

    private struct Share {
        let id: ObjectIdentifier
        let subscriber: Subscriber
        /// The epoch its messages were matched in (Subscriber.swift).
        var epoch: Int
        var messages: ByteBuffer
    }

    /// A pattern as this batch matches it: its parts copied into a block
    /// of memory the batch owns, so that matching it and encoding its
    /// messages retain and release nothing.
    private struct Route {
        // Unsafe: each points into the route's block, freed only when the
        // batch drops its routes (on its event loop, never during a publish).
        let pattern: UnsafeRawBufferPointer
        let starsOnly: Bool
        let head: UnsafeRawBufferPointer
        /// Unretained: `entries` holds every one of them while the route exists.
        let subscribers: UnsafeBufferPointer<Unmanaged<Subscriber>>
        let epochs: UnsafeBufferPointer<Int>
        let block: UnsafeMutableRawPointer

        init(_ entry: PubSub.PatternEntry) {
            let count = entry.subscribers.count, words = 2 * count * MemoryLayout<Int>.stride
            block = .allocate(byteCount: words + entry.head.count + entry.name.bytes.count, alignment: MemoryLayout<Int>.alignment)
            let subscribers = block.bindMemory(to: Unmanaged<Subscriber>.self, capacity: count)
            let epochs = (block + count * MemoryLayout<Int>.stride).bindMemory(to: Int.self, capacity: count)
            for at in 0..<count {
                (subscribers + at).initialize(to: .passUnretained(entry.subscribers[at]))
                (epochs + at).initialize(to: entry.epochs[at])
            }
            self.subscribers = UnsafeBufferPointer(start: subscribers, count: count)
            self.epochs = UnsafeBufferPointer(start: epochs, count: count)
            head = Self.copy(entry.head, to: block + words)
            pattern = Self.copy(entry.name.bytes, to: block + words + entry.head.count)
            starsOnly = GlobPattern.isStarsOnly(entry.name.bytes)
        }

        private static func copy(_ bytes: [UInt8], to place: UnsafeMutableRawPointer) -> UnsafeRawBufferPointer {
            let copy = UnsafeMutableRawBufferPointer(start: place, count: bytes.count)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
            return UnsafeRawBufferPointer(copy)
        }
    }

    private let pubSub: PubSub
    private let allocator: ByteBufferAllocator
    /// `holdNanoseconds`, but for tests that count hand-overs.
    private let hold: UInt64
    // Unchecked: only the connection's event loop touches a batch, and no
    // access to these overlaps another (nothing re-enters the batch).
    @exclusivity(unchecked) private var shares: [Share] = []
    /// The share of each subscriber in `shares`.
    @exclusivity(unchecked) private var shareIndex: [ObjectIdentifier: Int] = [:]
    /// Bytes in all shares, and since when they have waited (uptime ns).
    private(set) var heldBytes = 0
    private var heldSince: UInt64 = 0
    /// Set by a command whose messages must not wait for the read's end.
    private var handOverAfterCommand = false
    /// The pattern table as this batch last took it (-1: none), and its
    /// entries, which keep the routes' subscribers alive. Apart, because
    /// reading the version from a snapshot retained its entries.
    private(set) var patternVersion = -1
    private var entries: [PubSub.PatternEntry] = []
    /// The table's routes, in memory the batch owns (freed by
    /// `dropRoutes`), so that a publish retains no array and checks no
    /// access to it. Unchecked for the same reason as `shares`.
    @exclusivity(unchecked) private var routes = UnsafeMutableBufferPointer<Route>(start: nil, count: 0)

    init(pubSub: PubSub, allocator: ByteBufferAllocator, holdNanoseconds hold: UInt64 = PublishBatch.holdNanoseconds) {
        self.pubSub = pubSub
        self.allocator = allocator
        self.hold = hold
    }

    deinit {
        dropRoutes()
    }

    /// The room its shares' buffers take (at most a share's hand-over size
    /// each, and no more than a handful past the batch's size in all).
    var heldCapacity: Int { shares.reduce(0) { $0 + $1.messages.capacity } }

    /// Matches against snapshot from now on.
    func use(_ snapshot: PubSub.PatternSnapshot) {
        dropRoutes()
        entries = snapshot.entries
        patternVersion = snapshot.version
        routes = .allocate(capacity: snapshot.entries.count)
        _ = routes.initialize(from: snapshot.entries.lazy.map(Route.init))
    }

    private func dropRoutes() {
        for route in routes { route.block.deallocate() }
        routes.deallocate()
        routes = UnsafeMutableBufferPointer(start: nil, count: 0)
    }

    /// Adds message on channel for every subscriber of a pattern that
    /// matches it; returns how many that made.
    func publishToPatterns(_ message: UnsafeRawBufferPointer, on channel: UnsafeRawBufferPointer) -> Int {
        var receivers = 0
        // Nothing below replaces the routes.
        for route in routes where GlobPattern.matches(route.pattern, starsOnly: route.starsOnly, channel) {
            for (at, subscriber) in route.subscribers.enumerated() {
                subscriber._withUnsafeGuaranteedRef {
                    add(PushMessage(head: route.head, channel: channel, payload: message), for: $0, epoch: route.epochs[at])
                }
            }
            receivers += route.subscribers.count
        }
        return receivers
    }

    /// Adds message, matched in `epoch`, to subscriber's share, encoded as
    /// it expects it. A share holds messages of one epoch: one of another
    /// (the subscriber left its last channel, and maybe came back, since)
    /// hands the share over first.
    func add(_ message: PushMessage, for subscriber: Subscriber, epoch: Int) {
        let size = message.encodedSize
        guard size < Self.handOverBytes else {
            deliver(to: subscriber)
            subscriber.deliver(message, epoch: epoch)
            return
        }
        let index = share(of: subscriber, epoch: epoch)
        if shares[index].epoch != epoch {
            handOver(index)
            shares[index].epoch = epoch
        }
        message.write(to: &shares[index].messages, resp3: subscriber.resp3.load(ordering: .relaxed))
        if heldBytes == 0 { heldSince = NIODeadline.now().uptimeNanoseconds }
        heldBytes += size
        if shares[index].messages.readableBytes >= Self.handOverBytes {
            handOver(index)
        } else if heldBytes >= Self.batchBytes {
            handOverAll()
        }
    }

    /// The running command's messages are to be handed over when it ends.
    func handOverWhenCommandEnds() {
        handOverAfterCommand = true
    }

    /// A command has run: hands the batch over if it asked to be, or if
    /// the batch has held messages for its hold time.
    func commandEnded() {
        guard heldBytes > 0 else {
            handOverAfterCommand = false
            return
        }
        if handOverAfterCommand || NIODeadline.now().uptimeNanoseconds &- heldSince >= hold {
            handOverAll()
        }
    }

    /// Hands every share to its subscriber: the read is done. Lets go of
    /// the pattern table if it has changed since it was taken, so that an
    /// idle connection keeps no subscriber alive.
    func deliver() {
        handOverAll()
        if patternVersion >= 0 && patternVersion != pubSub.patternTableVersion {
            entries = []
            patternVersion = -1
            dropRoutes()
        }
    }

    /// Hands subscriber's share over, if it has one: the connection is
    /// about to collect its own messages, or a large message follows.
    func deliver(to subscriber: Subscriber) {
        if let index = shareIndex[ObjectIdentifier(subscriber)] { handOver(index) }
    }

    private func handOverAll() {
        handOverAfterCommand = false
        guard !shares.isEmpty else { return }
        for index in shares.indices { handOver(index) }
        // A fan-out's many shares are not kept for the next read.
        let keep = shares.count <= 16
        shares.removeAll(keepingCapacity: keep)
        shareIndex.removeAll(keepingCapacity: keep)
    }

    private func share(of subscriber: Subscriber, epoch: Int) -> Int {
        // One subscriber (a monitor of every event) is the common case.
        let id = ObjectIdentifier(subscriber)
        if let last = shares.indices.last, shares[last].id == id { return last }
        if let index = shareIndex[id] { return index }
        shares.append(Share(id: id, subscriber: subscriber, epoch: epoch, messages: allocator.buffer(capacity: 1024)))
        shareIndex[id] = shares.count - 1
        return shares.count - 1
    }

    private func handOver(_ index: Int) {
        let size = shares[index].messages.readableBytes
        guard size > 0 else { return }
        shares[index].subscriber.deliver(encoded: &shares[index].messages, epoch: shares[index].epoch)
        shares[index].messages.clear()
        heldBytes -= size
    }
}
