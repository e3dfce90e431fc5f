import TTLKV

/// When a write makes its key expire, as SET and GETEX options say it.
enum Expiry {
    /// No option: SET makes the key persistent, GETEX leaves it alone.
    case unchanged
    /// KEEPTTL (SET): keep the key's deadline.
    case keep
    /// PERSIST (GETEX): remove the deadline.
    case persist
    /// EX, PX: this many milliseconds from now.
    case after(milliseconds: Int64)
    /// EXAT, PXAT: at this Unix time in milliseconds.
    case at(unixMilliseconds: Int64)

    /// Whether a relative expiry overflows once added to the Unix time
    /// `unixNow`, which Redis's SET checks before it looks at the key.
    func overflows(unixNow: Int64) -> Bool {
        guard case .after(let milliseconds) = self else { return false }
        return unixNow.addingReportingOverflow(milliseconds).overflow
    }

    /// The deadline on the store's clock, given that clock's `now` and the
    /// Unix time the command started at; nil: no deadline. A deadline at or
    /// before `now` makes the store remove the key.
    func deadline(now: StoreClock.Instant, unixNow: Int64) -> StoreClock.Instant? {
        switch self {
        case .unchanged, .keep, .persist: nil
        case .after(let milliseconds): now.advanced(by: .milliseconds(milliseconds))
        case .at(let unix): storeDeadline(unixMilliseconds: unix, now: now, unixNow: unixNow)
        }
    }
}

/// The store-clock deadline of a Unix time: the same distance from `now`
/// as `unix` is from `unixNow` (an instant before the clock's origin is
/// long past; one far ahead the store refuses as more than 100 years).
func storeDeadline(unixMilliseconds unix: Int64, now: StoreClock.Instant, unixNow: Int64) -> StoreClock.Instant {
    let (ahead, overflow) = unix.subtractingReportingOverflow(unixNow)
    // Past 2^63 ms either way: further than any clock reading can be.
    if overflow { return now.advanced(by: .seconds(ahead < 0 ? Int64.max / 2 : -Int64.max / 2)) }
    return now.advanced(by: .milliseconds(ahead))
}

/// The options of SET (NX, XX, GET, KEEPTTL and the expiry ones) or of
/// GETEX (the expiry ones and PERSIST), parsed with Redis's rules: an
/// option that conflicts with an earlier one is a syntax error, and the
/// expiry value is checked only after every option parsed.
struct WriteOptions {
    var onlyIfAbsent = false
    var onlyIfPresent = false
    var returnOld = false
    var expiry = Expiry.unchanged

    /// Parses arguments from `start`; on error returns the message.
    static func parse(_ arguments: Arguments, from start: Int, forGetEx: Bool, command: String) -> Result<WriteOptions, CommandError> {
        var options = WriteOptions()
        var unit: (index: Int, seconds: Bool, absolute: Bool)?
        var index = start
        while index < arguments.count {
            let hasNext = index + 1 < arguments.count
            // Redis lets an option repeat, but not join another kind of expiry.
            let noExpiry: Bool, keepAllowed: Bool, persistAllowed: Bool
            switch options.expiry {
            case .unchanged: (noExpiry, keepAllowed, persistAllowed) = (unit == nil, unit == nil, unit == nil)
            case .keep: (noExpiry, keepAllowed, persistAllowed) = (false, true, false)
            case .persist: (noExpiry, keepAllowed, persistAllowed) = (false, false, true)
            default: (noExpiry, keepAllowed, persistAllowed) = (false, false, false)
            }
            if !forGetEx && arguments.matches(index, "NX") && !options.onlyIfPresent {
                options.onlyIfAbsent = true
            } else if !forGetEx && arguments.matches(index, "XX") && !options.onlyIfAbsent {
                options.onlyIfPresent = true
            } else if !forGetEx && arguments.matches(index, "GET") {
                options.returnOld = true
            } else if !forGetEx && arguments.matches(index, "KEEPTTL") && keepAllowed {
                options.expiry = .keep
            } else if forGetEx && arguments.matches(index, "PERSIST") && persistAllowed {
                options.expiry = .persist
            } else if hasNext, let kind = expiryKind(arguments, index),
                      noExpiry || unit.map({ $0.seconds == kind.seconds && $0.absolute == kind.absolute }) == true {
                // The same expiry option again replaces the value, as in Redis.
                unit = (index + 1, kind.seconds, kind.absolute)
                index += 1
            } else {
                return .failure(.syntax)
            }
            index += 1
        }
        if let unit {
            guard let value = arguments.integer(unit.index) else { return .failure(.notInteger) }
            guard value > 0, !unit.seconds || value <= Int64.max / 1000 else {
                return .failure(.message("ERR invalid expire time in '\(command)' command"))
            }
            let milliseconds = unit.seconds ? value * 1000 : value
            options.expiry = unit.absolute ? .at(unixMilliseconds: milliseconds) : .after(milliseconds: milliseconds)
        }
        return .success(options)
    }

    /// The options of call from `start`; nil after replying with the error.
    static func parse(_ call: CommandCall, from start: Int, forGetEx: Bool, _ replies: inout Replies) -> WriteOptions? {
        switch parse(call.arguments, from: start, forGetEx: forGetEx, command: call.command.name) {
        case .failure(let error):
            replies.error(error.reply)
            return nil
        case .success(let options):
            return options
        }
    }

    private static func expiryKind(_ arguments: Arguments, _ index: Int) -> (seconds: Bool, absolute: Bool)? {
        if arguments.matches(index, "EX") { return (true, false) }
        if arguments.matches(index, "PX") { return (false, false) }
        if arguments.matches(index, "EXAT") { return (true, true) }
        if arguments.matches(index, "PXAT") { return (false, true) }
        return nil
    }
}

/// An error a command replies with instead of a result.
enum CommandError: Error, Equatable {
    case syntax
    case notInteger
    case message(String)

    var reply: String {
        switch self {
        case .syntax: "ERR syntax error"
        case .notInteger: "ERR value is not an integer or out of range"
        case .message(let text): text
        }
    }
}
