/// The channels and patterns one connection subscribes to, owned by its
/// event loop, and its ``Subscriber``, which the publishers see.
final class Subscriptions {
    let subscriber: Subscriber
    /// Each name with the order it was subscribed in: UNSUBSCRIBE and
    /// PUNSUBSCRIBE without arguments go through them in that order.
    private var channels: [ChannelName: Int] = [:]
    private var patterns: [ChannelName: Int] = [:]
    private var sequence = 0
    /// Bytes of messages moved into the connection's replies and not yet
    /// taken by the socket (see ``Subscriber/take(into:)``).
    var unwritten = 0

    init(subscriber: Subscriber) {
        self.subscriber = subscriber
    }

    /// Channels and patterns together, as the subscribe replies count them.
    var count: Int { channels.count + patterns.count }

    /// Subscribes to channel (pattern: to a pattern); returns the count after.
    func subscribe(_ name: ChannelName, pattern: Bool, in pubSub: PubSub) -> Int {
        let added = pattern ? pubSub.subscribe(subscriber, toPattern: name) : pubSub.subscribe(subscriber, to: name)
        if added {
            sequence += 1
            if pattern { patterns[name] = sequence } else { channels[name] = sequence }
        }
        return count
    }

    /// Unsubscribes from channel (pattern: from a pattern); returns the
    /// count after.
    func unsubscribe(_ name: ChannelName, pattern: Bool, in pubSub: PubSub) -> Int {
        if pattern {
            if patterns.removeValue(forKey: name) != nil { _ = pubSub.unsubscribe(subscriber, fromPattern: name) }
        } else {
            if channels.removeValue(forKey: name) != nil { _ = pubSub.unsubscribe(subscriber, from: name) }
        }
        return count
    }

    /// Every channel (pattern: every pattern), in the order subscribed.
    func names(pattern: Bool) -> [ChannelName] {
        (pattern ? patterns : channels).sorted { $0.value < $1.value }.map(\.key)
    }

    /// Leaves every channel and pattern: the connection is gone.
    func removeAll(from pubSub: PubSub) {
        for name in channels.keys { _ = pubSub.unsubscribe(subscriber, from: name) }
        for name in patterns.keys { _ = pubSub.unsubscribe(subscriber, fromPattern: name) }
        channels = [:]
        patterns = [:]
        // Publishers' batches may still hold it: they find it closed.
        subscriber.detach()
    }

    /// Moves the messages waiting in the outbox into replies, after what
    /// is there already, so that they go out in the order they came.
    func collect(into replies: inout Replies) {
        unwritten += subscriber.take(into: &replies)
    }
}
