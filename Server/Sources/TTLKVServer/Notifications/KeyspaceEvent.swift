/// One kind of keyspace notification: its class (which flag turns it on)
/// and its name, with the `__keyevent@0__:` channel it goes to.
struct KeyspaceEvent: Sendable {
    let type: KeyspaceEventFlags
    let name: StaticString
    let keyeventChannel: StaticString
    /// Whether the event tells of a deadline given to the key.
    let setsDeadline: Bool

    static let set = KeyspaceEvent(.string, "set", "__keyevent@0__:set")
    static let incrby = KeyspaceEvent(.string, "incrby", "__keyevent@0__:incrby")
    static let incrbyfloat = KeyspaceEvent(.string, "incrbyfloat", "__keyevent@0__:incrbyfloat")
    static let append = KeyspaceEvent(.string, "append", "__keyevent@0__:append")
    static let setrange = KeyspaceEvent(.string, "setrange", "__keyevent@0__:setrange")
    static let setbit = KeyspaceEvent(.string, "setbit", "__keyevent@0__:setbit")
    static let del = KeyspaceEvent(.generic, "del", "__keyevent@0__:del")
    static let expire = KeyspaceEvent(.generic, "expire", "__keyevent@0__:expire", setsDeadline: true)
    static let persist = KeyspaceEvent(.generic, "persist", "__keyevent@0__:persist")
    static let renameFrom = KeyspaceEvent(.generic, "rename_from", "__keyevent@0__:rename_from")
    static let renameTo = KeyspaceEvent(.generic, "rename_to", "__keyevent@0__:rename_to")
    static let copyTo = KeyspaceEvent(.generic, "copy_to", "__keyevent@0__:copy_to")
    static let restore = KeyspaceEvent(.generic, "restore", "__keyevent@0__:restore")
    static let expired = KeyspaceEvent(.expired, "expired", "__keyevent@0__:expired")
    static let keymiss = KeyspaceEvent(.keyMiss, "keymiss", "__keyevent@0__:keymiss")
    static let evicted = KeyspaceEvent(.evicted, "evicted", "__keyevent@0__:evicted")

    private init(_ type: KeyspaceEventFlags, _ name: StaticString, _ keyeventChannel: StaticString, setsDeadline: Bool = false) {
        self.type = type
        self.name = name
        self.keyeventChannel = keyeventChannel
        self.setsDeadline = setsDeadline
    }
}
