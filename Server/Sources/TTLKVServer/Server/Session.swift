import NIOCore

/// One client connection's state, owned by its event loop.
final class Session {
    /// CLIENT ID: unique for the life of the server.
    let id: Int
    /// The counters of this connection's event loop.
    let statistics: LoopStatistics
    /// False until AUTH or HELLO AUTH succeeds, when the server has a password.
    var authenticated: Bool
    /// CLIENT SETNAME.
    var name: String?
    /// CLIENT SETINFO LIB-NAME and LIB-VER.
    var libraryName: String?
    var libraryVersion: String?
    /// Set by QUIT (and by a write during the final save): close once the
    /// replies so far are written.
    var closeAfterReply = false
    /// APPENDs to one key waiting to be applied as one write, and answered.
    var appends: AppendGroup?
    /// A KEYS to walk the store off the event loop (KeysWalk.swift).
    var keysWalk: KeysWalk?
    /// Between MULTI and EXEC: the queued commands (Transaction.swift).
    var transaction: QueuedTransaction?
    /// The keys WATCH watches.
    var watching: WatchedKeys?
    /// The connection's channel, where its pub/sub messages go.
    let channel: any Channel
    /// Its channels and patterns, from its first SUBSCRIBE or PSUBSCRIBE.
    var subscriptions: Subscriptions?
    /// What its commands published, until the end of the read; nil until
    /// they first publish, then never reset (publishers hold it unretained
    /// for a call: KeyspaceNotifier.swift).
    private(set) var publishes: PublishBatch?

    /// The batch its commands publish into.
    func publishBatch(_ server: ServerContext) -> PublishBatch {
        if let publishes { return publishes }
        let batch = PublishBatch(pubSub: server.pubSub, allocator: channel.allocator,
                                 holdNanoseconds: server.configuration.publishHoldNanoseconds)
        publishes = batch
        return batch
    }

    /// Moves what this connection is to receive itself (a RESP3 client
    /// subscribed to its own keys' events, or to a channel it publishes
    /// to) into its replies, its own share of the publish batch included.
    func takeOwnMessages(_ replies: inout Replies) {
        guard let subscriptions else { return }
        publishes?.deliver(to: subscriptions.subscriber)
        subscriptions.collect(into: &replies)
    }

    init(id: Int, channel: any Channel, statistics: LoopStatistics, authenticated: Bool) {
        self.id = id
        self.channel = channel
        self.statistics = statistics
        self.authenticated = authenticated
    }
}
