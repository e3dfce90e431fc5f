extension CommandCall {
    /// Publishes event for key, if the flags ask for it.
    func notify(_ event: KeyspaceEvent, _ key: UnsafeRawBufferPointer) {
        server.notifications.notify(event, key: key, batch: session.publishBatch)
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
