/*
 The server's channels and patterns, and publishing to them.

 Channels live in 16 shards, each a dictionary from channel name to its
 subscribers under a lock of its own: a PUBLISH locks one shard, finds the
 channel's subscribers and hands each its copy of the message (the copy
 goes into the subscriber's outbox, under the outbox's own lock, and the
 subscriber's event loop is told to write it), so two event loops
 publishing to different channels rarely meet, and publishing waits for no
 socket and no other client: a subscriber that does not read only fills
 its own outbox, up to its output buffer limit (Subscriber.swift).

 Patterns are a list that publishers match one by one, as Redis does. A
 publisher takes an immutable snapshot of it (every pattern with its
 subscribers) in one short hold of the table's lock, and matches and
 delivers outside it, so a publisher matching many patterns against a long
 channel name holds up no other publisher and no PSUBSCRIBE. The snapshot
 is rebuilt by the first publisher after a PSUBSCRIBE or PUNSUBSCRIBE
 changed the table, so a burst of them costs one rebuild (and one copy in
 each publishing connection's batch, PublishBatch.swift, which keeps the
 snapshot it took and takes the lock again only once the table's version,
 an atomic, has moved).

 Lock order: a shard or the pattern table, then a subscriber's outbox. Nothing here ever calls into a channel while
 holding a lock (waking or closing a subscriber goes through its event
 loop's task queue), so a subscriber's connection, closing on its loop and
 unsubscribing, never waits for a publisher that waits for it.

 Counts kept outside the locks (channels with subscribers, patterns) let a
 publisher with nobody to reach, the common case of keyspace
 notifications, skip the lookups: an atomic load each.
 */
import Synchronization
@_spi(Internals) import TTLKV

/// Every channel and pattern subscription of one server.
final class PubSub: Sendable {
    private final class Shard: Sendable {
        let channels = Locked<[ChannelName: [ObjectIdentifier: Subscriber]]>([:])
    }

    /// One pattern and its subscribers, as publishers see them.
    struct PatternEntry: Sendable {
        let name: ChannelName
        let glob: GlobPattern
        /// Its messages' head (PushMessage.head(pattern:)).
        let head: [UInt8]
        let subscribers: [Subscriber]
        /// Each subscriber's epoch when the entry was made, under the
        /// table's lock: a subscriber whose epoch has moved on since left
        /// this pattern, and the table has changed (Subscriber.swift).
        let epochs: [Int]
    }

    /// The pattern table as a publisher took it, and which version of it.
    struct PatternSnapshot: Sendable {
        let version: Int
        let entries: [PatternEntry]
    }

    private struct PatternTable {
        var byName: [ChannelName: [ObjectIdentifier: Subscriber]] = [:]
        /// The table as publishers take it; nil once the table changed.
        var snapshot: [PatternEntry]? = []
        /// One more at every change (mirrored in `patternVersion`).
        var version = 0

        mutating func current() -> [PatternEntry] {
            if let snapshot { return snapshot }
            let entries = byName.map {
                let subscribers = Array($0.value.values)
                return PatternEntry(name: $0.key, glob: GlobPattern($0.key.bytes), head: PushMessage.head(pattern: $0.key.bytes),
                                    subscribers: subscribers, epochs: subscribers.map(\.epoch))
            }
            snapshot = entries
            return entries
        }

        /// Marks the table changed, for publishers and their batches.
        mutating func changed(_ mirror: borrowing Atomic<Int>) {
            snapshot = nil
            version += 1
            mirror.store(version, ordering: .releasing)
        }
    }

    private static let shardCount = 16
    private let shards = (0..<PubSub.shardCount).map { _ in Shard() }
    private let patterns = Locked(PatternTable())
    private let channelCount = Atomic<Int>(0)
    private let patternCount = Atomic<Int>(0)
    /// The pattern table's version, read without its lock by publishers
    /// whose batch holds a snapshot of it.
    private let patternVersion = Atomic<Int>(0)

    /// The pattern table's version now (a batch's snapshot of another is stale).
    var patternTableVersion: Int { patternVersion.load(ordering: .acquiring) }

    /// Whether anyone is subscribed to anything: publishing to nobody costs
    /// this check alone.
    var isEmpty: Bool {
        channelCount.load(ordering: .relaxed) == 0 && patternCount.load(ordering: .relaxed) == 0
    }

    /// Channels with at least one subscriber (INFO `pubsub_channels`).
    var channels: Int { channelCount.load(ordering: .relaxed) }

    /// Patterns with at least one subscriber (PUBSUB NUMPAT, INFO `pubsub_patterns`).
    var patternsSubscribed: Int { patternCount.load(ordering: .relaxed) }

    private func shard(of channel: ChannelName) -> Shard {
        shards[Int(channel.shardHash % UInt32(Self.shardCount))]
    }

    // MARK: Subscribing

