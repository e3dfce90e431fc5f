/// CONFIG GET and CONFIG SET over ``ConfigParameter/all``.
let configCommand = Command("config", arity: -2, flags: [], categories: ["@slow"], subcommands: configSubcommands) { call, replies in
    dispatchSubcommand(call, &replies, among: configSubcommands, container: "CONFIG")
}

private let configSubcommands: [Command] = [
    Command("config|get", arity: -3, flags: ["admin", "noscript", "loading", "stale"], categories: ["@admin", "@slow", "@dangerous"]) { call, replies in
        let patterns = (2..<call.arguments.count).map { GlobPattern(call.arguments.string($0).lowercased()) }
        let matching = ConfigParameter.all.filter { parameter in
            var name = parameter.name
            return name.withUTF8 { name in patterns.contains { $0.matches(UnsafeRawBufferPointer(name)) } }
        }
        replies.mapHeader(matching.count)
        for parameter in matching {
            replies.bulk(parameter.name)
            replies.bulk(parameter.get(call.server))
        }
    },
    Command("config|set", arity: -4, flags: ["admin", "noscript", "loading", "stale"], categories: ["@admin", "@slow", "@dangerous"]) { call, replies in
        switch configSet(call.arguments) {
        case .success(let changes):
            for change in changes { change(call.server) }
            replies.ok()
        case .failure(let error):
            replies.error(error.description)
        }
    },
]

/// CONFIG SET name value [name value ...], with Redis 7's checks in Redis's
/// order: the changes to apply, all or none, or the error reply.
private func configSet(_ arguments: Arguments) -> Result<[@Sendable (ServerContext) -> Void], ConfigError> {
    guard arguments.count % 2 == 0 else { return .failure(ConfigError(CommandError.syntax.reply)) }
    var chosen: [(parameter: ConfigParameter, parse: ConfigParameter.Parse, value: String)] = []
    var problem: String?
    for index in stride(from: 2, to: arguments.count, by: 2) {
        let given = prefix(arguments[index])
        guard let parameter = ConfigParameter.named(given) else {
            if problem == nil { problem = "ERR Unknown option or number of arguments for CONFIG SET - '\(given)'" }
            continue
        }
        if problem != nil { continue }
        let failed = "ERR CONFIG SET failed (possibly related to argument '\(given)') - "
        guard let parse = parameter.set else {
            problem = failed + "can't set immutable config"
            continue
        }
        guard !chosen.contains(where: { $0.parameter.name == parameter.name }) else {
            problem = failed + "duplicate parameter"
            continue
        }
        chosen.append((parameter, parse, arguments.string(index + 1)))
    }
    if let problem { return .failure(ConfigError(problem)) }
    var changes: [@Sendable (ServerContext) -> Void] = []
    for (parameter, parse, value) in chosen {
        switch parse(value) {
        case .success(let change): changes.append(change)
        case .failure(let error):
            return .failure(ConfigError("ERR CONFIG SET failed (possibly related to argument '\(parameter.name)') - \(error)"))
        }
    }
    return .success(changes)
}
