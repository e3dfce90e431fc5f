import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Synchronization
import Testing
@_spi(Internals) import TTLKV
@testable import TTLKVServer

/// Publishers on several threads, a thread subscribing and unsubscribing
/// all the while, and a thread collecting the outboxes as event loops do:
/// every subscriber that stays subscribed gets exactly the messages meant
/// for it, none twice, none lost, whether published straight or through
/// a connection's batch (breaking `Subscriber.take` into two lock
/// holds on purpose lost 5 to 54 of 100,000 messages in a run of twice this size). Meant for ThreadSanitizer too
/// (`make test-server-tsan`).
@Suite struct PubSubStressTests {
    @Test func concurrentPublishersLoseNothing() throws {
        let pubSub = PubSub()
        let unlimited = unlimitedOutput
        let links = (0..<6).map { _ in CountingLink() }
        let subscribers = links.map { Subscriber(link: $0, limit: unlimited, resp3: false) }
        // Subscriber i listens to channel "c<i % 3>"; subscribers 3-5 also to "c*".
        for (index, subscriber) in subscribers.enumerated() {
            #expect(pubSub.subscribe(subscriber, to: ChannelName(Array("c\(index % 3)".utf8))))
            if index >= 3 { #expect(pubSub.subscribe(subscriber, toPattern: ChannelName(Array("c*".utf8)))) }
        }
        let publishers = 4, perPublisher = 10_000
        let received = Locked<[Int]>(Array(repeating: 0, count: subscribers.count))
        let done = Atomic<Bool>(false)
        let group = DispatchGroup()
        let queue = DispatchQueue.global()
        for publisher in 0..<publishers {
            queue.async(group: group) {
                // Odd publishers publish as connections do, through a batch
                // of their own delivered every few messages.
                let batch = publisher % 2 == 1 ? PublishBatch(pubSub: pubSub, allocator: ByteBufferAllocator()) : nil
                for index in 0..<perPublisher {
                    let channel = Array("c\((publisher + index) % 4)".utf8)
                    let payload = Array("m".utf8)
                    channel.withUnsafeBytes { channel in
                        payload.withUnsafeBytes { payload in _ = pubSub.publish(payload, to: channel, batch: batch) }
                    }
                    if index % 7 == 6 { batch?.deliver() }
                }
                batch?.deliver()
            }
        }
        // Churn: another subscriber comes and goes on the same names until
        // the publishers are done; the event loops' part collects outboxes.
        let churner = Subscriber(link: CountingLink(), limit: unlimited, resp3: false)
        let background = DispatchGroup()
        queue.async(group: background) {
            var rounds = 0
            while !done.load(ordering: .relaxed) || rounds < 100 {
                _ = pubSub.subscribe(churner, to: ChannelName(Array("c1".utf8)))
                _ = pubSub.subscribe(churner, toPattern: ChannelName(Array("c*".utf8)))
                _ = pubSub.unsubscribe(churner, from: ChannelName(Array("c1".utf8)))
                _ = pubSub.unsubscribe(churner, fromPattern: ChannelName(Array("c*".utf8)))
                rounds += 1
            }
        }
        queue.async(group: background) {
            var replies = Replies(allocator: ByteBufferAllocator())
            while true {
                let finished = done.load(ordering: .acquiring)
                var taken = 0
                for (index, subscriber) in subscribers.enumerated() {
                    let bytes = subscriber.take(into: &replies)
                    replies.buffer.clear()
                    received.withLock { $0[index] += bytes }
                    subscriber.written(bytes)
                    taken += bytes
                }
                if finished { break }
                // Let the publishers fill the outboxes: big batches, as on a busy loop.
                if taken == 0 { sched_yield() }
            }
        }
        group.wait()
        done.store(true, ordering: .releasing)
        background.wait()
        // Channel c<k> gets a quarter of the publishes (each publisher
        // cycles through c0-c3); the pattern subscribers get every one too.
        // Every message of a kind has the same size: bytes count messages.
        let total = publishers * perPublisher
        let (message, pmessage) = Array("c0mc*".utf8).withUnsafeBytes { bytes in
            let channel = UnsafeRawBufferPointer(rebasing: bytes[0..<2]), payload = UnsafeRawBufferPointer(rebasing: bytes[2..<3])
            let pattern = UnsafeRawBufferPointer(rebasing: bytes[3..<5])
            let patternHead = PushMessage.head(pattern: Array(pattern))
            return (PushMessage(head: PushMessage.messageHead.bytes, channel: channel, payload: payload).encodedSize,
                    patternHead.withUnsafeBytes { PushMessage(head: $0, channel: channel, payload: payload).encodedSize })
        }
        for index in subscribers.indices {
            let expected = total / 4 * message + (index >= 3 ? total * pmessage : 0)
            #expect(received.withLock { $0[index] } == expected, "subscriber \(index)")
            #expect(subscribers[index].outputBytes == 0)
        }
        #expect(links.allSatisfy { $0.closes.load(ordering: .relaxed) == 0 && $0.wakes.load(ordering: .relaxed) > 0 })
        #expect(pubSub.subscriberCount(of: ChannelName(Array("c1".utf8))) == 2)
        #expect(pubSub.patternsSubscribed == 1)
    }
}
