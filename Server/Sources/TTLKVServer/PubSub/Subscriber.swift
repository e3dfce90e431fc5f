/*
 A subscribed connection's outbox: where publishers, on any thread, leave
 its messages, and where its event loop picks them up.

 A connection's commands hand over the messages their read published, as
 one encoded run (PublishBatch.swift); the expiry worker, and any message
 too large to batch, encode one message straight into the outbox's buffer.
 Either way it happens under the outbox's lock, and if the outbox was
 empty the connection's event loop is asked to write it out (one task per
 batch, however many messages join it before the task runs). The loop moves the outbox into its replies and writes them;
 the bytes stay counted until the socket has taken them. The emptied
 buffer goes back to the outbox for the next messages (up to
 `keptCapacity`): freed and allocated anew at every collection, thousands
 of times a second with every keyspace event on, it made glibc give the top
 of its heap back to the system (an madvise, a TLB shootdown) and fault it
 in again, a page fault every 60 pipelined SETs.

 The count is Redis's output buffer, and Redis's pub/sub limit applies to
 it: a message that would take it to the hard limit, or that finds it at
 the soft limit for longer than the soft limit's seconds, disconnects the
 subscriber instead of being added. Its outbox is dropped at once and the
 close goes through its event loop, so a subscriber that never reads holds
 at most the hard limit, and the publisher never waits for it.
 */
import NIOCore
import Synchronization
@_spi(Internals) import TTLKV

/// Sent to a connection's pipeline when its outbox has messages to write.
struct OutboxReady: Sendable {}

/// What a subscriber needs of its connection: where to allocate, how to
/// have the outbox collected, how to be closed. Both calls come from any
/// thread, inside no lock, and must not run the connection's code right
/// there (its event loop runs it later).
protocol SubscriberLink: Sendable {
    var allocator: ByteBufferAllocator { get }
    /// Has the connection's event loop collect the outbox.
    func wake()
    /// Closes the connection: it passed its output buffer limit.
    func close()
}

/// A subscriber's connection: its channel, reached through its event loop.
struct ChannelLink: SubscriberLink {
    let channel: any Channel

    var allocator: ByteBufferAllocator { channel.allocator }

    func wake() {
        let channel = self.channel
        channel.eventLoop.execute { channel.pipeline.fireUserInboundEventTriggered(OutboxReady()) }
    }

    func close() {
        let channel = self.channel
        channel.eventLoop.execute { channel.close(promise: nil) }
    }
}

/// One connection's side of pub/sub, shared with the publishers.
final class Subscriber: Sendable {
    private struct Outbox {
        var buffer: ByteBuffer?
        /// Bytes in `buffer`, and bytes handed to the channel that the socket
        /// has not taken yet: together Redis's output buffer.
        var queued = 0
        var inFlight = 0
        /// A task to write the outbox is on its way to the event loop.
        var wakeScheduled = false
        var closed = false
        /// When the output was first seen at or above the soft limit
        /// (uptime milliseconds); nil while it is below.
        var softLimitSince: Int64?
        /// Deliveries so far, each one hold of the lock.
        var handOvers = 0
    }

    private let link: any SubscriberLink
    private let allocator: ByteBufferAllocator
    private let limit: OutputBufferLimitSetting
    private let outbox = Locked(Outbox())
    /// Whether messages are pushes (RESP3) or arrays (RESP2).
    let resp3: Atomic<Bool>
    private let epochs = Atomic<Int>(0)

    /// An emptied outbox buffer up to this size is kept for the next
    /// messages; a larger one (a burst, in memory of its own mapping) is let
    /// go. The connection's replies buffer keeps up to the same.
    static let keptCapacity = 1 << 20

    init(link: any SubscriberLink, limit: OutputBufferLimitSetting, resp3: Bool) {
        self.link = link
        allocator = link.allocator
        self.limit = limit
        self.resp3 = Atomic(resp3)
    }

    /// Adds message, matched in `epoch`, to the outbox, or disconnects the
    /// subscriber if that would pass its output buffer limit; drops it if
    /// the epoch has moved on. Any thread.
    func deliver(_ message: PushMessage, epoch: Int) {
        let resp3 = resp3.load(ordering: .relaxed)
        handOver(size: message.encodedSize, epoch: epoch) { message.write(to: &$0, resp3: resp3) }
    }

