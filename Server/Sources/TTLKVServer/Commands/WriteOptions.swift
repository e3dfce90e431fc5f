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
