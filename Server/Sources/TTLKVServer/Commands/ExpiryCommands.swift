import TTLKV

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
/// PEXPIRETIME, PERSIST.
let expiryCommands: [Command] = [
    expireCommand("expire", seconds: true, absolute: false),
    expireCommand("pexpire", seconds: false, absolute: false),
    expireCommand("expireat", seconds: true, absolute: true),
    expireCommand("pexpireat", seconds: false, absolute: true),
    timeToLiveCommand("ttl", seconds: true, absolute: false),
    timeToLiveCommand("pttl", seconds: false, absolute: false),
    timeToLiveCommand("expiretime", seconds: true, absolute: true),
    timeToLiveCommand("pexpiretime", seconds: false, absolute: true),
    Command("persist", arity: 2, flags: ["write", "fast"], keys: (1, 1, 1), categories: ["@keyspace", "@write", "@fast"]) { call, replies in
        let removed = call.attempt(&replies) {
            try call.keyspace.update(call.arguments[1]) { entry -> Bool in
                guard entry.value != nil, entry.deadline != nil else { return false }
                entry.setDeadline(nil)
                return true
            }
        }
        if removed == true {
            call.notify(.persist, call.arguments[1])
            call.takeOwnMessages(&replies)
        }
        if let removed { replies.integer(removed ? 1 : 0) }
    },
]

/// The conditions EXPIRE and friends accept.
private struct ExpireConditions: OptionSet {
    let rawValue: Int
    static let nx = ExpireConditions(rawValue: 1)
    static let xx = ExpireConditions(rawValue: 2)
    static let gt = ExpireConditions(rawValue: 4)
    static let lt = ExpireConditions(rawValue: 8)
}

/// EXPIRE key seconds [NX | XX | GT | LT], and the PEXPIRE, EXPIREAT and
/// PEXPIREAT variants, with Redis 7's checks in Redis's order. A time in
/// the past removes the key (and counts as set); one more than 100 years
/// ahead is kept as 100 years ahead.
private func expireCommand(_ name: String, seconds: Bool, absolute: Bool) -> Command {
    Command(name, arity: -3, flags: ["write", "fast"], keys: (1, 1, 1), categories: ["@keyspace", "@write", "@fast"]) { call, replies in
        let arguments = call.arguments
        var conditions: ExpireConditions = []
        for index in 3..<max(3, arguments.count) {
            if arguments.matches(index, "NX") { conditions.insert(.nx) }
            else if arguments.matches(index, "XX") { conditions.insert(.xx) }
            else if arguments.matches(index, "GT") { conditions.insert(.gt) }
            else if arguments.matches(index, "LT") { conditions.insert(.lt) }
            else { return replies.error("ERR Unsupported option \(prefix(arguments[index]))") }
        }
        if conditions.contains(.nx) && !conditions.isDisjoint(with: [.xx, .gt, .lt]) {
            return replies.error("ERR NX and XX, GT or LT options at the same time are not compatible")
        }
        if conditions.contains(.gt) && conditions.contains(.lt) {
            return replies.error("ERR GT and LT options at the same time are not compatible")
        }
        guard var when = arguments.integer(2) else { return replies.error(CommandError.notInteger.reply) }
        let invalid = "ERR invalid expire time in '\(name)' command"
        if seconds {
            guard when <= Int64.max / 1000, when >= Int64.min / 1000 else { return replies.error(invalid) }
            when *= 1000
        }
        // Redis checks that a relative time fits once made absolute.
        guard absolute || when <= Int64.max - WallClock.milliseconds() else { return replies.error(invalid) }
        let keyspace = call.server.keyspace
        let deadline = absolute ? keyspace.instant(unixMilliseconds: when) : keyspace.deadline(afterMilliseconds: when)
        let set = call.attempt(&replies) {
            try call.keyspace.update(arguments[1]) { entry -> KeyspaceEvent? in
                guard entry.value != nil else { return nil }
                let current = entry.deadline
                if conditions.contains(.nx) && current != nil { return nil }
                if conditions.contains(.xx) && current == nil { return nil }
                if conditions.contains(.gt), current.map({ deadline <= $0 }) ?? true { return nil }
                if conditions.contains(.lt), let current, deadline >= current { return nil }
                entry.setDeadline(judged: deadline)
                // A time already past removes the key: Redis says `del`.
                return deadline == Keyspace.past ? .del : .expire
            }
        }
        guard let set else { return }
        if let event = set {
            call.notify(event, arguments[1])
            call.takeOwnMessages(&replies)
        }
        replies.integer(set != nil ? 1 : 0)
    }
}

/// TTL, PTTL (time left) and EXPIRETIME, PEXPIRETIME (the Unix time of the
/// deadline, exactly as a client gave it): -2 for a missing key, -1 for one
/// that never expires; seconds are rounded to the nearest, as Redis does.
private func timeToLiveCommand(_ name: String, seconds: Bool, absolute: Bool) -> Command {
    Command(name, arity: 2, flags: ["readonly", "fast"], keys: (1, 1, 1), categories: ["@keyspace", "@read", "@fast"]) { call, replies in
        let key = call.arguments[1]
        let time: Int64?? = call.attempt(&replies) {
            if absolute { return try call.keyspace.unixDeadline(key) }
            return try call.keyspace.millisecondsToLive(key).map { $0 == .max ? .max : Int64(clamping: $0) }
        }
        guard let time else { return }
        call.session.statistics.countLookup(found: time != nil)
        guard let milliseconds = time else {
            call.notify(.keymiss, key)
            call.takeOwnMessages(&replies)
            return replies.integer(-2)
        }
        guard milliseconds != .max else { return replies.integer(-1) }
        replies.integer(seconds ? (milliseconds + 500) / 1000 : milliseconds)
    }
}
