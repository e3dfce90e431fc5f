import NIOCore
import NIOEmbedded
import Testing
@testable import TTLKVServer

/// Pub/sub through connections on EmbeddedChannels sharing one server:
/// delivery across connections, subscriber mode, RESP3 order, what a
/// closed connection leaves behind, and the output buffer limit.
@Suite struct PubSubTests {
    private func message(_ channel: String, _ payload: String) -> String {
        "*3\r\n$7\r\nmessage\r\n$\(channel.utf8.count)\r\n\(channel)\r\n$\(payload.utf8.count)\r\n\(payload)\r\n"
    }

    @Test func aMessageReachesEverySubscriberOnce() throws {
        let publisher = try TestConnection()
        let subscribers = try (0..<3).map { _ in try TestConnection(sharing: publisher) }
        for subscriber in subscribers {
            _ = try subscriber.send(request("SUBSCRIBE", "ch") + request("PSUBSCRIBE", "c*"))
        }
        #expect(try publisher.send(request("PUBLISH", "ch", "hi")) == ":6\r\n")
        let pmessage = "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n"
        for subscriber in subscribers { #expect(try subscriber.output() == message("ch", "hi") + pmessage) }
        #expect(try publisher.send(request("PUBLISH", "other", "x")) == ":0\r\n")
    }

    @Test func messagesWaitingComeBeforeTheRepliesOfLaterRequests() throws {
        let publisher = try TestConnection()
        let subscriber = try TestConnection(sharing: publisher)
        _ = try subscriber.send(request("HELLO", "3") + request("SUBSCRIBE", "ch"))
        _ = try publisher.send(request("PUBLISH", "ch", "1"))
        // The request arrives before the event loop ran the hand-over task.
        try subscriber.channel.writeInbound(subscriber.channel.allocator.buffer(string: request("PING")))
        subscriber.channel.pipeline.fireChannelReadComplete()
        #expect(try subscriber.output() == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\n1\r\n+PONG\r\n")
    }

    @Test func subscriberModeAllowsOnlyTheSubscribeFamily() throws {
        let connection = try TestConnection()
        _ = try connection.send(request("SUBSCRIBE", "a"))
        #expect(try connection.send(request("GET", "k")).hasPrefix("-ERR Can't execute 'get': only (P|S)SUBSCRIBE"))
        #expect(try connection.send(request("CONFIG", "GET", "port")).hasPrefix("-ERR Can't execute 'config|get'"))
        #expect(try connection.send(request("CONFIG", "NOPE")).hasPrefix("-ERR unknown subcommand 'NOPE'"))
        #expect(try connection.send(request("PING")) == "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        #expect(try connection.send(request("UNSUBSCRIBE")) == "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n")
        #expect(try connection.send(request("GET", "k")) == "$-1\r\n")
    }

    @Test func aClosedConnectionLeavesNoSubscription() throws {
        let publisher = try TestConnection()
        let subscriber = try TestConnection(sharing: publisher)
        _ = try subscriber.send(request("SUBSCRIBE", "a", "b") + request("PSUBSCRIBE", "*"))
        #expect(!publisher.server.pubSub.isEmpty)
        try subscriber.channel.close().wait()
        #expect(publisher.server.pubSub.isEmpty)
        #expect(try publisher.send(request("PUBLISH", "a", "x")) == ":0\r\n")
    }

    @Test func aSubscriberThatDoesNotReadIsCutOffAtTheHardLimit() throws {
        let publisher = try TestConnection { $0.pubSubOutputBufferLimit = OutputBufferLimit(hardBytes: 10_000, softBytes: 0, softSeconds: 0) }
        let subscriber = try TestConnection(sharing: publisher)
        _ = try subscriber.send(request("SUBSCRIBE", "ch"))
        // The subscriber's event loop does not run meanwhile, so its outbox
        // is never taken: a client that does not read.
        let payload = String(repeating: "x", count: 1000)
        for _ in 0..<100 { #expect(try publisher.send(request("PUBLISH", "ch", payload)) == ":1\r\n") }
        // 1,029 bytes a message: the tenth would have taken it to 10,290,
        // and the outbox was dropped then.
        #expect(publisher.server.outputBufferLimit.disconnections.load(ordering: .relaxed) == 1)
        #expect(try subscriber.output() == "")
        #expect(!subscriber.channel.isActive)
        #expect(publisher.server.pubSub.isEmpty)
    }

    private func pmessage(_ pattern: String, _ channel: String, _ payload: String) -> String {
        "*4\r\n$8\r\npmessage\r\n$\(pattern.utf8.count)\r\n\(pattern)\r\n" + String(decoding: message(channel, payload).utf8.dropFirst(17), as: UTF8.self)
    }

    /// A subscriber driven directly, subscribed to every keyevent channel
    /// and to "ch" on publisher's server.
    private func eventSubscriber(on publisher: TestConnection) -> Subscriber {
        let subscriber = Subscriber(link: CountingLink(), limit: unlimitedOutput, resp3: false)
        _ = publisher.server.pubSub.subscribe(subscriber, toPattern: ChannelName(Array("__keyevent@0__:*".utf8)))
        _ = publisher.server.pubSub.subscribe(subscriber, to: ChannelName(Array("ch".utf8)))
        return subscriber
    }

    private func taken(_ subscriber: Subscriber) -> String {
        var replies = Replies(allocator: ByteBufferAllocator())
        subscriber.written(subscriber.take(into: &replies))
        return String(buffer: replies.buffer)
    }

    /// What one read of pipelined commands publishes reaches a subscriber
    /// in one hand-over of its outbox, in the order the commands ran
    /// (APPENDs, applied as a group, included). One hand-over a message
    /// took every subscriber's lock 36 times here.
    @Test func aPipelinedReadHandsItsMessagesOverOnce() throws {
        let publisher = try TestConnection(countingHandOvers: "KEA")
        let subscriber = eventSubscriber(on: publisher)
        let sets = (0..<32).map { request("SET", "k\($0)", "v") }.joined()
        let replies = try publisher.send(sets + request("APPEND", "k0", "w") + request("DEL", "k1")
            + request("PUBLISH", "ch", "hi") + request("INCR", "n"))
        #expect(replies == String(repeating: "+OK\r\n", count: 32) + ":2\r\n:1\r\n:1\r\n:1\r\n")
        #expect(subscriber.handOvers == 1)
        let event = { (name: String, key: String) in self.pmessage("__keyevent@0__:*", "__keyevent@0__:" + name, key) }
        let expected = (0..<32).map { event("set", "k\($0)") }.joined() + event("append", "k0") + event("del", "k1")
            + message("ch", "hi") + event("incrby", "n")
        #expect(taken(subscriber) == expected)
    }

    /// A command that gives a key a deadline hands the batch over when it
    /// ends: the expiry worker publishes `expired` straight to the
    /// subscribers, and must not overtake the key's `set` and `expire`.
    @Test func aCommandThatGivesADeadlineHandsOverWhenItEnds() throws {
        let publisher = try TestConnection(countingHandOvers: "KEA")
        let subscriber = eventSubscriber(on: publisher)
        _ = try publisher.send(request("SET", "a", "v") + request("SET", "k", "v", "PX", "100000") + request("SET", "b", "v"))
        #expect(subscriber.handOvers == 2)
        _ = try publisher.send(request("SET", "a", "v") + request("EXPIRE", "a", "100") + request("SET", "b", "v"))
        #expect(subscriber.handOvers == 4)
    }

    /// Under a budget that evicts, every write hands the batch over when it
    /// ends: a later write of the read may evict a key the batch tells of,
    /// and the worker publishes `evicted` straight to the subscribers.
    @Test func everyWriteHandsOverWhenWritesMayEvict() throws {
        let publisher = try TestConnection {
            $0.notifyKeyspaceEvents = "KEA"
            $0.publishHoldNanoseconds = .max
            $0.maximumMemory = 64 << 20
            $0.maximumMemoryPolicy = "allkeys-lru"
        }
        let subscriber = eventSubscriber(on: publisher)
        _ = try publisher.send((0..<10).map { request("SET", "k\($0)", "v") }.joined())
        #expect(subscriber.handOvers == 10)
        _ = try publisher.send(request("CONFIG", "SET", "maxmemory-policy", "noeviction"))
        _ = try publisher.send((0..<10).map { request("SET", "k\($0)", "v") }.joined())
        #expect(subscriber.handOvers == 11)
    }

    /// A batch that has held messages for its hold time is handed over
    /// after the command running then: with no time to hold, after each.
    @Test func aBatchHeldPastItsTimeHandsOverAfterTheCommand() throws {
        let publisher = try TestConnection {
            $0.notifyKeyspaceEvents = "KEA"
            $0.publishHoldNanoseconds = 0
        }
        let subscriber = eventSubscriber(on: publisher)
        _ = try publisher.send((0..<10).map { request("SET", "k\($0)", "v") }.joined())
        #expect(subscriber.handOvers == 10)
    }

    /// A command that publishes much (an MSET of 3,000 keys, about 270 KB
    /// of messages) hands them over as it goes rather than holding them all
    /// until its read is done.
    @Test func aCommandThatPublishesMuchHandsItOverAsItGoes() throws {
        let publisher = try TestConnection(countingHandOvers: "E$")
        let subscriber = eventSubscriber(on: publisher)
        let keys = (0..<3000).map { "key:\($0)" }
        #expect(try publisher.send(request(["MSET"] + keys.flatMap { [$0, "v"] })) == "+OK\r\n")
        let expected = keys.map { pmessage("__keyevent@0__:*", "__keyevent@0__:set", $0) }.joined()
        #expect(subscriber.handOvers >= expected.utf8.count / PublishBatch.handOverBytes)
        #expect(subscriber.handOvers <= expected.utf8.count / PublishBatch.handOverBytes + 1)
        #expect(taken(subscriber) == expected)
    }

    /// The output buffer limit still cuts off a subscriber that does not
    /// read when the messages come from one pipelined read.
    @Test func aPipelinedFloodCutsOffASubscriberThatDoesNotRead() throws {
        let publisher = try TestConnection { $0.pubSubOutputBufferLimit = OutputBufferLimit(hardBytes: 10_000, softBytes: 0, softSeconds: 0) }
        let subscriber = try TestConnection(sharing: publisher)
        _ = try subscriber.send(request("SUBSCRIBE", "ch"))
        let payload = String(repeating: "x", count: 1000)
        let flood = String(repeating: request("PUBLISH", "ch", payload), count: 100)
        #expect(try publisher.send(flood) == String(repeating: ":1\r\n", count: 100))
        #expect(publisher.server.outputBufferLimit.disconnections.load(ordering: .relaxed) == 1)
        #expect(try subscriber.output() == "")
        #expect(!subscriber.channel.isActive)
    }

    @Test func theSoftLimitCutsOffOnlyAfterItsSeconds() {
        let limit = OutputBufferLimit(hardBytes: 100, softBytes: 50, softSeconds: 2)
        var since: Int64?
        #expect(!limit.overflows(used: 60, since: &since, now: { 1000 }))
        #expect(since == 1000)
        #expect(!limit.overflows(used: 60, since: &since, now: { 3000 }))
        #expect(!limit.overflows(used: 10, since: &since, now: { 3500 }))
        #expect(since == nil)
        #expect(!limit.overflows(used: 60, since: &since, now: { 4000 }))
        #expect(limit.overflows(used: 60, since: &since, now: { 6001 }))
        #expect(limit.overflows(used: 100, since: &since, now: { 0 }))
        var never: Int64?
        #expect(!OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0).overflows(used: 1 << 40, since: &never, now: { 0 }))
    }

    @Test func limitsParseAsRedisWritesThem() throws {
        let current = OutputBufferLimit()
        #expect(try OutputBufferLimit.parse("pubsub 32mb 8mb 60", current: current).get() == current)
        #expect(try OutputBufferLimit.parse("normal 0 0 0 pubsub 1gb 1k 5", current: current).get()
            == OutputBufferLimit(hardBytes: 1 << 30, softBytes: 1000, softSeconds: 5))
        #expect(try OutputBufferLimit.parse("replica 1mb 1mb 1", current: current).get() == current)
        #expect(throws: ConfigError("Wrong number of arguments in buffer limit configuration.")) {
            try OutputBufferLimit.parse("pubsub 1mb", current: current).get()
        }
        #expect(throws: ConfigError("Invalid client class specified in buffer limit configuration.")) {
            try OutputBufferLimit.parse("foo 1 1 1", current: current).get()
        }
        #expect(throws: ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")) {
            try OutputBufferLimit.parse("pubsub 1xb 1 1", current: current).get()
        }
        #expect((try? OutputBufferLimit.parse("normal 1mb 0 0", current: current).get()) == nil)
    }
}
