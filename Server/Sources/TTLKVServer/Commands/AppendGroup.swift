/*
 APPEND, one write per run of appends to a key.

 A value is never changed in place (readers take no lock, so a write makes
 a new entry): an APPEND copies the whole value to add its tail. Redis grows
 a string geometrically, so that appending costs about the tail; here a
 client streaming appends to one key would copy the value once per APPEND
 (forty one-byte APPENDs to 100 MB: 4 GB copied, and as many entries
 waiting for readers to move on). So an APPEND does not write at once: it
 joins its connection's group, which the connection applies as one write,
 one copy of the value, when its next request is anything but an APPEND to
 the same key, or when the requests of its read run out.

 The group is one atomic step, as if its appends had run back to back with
 no other write between them, an order no other client can tell from
 another. Each APPEND still gets its own reply: the length after it, or its
 own error when its tail would take the value past the largest size (a
 later, shorter tail may still fit, as it would one APPEND at a time).

 A group whose value is large (1 MiB or more) is applied on a thread pool,
 so that the copy does not hold up the other connections of the event loop;
 its own connection runs and reads nothing more until it is done, as when
 its client does not read. The copy is still made under the key's shard
 lock (ttlkv_update), so writers of that shard's keys wait for it.
 */

/// Consecutive APPENDs of one connection to one key, applied as one write.
struct AppendGroup: Sendable {
    /// The value size from which a group is applied on the thread pool.
    static let largeValue = 1 << 20

    /// What one APPEND answers.
    enum Outcome: Sendable {
        case length(Int)
        case error(String)
    }

    let key: [UInt8]
    /// The tails back to back, and where each one ends.
    private var tails: [UInt8]
    private var ends: [Int] = []

    init(key: UnsafeRawBufferPointer, tail: UnsafeRawBufferPointer) {
        self.key = Array(key)
        tails = Array(tail)
        ends.append(tails.count)
    }

    /// The number of APPENDs in the group.
    var count: Int { ends.count }

    /// Adds one more APPEND's tail.
    mutating func add(_ tail: UnsafeRawBufferPointer) {
        tails.append(contentsOf: tail)
        ends.append(tails.count)
    }

    /// Whether `arguments` are an APPEND to this group's key.
    func continues(with arguments: Arguments) -> Bool {
        arguments.count == 3 && arguments.matches(0, "APPEND") && arguments[1].elementsEqual(key)
    }

    /// Whether the key's value is large enough to copy off the event loop.
    func isLarge(in keyspace: KeyspaceAccess) -> Bool {
        length(in: keyspace) >= Self.largeValue
    }

    /// The length of the key's value now (0 if absent).
    private func length(in keyspace: KeyspaceAccess) -> Int {
        key.withUnsafeBytes { key in (try? keyspace.withValue(key) { $0.count }) ?? 0 }
    }

    /// Applies the group to the key as one update; one outcome per APPEND.
    func apply(to keyspace: KeyspaceAccess, maximumLength: Int) -> [Outcome] {
        let sizeHint = min(length(in: keyspace) + tails.count, maximumLength)
        do {
            let before = try key.withUnsafeBytes { key in try keyspace.update(key, sizeHint: sizeHint) { entry -> Int in
                let head = entry.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
                var taken = 0
                let after = walk(from: head.count, maximumLength: maximumLength) { tail, _ in
                    if tail != nil { taken += 1 }
                }
                // A new key is made even by empty tails; an old one changes
                // only if it grows.
                guard taken > 0, entry.value == nil || after > head.count else { return head.count }
                entry.replaceValue(count: after) { buffer in
                    buffer.copyMemory(from: head)
                    tails.withUnsafeBytes { tails -> Void in
                        walk(from: head.count, maximumLength: maximumLength) { tail, length in
                            guard let tail else { return }
                            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[(length - tail.count)..<length])
                            target.copyMemory(from: UnsafeRawBufferPointer(rebasing: tails[tail]))
                        }
                    }
                }
                return head.count
            } }
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(count)
            walk(from: before, maximumLength: maximumLength) { tail, length in
                outcomes.append(tail != nil ? .length(length) : .error(Self.tooLarge))
            }
            return outcomes
        } catch {
            return failed(Keyspace.errorReply(for: error, command: "append"))
        }
    }

    /// The same error for every APPEND of the group.
    func failed(_ message: String) -> [Outcome] {
        Array(repeating: .error(message), count: count)
    }

    /// Writes the outcomes as the APPENDs' replies, in order; each APPEND
    /// that appended publishes its `append` event first, as one APPEND at a
    /// time would.
    func reply(_ outcomes: [Outcome], into replies: inout Replies, server: ServerContext, session: Session?) {
        for outcome in outcomes {
            switch outcome {
            case .length(let length):
                key.withUnsafeBytes { server.notifications.notify(.append, key: $0, batch: session?.publishBatch(server)) }
                // As CommandCall.notify: a later write may evict the key.
                if server.keyspace.evicts { session?.publishes?.deliver() }
                session?.takeOwnMessages(&replies)
                replies.integer(length)
            case .error(let message):
                replies.error(message)
            }
        }
    }

    private static let tooLarge = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

    /// Goes through the tails in order from a value of `length` bytes: each
    /// that fits within `maximumLength` is taken, and `body` gets its range
    /// in `tails` and the length after it; each that does not is skipped,
    /// and `body` gets nil and the length unchanged. Returns the final length.
    @discardableResult
    private func walk(from length: Int, maximumLength: Int, _ body: (Range<Int>?, Int) -> Void) -> Int {
        var length = length
        var start = 0
        for end in ends {
            if length + (end - start) <= maximumLength {
                length += end - start
                body(start..<end, length)
            } else {
                body(nil, length)
            }
            start = end
        }
        return length
    }
}
