/// SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB.
let pubSubCommands: [Command] = [
    Command("subscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        subscribe(call, &replies, pattern: false)
    },
    Command("unsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        unsubscribe(call, &replies, pattern: false)
    },
    Command("psubscribe", arity: -2, flags: ["pubsub", "noscript", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        subscribe(call, &replies, pattern: true)
    },
    Command("punsubscribe", arity: -1, flags: ["pubsub", "noscript", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        unsubscribe(call, &replies, pattern: true)
    },
    Command("publish", arity: 3, flags: ["pubsub", "loading", "stale", "fast", "may_replicate"], categories: ["@pubsub", "@fast"]) { call, replies in
        let receivers = call.server.pubSub.publish(call.arguments[2], to: call.arguments[1],
                                                   batch: call.session.publishBatch(call.server))
        // A RESP3 client subscribed to the channel gets its own message
        // before the reply, as from Redis.
        call.takeOwnMessages(&replies)
        replies.integer(receivers)
    },
    Command("pubsub", arity: -2, flags: [], categories: ["@slow"], subcommands: pubSubSubcommands) { call, replies in
        dispatchSubcommand(call, &replies, among: pubSubSubcommands, container: "PUBSUB")
    },
]

/// The commands a RESP2 connection with subscriptions may run (Redis's
/// subscriber mode); RESET is in Redis's message but not in this server.
let subscriberModeCommands: Set<String> = ["subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ping", "quit", "reset"]

extension Session {
    /// Whether the connection is in RESP2 subscriber mode: subscribed to
    /// something, speaking RESP2 (`resp3` false).
    func isSubscriberMode(resp3: Bool) -> Bool {
        !resp3 && (subscriptions?.count ?? 0) > 0
    }
}

/// Redis's error for a command outside the subscribe family in subscriber
/// mode, naming the subcommand if there is one; nil for the subscribe
/// family, and for an unknown subcommand or a subcommand's wrong arity,
/// which Redis reports first (the container's dispatch does).
func subscriberModeRefusal(_ command: Command, _ arguments: Arguments) -> String? {
    guard !subscriberModeCommands.contains(command.name) else { return nil }
    var name = command.name
    if !command.subcommands.isEmpty && arguments.count > 1 {
        let full = command.name + "|" + arguments.string(1).lowercased()
        guard let subcommand = command.subcommands.first(where: { $0.name == full }),
              subcommand.accepts(argumentCount: arguments.count) else { return nil }
        name = full
    }
    return "ERR Can't execute '\(name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

/// SUBSCRIBE / PSUBSCRIBE name...: one confirmation per name, with the
/// count of subscriptions after it.
private func subscribe(_ call: CommandCall, _ replies: inout Replies, pattern: Bool) {
    let subscriptions = call.session.subscriptions ?? {
        let subscriptions = Subscriptions(subscriber: Subscriber(
            link: ChannelLink(channel: call.session.channel), limit: call.server.outputBufferLimit, resp3: replies.resp3))
        call.session.subscriptions = subscriptions
        return subscriptions
    }()
    for index in 1..<call.arguments.count {
        let name = ChannelName(call.arguments[index])
        let count = subscriptions.subscribe(name, pattern: pattern, in: call.server.pubSub)
        replies.subscription(pattern ? "psubscribe" : "subscribe", name, count: count)
    }
}

/// UNSUBSCRIBE / PUNSUBSCRIBE [name...]: without names, from every one;
/// with none to leave, one confirmation with a null name.
private func unsubscribe(_ call: CommandCall, _ replies: inout Replies, pattern: Bool) {
    let kind: StaticString = pattern ? "punsubscribe" : "unsubscribe"
    let subscriptions = call.session.subscriptions
    let names = call.arguments.count > 1
        ? (1..<call.arguments.count).map { ChannelName(call.arguments[$0]) }
        : subscriptions?.names(pattern: pattern) ?? []
    guard !names.isEmpty else { return replies.subscription(kind, nil, count: subscriptions?.count ?? 0) }
    for name in names {
        let count = subscriptions?.unsubscribe(name, pattern: pattern, in: call.server.pubSub) ?? 0
        if count == 0, let subscriptions {
            // Messages published before the last unsubscribe go out before
            // its confirmation (this connection's own first); any matched
            // before it and not yet in the outbox, never.
            call.session.publishes?.deliver(to: subscriptions.subscriber)
            subscriptions.subscriber.endEpoch()
            subscriptions.collect(into: &replies)
        }
        replies.subscription(kind, name, count: count)
    }
}

private let pubSubSubcommands: [Command] = [
    Command("pubsub|channels", arity: -2, flags: ["pubsub", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        guard call.arguments.count <= 3 else {
            return replies.error("ERR unknown subcommand or wrong number of arguments for '\(prefix(call.arguments[1]))'. Try PUBSUB HELP.")
        }
        let glob = call.arguments.count == 3 ? GlobPattern(call.arguments[2]) : nil
        let channels = call.server.pubSub.activeChannels(matching: glob)
        replies.arrayHeader(channels.count)
        for channel in channels { channel.bytes.withUnsafeBytes { replies.bulk($0) } }
    },
    Command("pubsub|numsub", arity: -2, flags: ["pubsub", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        replies.arrayHeader((call.arguments.count - 2) * 2)
        for index in 2..<call.arguments.count {
            replies.bulk(call.arguments[index])
            replies.integer(call.server.pubSub.subscriberCount(of: ChannelName(call.arguments[index])))
        }
    },
    Command("pubsub|numpat", arity: 2, flags: ["pubsub", "loading", "stale"], categories: ["@pubsub", "@slow"]) { call, replies in
        replies.integer(call.server.pubSub.patternsSubscribed)
    },
    Command("pubsub|help", arity: 2, flags: ["loading", "stale"], categories: ["@slow"]) { _, replies in
        replies.help([
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "HELP",
            "    Prints this help.",
        ])
    },
]