    /// Adds subscriber to channel; false if it was subscribed already.
    func subscribe(_ subscriber: Subscriber, to channel: ChannelName) -> Bool {
        shard(of: channel).channels.withLock { channels in
            let id = ObjectIdentifier(subscriber)
            if channels[channel] == nil { channelCount.add(1, ordering: .relaxed) }
            return channels[channel, default: [:]].updateValue(subscriber, forKey: id) == nil
        }
    }

    /// Removes subscriber from channel; false if it was not subscribed.
    func unsubscribe(_ subscriber: Subscriber, from channel: ChannelName) -> Bool {
        shard(of: channel).channels.withLock { channels in
            guard channels[channel]?.removeValue(forKey: ObjectIdentifier(subscriber)) != nil else { return false }
            if channels[channel]!.isEmpty {
                channels[channel] = nil
                channelCount.subtract(1, ordering: .relaxed)
            }
            return true
        }
    }

    /// Adds subscriber to pattern; false if it was subscribed already.
    func subscribe(_ subscriber: Subscriber, toPattern pattern: ChannelName) -> Bool {
        patterns.withLock { table in
            if table.byName[pattern] == nil { patternCount.add(1, ordering: .relaxed) }
            guard table.byName[pattern, default: [:]].updateValue(subscriber, forKey: ObjectIdentifier(subscriber)) == nil
            else { return false }
            table.changed(patternVersion)
            return true
        }
    }

    /// Removes subscriber from pattern; false if it was not subscribed.
    func unsubscribe(_ subscriber: Subscriber, fromPattern pattern: ChannelName) -> Bool {
        patterns.withLock { table in
            guard table.byName[pattern]?.removeValue(forKey: ObjectIdentifier(subscriber)) != nil else { return false }
            if table.byName[pattern]!.isEmpty {
                table.byName[pattern] = nil
                patternCount.subtract(1, ordering: .relaxed)
            }
            table.changed(patternVersion)
            return true
        }
    }

    // MARK: Publishing

    /// Sends message to every subscriber of channel and of each pattern
    /// that matches it; returns how many deliveries that made (a client
    /// reached through two patterns counts twice), as PUBLISH replies.
    /// With a batch (a connection's commands publishing), the messages wait
    /// in it until it is delivered; without (the expiry worker), they go
    /// straight to the outboxes.
    @discardableResult
    func publish(_ message: UnsafeRawBufferPointer, to channel: UnsafeRawBufferPointer, batch: PublishBatch? = nil) -> Int {
        var receivers = 0
        if channelCount.load(ordering: .relaxed) > 0 {
            let name = ChannelName(channel)
            receivers += shard(of: name).channels.withLock { channels in
                guard let subscribers = channels[name] else { return 0 }
                let head = PushMessage.messageHead.bytes
                for subscriber in subscribers.values {
                    // Read under the shard's lock, which UNSUBSCRIBE takes
                    // before it ends the epoch.
                    send(PushMessage(head: head, channel: channel, payload: message), to: subscriber, epoch: subscriber.epoch, batch)
                }
                return subscribers.count
            }
        }
        if patternCount.load(ordering: .relaxed) > 0, let batch {
            let version = patternVersion.load(ordering: .acquiring)
            if batch.patternVersion != version {
                batch.use(patterns.withLock { PatternSnapshot(version: $0.version, entries: $0.current()) })
            }
            receivers += batch.publishToPatterns(message, on: channel)
        } else if patternCount.load(ordering: .relaxed) > 0 {
            for entry in patterns.withLock({ $0.current() }) where entry.glob.matches(channel) {
                entry.head.withUnsafeBytes { head in
                    for (subscriber, epoch) in zip(entry.subscribers, entry.epochs) {
                        subscriber.deliver(PushMessage(head: head, channel: channel, payload: message), epoch: epoch)
                    }
                }
                receivers += entry.subscribers.count
            }
        }
        return receivers
    }

    private func send(_ message: PushMessage, to subscriber: Subscriber, epoch: Int, _ batch: PublishBatch?) {
        if let batch { batch.add(message, for: subscriber, epoch: epoch) } else { subscriber.deliver(message, epoch: epoch) }
    }

    // MARK: Introspection (PUBSUB)

    /// The channels with subscribers whose names match glob (all if nil).
    func activeChannels(matching glob: GlobPattern?) -> [ChannelName] {
        shards.flatMap { shard in
            shard.channels.withLock { channels in
                channels.keys.filter { name in glob.map { glob in name.bytes.withUnsafeBytes { glob.matches($0) } } ?? true }
            }
        }
    }

    /// How many clients subscribe to channel (not counting patterns).
    func subscriberCount(of channel: ChannelName) -> Int {
        shard(of: channel).channels.withLock { $0[channel]?.count ?? 0 }
    }
}

/// A channel name or pattern: any bytes, hashed and compared as bytes.
struct ChannelName: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = Array(bytes)
    }

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// FNV-1a: picks the shard, independent of the dictionary's hash.
    var shardHash: UInt32 {
        bytes.reduce(2_166_136_261) { ($0 ^ UInt32($1)) &* 16_777_619 }
    }
}
