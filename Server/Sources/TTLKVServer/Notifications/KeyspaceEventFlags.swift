/// Which keyspace notifications are sent: Redis's `notify-keyspace-events`
/// classes, with Redis's letters and bits.
struct KeyspaceEventFlags: OptionSet, Sendable {
    let rawValue: Int

    init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// `K`: to `__keyspace@0__:<key>`, the event as the message.
    static let keyspace = KeyspaceEventFlags(rawValue: 1 << 0)
    /// `E`: to `__keyevent@0__:<event>`, the key as the message.
    static let keyevent = KeyspaceEventFlags(rawValue: 1 << 1)
    /// `g`: generic commands (DEL, EXPIRE, PERSIST, ...).
    static let generic = KeyspaceEventFlags(rawValue: 1 << 2)
    /// `$`: string commands (SET, INCRBY, APPEND, ...).
    static let string = KeyspaceEventFlags(rawValue: 1 << 3)
    static let list = KeyspaceEventFlags(rawValue: 1 << 4)
    static let set = KeyspaceEventFlags(rawValue: 1 << 5)
    static let hash = KeyspaceEventFlags(rawValue: 1 << 6)
    static let sortedSet = KeyspaceEventFlags(rawValue: 1 << 7)
    /// `x`: a key expired.
    static let expired = KeyspaceEventFlags(rawValue: 1 << 8)
    /// `e`: a key was evicted to stay within the memory budget.
    static let evicted = KeyspaceEventFlags(rawValue: 1 << 9)
    static let stream = KeyspaceEventFlags(rawValue: 1 << 10)
    /// `m`: a lookup missed (not in `A`).
    static let keyMiss = KeyspaceEventFlags(rawValue: 1 << 11)
    static let module = KeyspaceEventFlags(rawValue: 1 << 12)
    /// `n`: a key was created (not in `A`).
    static let new = KeyspaceEventFlags(rawValue: 1 << 13)
    /// `A`: every class but `m` and `n`.
    static let all: KeyspaceEventFlags = [.generic, .string, .list, .set, .hash, .sortedSet, .expired, .evicted, .stream, .module]

    private static let letters: [(Character, KeyspaceEventFlags)] = [
        ("A", .all), ("g", .generic), ("$", .string), ("l", .list), ("s", .set), ("h", .hash), ("z", .sortedSet),
        ("x", .expired), ("e", .evicted), ("K", .keyspace), ("E", .keyevent), ("t", .stream), ("m", .keyMiss),
        ("d", .module), ("n", .new),
    ]

    /// Redis's keyspaceEventsStringToFlags; nil for a letter it does not know.
    init?(_ text: String) {
        var flags: KeyspaceEventFlags = []
        for letter in text {
            guard let (_, class_) = Self.letters.first(where: { $0.0 == letter }) else { return nil }
            flags.formUnion(class_)
        }
        self = flags
    }

    /// Redis's error for a letter it does not know.
    static let invalid = ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")

    /// The canonical form CONFIG GET shows, as Redis 7.0 writes it: `A` for
    /// all the classes it covers (hiding `n`, as Redis 7.0 does), else each
    /// class letter; then K, E, m.
    var description: String {
        var text = ""
        if isSuperset(of: .all) {
            text = "A"
        } else {
            let order: [(Character, KeyspaceEventFlags)] = [
                ("g", .generic), ("$", .string), ("l", .list), ("s", .set), ("h", .hash), ("z", .sortedSet),
                ("x", .expired), ("e", .evicted), ("t", .stream), ("d", .module), ("n", .new),
            ]
            for (letter, class_) in order where contains(class_) { text.append(letter) }
        }
        if contains(.keyspace) { text.append("K") }
        if contains(.keyevent) { text.append("E") }
        if contains(.keyMiss) { text.append("m") }
        return text
    }
}