    /// Adds messages a publish batch encoded for this subscriber (see
    /// PublishBatch.swift) to the outbox in one lock hold, under the same
    /// limit; drops them if they were matched in an earlier epoch. Any
    /// thread.
    func deliver(encoded messages: inout ByteBuffer, epoch: Int) {
        handOver(size: messages.readableBytes, epoch: epoch) { $0.writeBuffer(&messages) }
    }

    /// Which epoch the subscriber is in: one more each time it leaves its
    /// last channel and pattern.
    var epoch: Int { epochs.load(ordering: .relaxed) }

    /// The connection left its last channel and pattern: messages matched
    /// before, still waiting in publishers' batches, are dropped when they
    /// come (a RESP2 client back to normal commands would read one as a
    /// reply). On the connection's event loop, before it collects the
    /// outbox and confirms.
    func endEpoch() {
        outbox.withLock { _ in _ = epochs.add(1, ordering: .relaxed) }
    }

    /// The connection is gone: drops the outbox and everything after it.
    func detach() {
        outbox.withLock { box in
            box.closed = true
            box.buffer = nil
            box.queued = 0
        }
    }

    /// Writes size bytes into the outbox, or disconnects the subscriber.
    private func handOver(size: Int, epoch: Int, _ write: (inout ByteBuffer) -> Void) {
        let limit = limit.value
        let action = outbox.withLock { box -> Action in
            guard !box.closed else { return .none }
            // Compared and ended under this lock: a batch's messages are
            // either collected before the epoch's last confirmation or
            // dropped.
            if epoch != epochs.load(ordering: .relaxed) { return .none }
            let used = box.queued + box.inFlight + size
            if limit.overflows(used: used, since: &box.softLimitSince, now: Self.now) {
                box.closed = true
                box.buffer = nil
                box.queued = 0
                return .close
            }
            if box.buffer == nil { box.buffer = allocator.buffer(capacity: max(size, 4096)) }
            write(&box.buffer!)
            box.queued += size
            box.handOvers += 1
            guard !box.wakeScheduled else { return .none }
            box.wakeScheduled = true
            return .wake
        }
        switch action {
        case .none:
            break
        case .wake:
            link.wake()
        case .close:
            self.limit.disconnections.add(1, ordering: .relaxed)
            link.close()
        }
    }

    private enum Action { case none, wake, close }

    /// Moves the outbox into replies; returns the bytes moved, which stay
    /// counted until ``written(_:)``. On the connection's event loop.
    func take(into replies: inout Replies) -> Int {
        guard var buffer = outbox.withLock({ box -> ByteBuffer? in
            box.wakeScheduled = false
            defer {
                box.inFlight += box.queued
                box.queued = 0
                box.buffer = nil
            }
            return box.buffer
        }) else { return 0 }
        let count = buffer.readableBytes
        replies.buffer.writeBuffer(&buffer)
        guard buffer.capacity <= Self.keptCapacity else { return count }
        buffer.clear()
        outbox.withLock { box in
            // Unless a publisher has started another meanwhile, or the
            // subscriber is gone.
            if box.buffer == nil && !box.closed { box.buffer = buffer }
        }
        return count
    }

    /// The socket has taken count bytes that ``take(into:)`` moved.
    func written(_ count: Int) {
        outbox.withLock { $0.inFlight -= count }
    }

    /// Unsent output, as Redis counts a client's output buffer.
    var outputBytes: Int {
        outbox.withLock { $0.queued + $0.inFlight }
    }

    /// How many deliveries reached the outbox (each took its lock once).
    var handOvers: Int {
        outbox.withLock { $0.handOvers }
    }

    private static func now() -> Int64 {
        Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000)
    }
}

extension OutputBufferLimit {
    /// Redis's checkClientOutputBufferLimits: at or over the hard limit, or
    /// at or over the soft one for more than its seconds (the clock starts
    /// at the first message that finds it there, and stops when one finds
    /// it below).
    /// `now` (milliseconds) is read only over the soft limit.
    func overflows(used: Int, since: inout Int64?, now: () -> Int64) -> Bool {
        if hardBytes > 0 && used >= hardBytes { return true }
        guard softBytes > 0 && used >= softBytes else {
            since = nil
            return false
        }
        guard let start = since else {
            since = now()
            return false
        }
        return now() - start > Int64(softSeconds) * 1000
    }
}
