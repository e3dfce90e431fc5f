/// TYPE: the commands about keys as such, whatever their values.
let keyspaceCommands: [Command] = [
    // Every value here is a string.
    Command("type", arity: 2, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        guard let found = call.attempt(&replies, { try call.keyspace.withValue(call.arguments[1]) { _ in () } != nil }) else { return }
        call.session.statistics.countLookup(found: found)
        replies.status(found ? "string" : "none")
    },
]
