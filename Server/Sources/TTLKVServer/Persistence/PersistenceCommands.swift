/// SAVE, BGSAVE, LASTSAVE, with Redis 7's flags and replies
/// (Persistence.swift does the work; SHUTDOWN is in ServerCommands.swift).
let persistenceCommands: [Command] = [
    // As Redis's, SAVE runs in the foreground: the caller waits, and so do
    // the other clients of its event loop; those of the other loops do not.
    Command("save", arity: 1, flags: ["admin", "noscript", "no_async_loading", "no_multi"],
            categories: ["@admin", "@slow", "@dangerous"]) { call, replies in
        do {
            try call.server.persistence.save()
            replies.ok()
        } catch let refusal as Persistence.SaveRefusal {
            replies.error(refusal.reply)
        } catch {
            // Redis answers a failed SAVE with a bare ERR; the log says why.
            replies.error("ERR")
        }
    },
    // BGSAVE [SCHEDULE]: SCHEDULE waits for a running AOF rewrite in Redis;
    // there is none here, so it starts at once, or gets the same error.
    Command("bgsave", arity: -1, flags: ["admin", "noscript", "no_async_loading"],
            categories: ["@admin", "@slow", "@dangerous"]) { call, replies in
        let arguments = call.arguments
        guard arguments.count == 1 || (arguments.count == 2 && arguments.matches(1, "SCHEDULE")) else {
            return replies.error(CommandError.syntax.reply)
        }
        do throws(Persistence.SaveRefusal) {
            try call.server.persistence.startBackgroundSave()
            replies.status("Background saving started")
        } catch {
            replies.error(error.reply)
        }
    },
    Command("lastsave", arity: 1, flags: ["loading", "stale", "fast"], categories: ["@admin", "@fast", "@dangerous"]) { call, replies in
        replies.integer(call.server.persistence.lastSaveTime)
    },
]
