extension CommandCall {
    /// Publishes event for key, if the flags ask for it.
    func notify(_ event: KeyspaceEvent, _ key: UnsafeRawBufferPointer) {
        server.notifications.notify(event, key: key, batch: session.publishBatch(server))
        // The expiry worker publishes `expired` and `evicted` straight to
        // the subscribers: a key's own events must not wait in the batch
        // while its deadline can pass (one just set) or a write can evict it.
        if event.setsDeadline || server.keyspace.evicts { session.publishes?.handOverWhenCommandEnds() }
    }

    /// Moves what this connection is to receive itself (a RESP3 client
    /// subscribed to its own keys' events) into its replies: a command
    /// calls it where Redis would have written those messages, before its
    /// reply for most commands, after it for those that reply with the old
    /// value (SET GET, GETEX, GETDEL).
    func takeOwnMessages(_ replies: inout Replies) {
        session.takeOwnMessages(&replies)
    }
}
