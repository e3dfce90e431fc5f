import NIOCore
import Testing
@testable import TTLKVServer

/// A connection's publish batch driven directly: what it holds, what it
/// keeps alive, and what it drops (PubSub/PublishBatch.swift).
@Suite struct PublishBatchTests {
    private let channel = Array("c".utf8)

    private func subscriber(on pubSub: PubSub, hardLimit: Int = 0, pattern: Bool = false) -> Subscriber {
        let limit = OutputBufferLimitSetting(OutputBufferLimit(hardBytes: hardLimit, softBytes: 0, softSeconds: 0))
        let subscriber = Subscriber(link: CountingLink(), limit: limit, resp3: false)
        _ = pattern ? pubSub.subscribe(subscriber, toPattern: ChannelName(Array("c*".utf8)))
            : pubSub.subscribe(subscriber, to: ChannelName(channel))
        return subscriber
    }

    private func publish(_ payload: [UInt8], on pubSub: PubSub, _ batch: PublishBatch) -> Int {
        channel.withUnsafeBytes { channel in payload.withUnsafeBytes { pubSub.publish($0, to: channel, batch: batch) } }
    }

    /// A message past the hand-over size goes straight to the outbox, its
    /// size checked against the limit before it is copied anywhere: a 1 MiB
    /// PUBLISH to 50 subscribers limited to 256 KiB copies nothing (it was
    /// encoded into each share first, 50 MiB in all).
    @Test func aLargeMessageIsCheckedBeforeItIsCopied() {
        let pubSub = PubSub()
        let subscribers = (0..<50).map { _ in subscriber(on: pubSub, hardLimit: 256 << 10) }
        let batch = PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator())
        #expect(publish(Array("small".utf8), on: pubSub, batch) == 50)
        #expect(publish([UInt8](repeating: 120, count: 1 << 20), on: pubSub, batch) == 50)
        #expect(batch.heldCapacity <= 50 * 1024)
        #expect(batch.heldBytes == 0)
        for subscriber in subscribers {
            // The small message went first; the large one cut it off.
            #expect(subscriber.handOvers == 1)
            #expect(subscriber.outputBytes == 0)
        }
        batch.deliver()
    }

    /// A publish that reaches many subscribers makes a share each; the
    /// batch hands them all over once it holds its size, so 200 messages
    /// to 1,000 subscribers never hold more than that.
    @Test func aFanOutIsHandedOverAtTheBatchSize() {
        let pubSub = PubSub()
        let subscribers = (0..<1000).map { _ in subscriber(on: pubSub) }
        let batch = PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator())
        var peak = 0
        for _ in 0..<200 {
            #expect(publish([UInt8](repeating: 120, count: 100), on: pubSub, batch) == 1000)
            peak = max(peak, batch.heldBytes)
        }
        batch.deliver()
        #expect(peak < PublishBatch.batchBytes)
        let size = 4 + 13 + 4 + 1 + 2 + 6 + 100 + 2 // *3 message, $1 c, $100 payload
        for subscriber in subscribers { #expect(subscriber.outputBytes == 200 * size) }
    }

    /// The batch's copy of the pattern table keeps its subscribers alive
    /// only until the table changes and the batch's read ends.
    @Test func aStalePatternTableLetsItsSubscribersGo() {
        let pubSub = PubSub()
        let batch = PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator())
        weak var gone: Subscriber?
        do {
            let subscriber = subscriber(on: pubSub, pattern: true)
            gone = subscriber
            #expect(publish(Array("m".utf8), on: pubSub, batch) == 1)
            batch.deliver()
            #expect(pubSub.unsubscribe(subscriber, fromPattern: ChannelName(Array("c*".utf8))))
        }
        batch.deliver()
        #expect(gone == nil)
    }

    /// Messages matched before their subscriber left its last channel, and
    /// handed over after, are dropped: the client may be back to normal
    /// commands, and would read one as a reply.
    @Test func messagesMatchedBeforeTheLastUnsubscribeAreDropped() {
        let pubSub = PubSub()
        let subscriber = subscriber(on: pubSub)
        let batch = PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator())
        #expect(publish(Array("before".utf8), on: pubSub, batch) == 1)
        _ = pubSub.unsubscribe(subscriber, from: ChannelName(channel))
        subscriber.endEpoch()
        batch.deliver()
        #expect(subscriber.outputBytes == 0)
        // Subscribed again: a new epoch, delivered as usual.
        _ = pubSub.subscribe(subscriber, to: ChannelName(channel))
        #expect(publish(Array("after".utf8), on: pubSub, batch) == 1)
        batch.deliver()
        let one = subscriber.outputBytes
        #expect(one > 0)
        // Both in one read: the old epoch's message is dropped, the new
        // one's delivered (a share holds one epoch's messages).
        #expect(publish(Array("after".utf8), on: pubSub, batch) == 1)
        _ = pubSub.unsubscribe(subscriber, from: ChannelName(channel))
        subscriber.endEpoch()
        _ = pubSub.subscribe(subscriber, to: ChannelName(channel))
        #expect(publish(Array("after".utf8), on: pubSub, batch) == 1)
        batch.deliver()
        #expect(subscriber.outputBytes == 2 * one)
    }

    /// A pattern's subscribers are matched with the epoch they had when
    /// the pattern table was taken: a message matched from a table taken
    /// before the subscriber left its last pattern is dropped, straight
    /// (the expiry worker's) or batched, even once the epoch has moved on.
    @Test func aPatternMatchKeepsTheEpochOfItsTable() {
        let pubSub = PubSub()
        let subscriber = subscriber(on: pubSub, pattern: true)
        let batch = PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator())
        #expect(publish(Array("m".utf8), on: pubSub, batch) == 1)
        batch.deliver()
        let one = subscriber.outputBytes
        // The unsubscribe in flight: the epoch has ended, the table not yet
        // changed (the publisher took it just before).
        subscriber.endEpoch()
        #expect(publish(Array("m".utf8), on: pubSub, batch) == 1)
        batch.deliver()
        _ = channel.withUnsafeBytes { channel in Array("m".utf8).withUnsafeBytes { pubSub.publish($0, to: channel) } }
        #expect(subscriber.outputBytes == one)
    }
}
