/*
 A hierarchical timing wheel of expiry records.

 Time is cut into ticks of `resolution` milliseconds; a record with deadline
 d belongs to tick d / resolution and fires once that tick is over, so it
 is never early and at most one tick late. The wheel has five levels of 64
 slots. Level 0 slots are one tick wide and hold the records due within the
 next 64 ticks; each slot of level l is 64^l ticks wide and holds records
 due between 64^l and 64^(l+1) ticks ahead, so five levels reach 64^5 ticks
 (124 days at 10 ms). A record further out is parked in the top level and
 re-parked each time that slot comes round.

     level 4  [ 64 slots x 64^4 ticks ]  cascades every 64^4 ticks
     level 3  [ 64 slots x 64^3 ticks ]        ...
     level 2  [ 64 slots x 64^2 ticks ]
     level 1  [ 64 slots x 64   ticks ]  cascades every 64 ticks
     level 0  [ 64 slots x 1    tick  ]  one slot fires per tick

 Scheduling is O(1): the distance to the deadline picks the level, the
 deadline's bits at that level pick the slot. Processing a tick visits one
 level-0 slot and moves it to the due queue; when the tick is a multiple of
 64^l, the level-l slot for the new block is "cascaded" first: its records
 are scheduled again, and since they are now less than 64^l ticks away they
 land in lower levels (the classic Linux timer wheel and Kafka's purgatory).
 A bitmap per level tells which slots hold records, so the wheel finds the
 next tick with anything to do in constant time and skips empty ticks
 instead of visiting them.

 Records are packed into per-slot byte arenas, {UInt64 deadline, UInt32
 length, key bytes}: no allocation per record, and a pending record costs
 its key length plus 12 bytes. The wheel stores keys and deadlines only; the
 store's entry is the truth (the worker asks the store whether the key is
 really due), so a slot is only a hint and stale records are harmless.
 */

/// Expiry records packed back to back in one byte array.
@_spi(Benchmarks)
public struct RecordArena: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    static let headerSize = MemoryLayout<UInt64>.size + MemoryLayout<UInt32>.size

    var isEmpty: Bool { count == 0 }

    /// Bytes allocated for the records.
    var byteCount: Int { bytes.capacity }

    /// Bytes the records take.
    var usedBytes: Int { bytes.count }

    /// Makes room for `extra` more bytes: doubling, but to no more than
    /// `limit` bytes in all while they fit in it (a budgeted shard's records'
    /// slice), so that the capacity stays near what is charged for it.
    mutating func reserve(_ extra: Int, within limit: Int) {
        let need = bytes.count + extra
        guard need > bytes.capacity else { return }
        var capacity = Swift.max(bytes.capacity * 2, 256, need)
        if capacity > limit && need <= limit { capacity = limit }
        bytes.reserveCapacity(capacity)
    }

    mutating func append(key: UnsafeRawBufferPointer, deadline: UInt64) {
        withUnsafeBytes(of: deadline.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(key.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: key)
        count += 1
    }

    /// Calls `body` for each record from byte `offset` on while it returns
    /// true; returns the offset of the first record not visited.
    func visit(from offset: Int, _ body: (UnsafeRawBufferPointer, UInt64) -> Bool) -> Int {
        bytes.withUnsafeBytes { raw in
            var at = offset
            while at < raw.count {
                let record = Self.record(in: raw, at: at)
                guard body(record.key, record.deadline) else { return at }
                at = record.next
            }
            return at
        }
    }

    /// The record at byte `offset` of an arena's bytes `raw`, and the offset
    /// of the next.
    static func record(in raw: UnsafeRawBufferPointer, at offset: Int) -> (key: UnsafeRawBufferPointer, deadline: UInt64, next: Int) {
        let deadline = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)))
        let start = offset + headerSize
        return (UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]), deadline, start + length)
    }
}

/// The hierarchical timing wheel described at the top of this file. Not
/// thread-safe: the expiry worker owns it. Public only to the benchmarks.
@_spi(Benchmarks)
public struct TimingWheel {
    static let levels = 5
    static let slotBits = 6
    static let slotsPerLevel = 1 << slotBits
    /// Ticks ahead that the wheel can place exactly.
    static let horizonTicks: UInt64 = 1 << (slotBits * levels)

    /// Milliseconds per tick.
    let resolution: UInt64
    /// The next tick to process; every earlier tick has been processed.
    private(set) var nextTick: UInt64
    /// Records in the wheel and in the due queue.
    public private(set) var count = 0

    private var slots: [RecordArena]
    private var occupied: [UInt64]
    private var due: [RecordArena] = []
    private var dueCursor = (arena: 0, offset: 0)

    /// A wheel whose ticks are `resolution` ms, starting at `now` (ms).
    public init(resolution: UInt64, now: UInt64) {
        precondition(resolution > 0)
        self.resolution = resolution
        nextTick = now / resolution
        slots = Array(repeating: RecordArena(), count: Self.levels * Self.slotsPerLevel)
        occupied = Array(repeating: 0, count: Self.levels)
    }

    /// Whether records wait in the due queue.
    var hasDue: Bool { dueCursor.arena < due.count }

    /// Adds a record. A deadline whose tick has already been processed goes
    /// straight to the due queue.
    public mutating func schedule(key: UnsafeRawBufferPointer, deadline: UInt64) {
        count += 1
        place(key: key, deadline: deadline)
    }

    private mutating func place(key: UnsafeRawBufferPointer, deadline: UInt64) {
        let tick = deadline / resolution
        guard tick >= nextTick else {
            appendDue(key: key, deadline: deadline)
            return
        }
        let ahead = tick - nextTick
        var level = 0
        while level < Self.levels - 1, ahead >= 1 << (Self.slotBits * (level + 1)) {
            level += 1
        }
        let slotTick = ahead < Self.horizonTicks ? tick : nextTick + Self.horizonTicks - 1
        let index = Int(truncatingIfNeeded: slotTick >> UInt64(Self.slotBits * level)) & (Self.slotsPerLevel - 1)
        slots[level * Self.slotsPerLevel + index].append(key: key, deadline: deadline)
        occupied[level] |= 1 << UInt64(index)
    }

    private mutating func appendDue(key: UnsafeRawBufferPointer, deadline: UInt64) {
        if due.isEmpty || due.count == dueCursor.arena {
            due.append(RecordArena())
        }
        due[due.count - 1].append(key: key, deadline: deadline)
    }

    private mutating func take(level: Int, index: Int) -> RecordArena {
        occupied[level] &= ~(1 << UInt64(index))
        var arena = RecordArena()
        swap(&arena, &slots[level * Self.slotsPerLevel + index])
        return arena
    }

    /// Processes every tick that is over at `now` (ms): cascades, and moves
    /// fired slots to the due queue. Skips runs of empty ticks in one step.
    public mutating func advance(to now: UInt64) {
        let target = now / resolution
        while nextTick < target {
            guard let event = nextEventTick(), event < target else {
                nextTick = target
                return
            }
            nextTick = event
            processTick()
            nextTick += 1
        }
    }

    private mutating func processTick() {
        let tick = nextTick
        var level = 1
        while level < Self.levels {
            let index = Int(truncatingIfNeeded: tick >> UInt64(Self.slotBits * level)) & (Self.slotsPerLevel - 1)
            guard tick & ((1 << UInt64(Self.slotBits * level)) - 1) == 0 else { break }
            if occupied[level] & (1 << UInt64(index)) != 0 {
                let arena = take(level: level, index: index)
                _ = arena.visit(from: 0) { key, deadline in
                    place(key: key, deadline: deadline)
                    return true
                }
            }
            level += 1
        }
        let index = Int(truncatingIfNeeded: tick) & (Self.slotsPerLevel - 1)
        if occupied[0] & (1 << UInt64(index)) != 0 {
            let arena = take(level: 0, index: index)
            if hasDue {
                due.append(arena)
            } else {
                due = [arena]
                dueCursor = (0, 0)
            }
        }
    }

    /// The first tick at or after ``nextTick`` at which processing finds a
    /// record (fires or cascades a slot), or nil if the wheel is empty.
    func nextEventTick() -> UInt64? {
        var best: UInt64?
        for level in 0..<Self.levels where occupied[level] != 0 {
            let shift = UInt64(Self.slotBits * level)
            let block = nextTick >> shift
            let current = Int(truncatingIfNeeded: block) & (Self.slotsPerLevel - 1)
            // Rotate so that bit 0 is the current slot, then find the first.
            let rotated = occupied[level].rotateRight(by: current)
            var distance = UInt64(rotated.trailingZeroBitCount)
            var tick: UInt64
            if level == 0 {
                tick = nextTick + distance
            } else {
                // A level-l slot is cascaded at the start of its block. If
                // nextTick is that start, the current slot's cascade is still
                // to come; otherwise its block has begun and it is next due
                // a full rotation later.
                let atBlockStart = nextTick & ((1 << shift) - 1) == 0
                if distance == 0 && !atBlockStart { distance = UInt64(Self.slotsPerLevel) }
                tick = (block + distance) << shift
            }
            if best.map({ tick < $0 }) ?? true { best = tick }
        }
        return best
    }

    /// When (ms) the next tick with work is over, or nil if nothing waits.
    /// The due queue counts as work now.
    func nextWakeMilliseconds() -> UInt64? {
        if hasDue { return nextTick * resolution }
        return nextEventTick().map { ($0 + 1) * resolution }
    }

    /// Takes up to `limit` due records, oldest first, in batches of up to
    /// `batchSize`: `body` gets each batch's keys and deadlines, and sets
    /// `later[i]` (0 when called) to a later deadline to schedule record i
    /// again, or leaves it 0 to drop it. Stops early when `shouldStop` says
    /// so (asked before every batch but the first); the rest stays queued.
    /// Returns how many it took.
    public mutating func takeDue(
        limit: Int, batchSize: Int = 64, shouldStop: () -> Bool = { false },
        _ body: (_ keys: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ deadlines: UnsafeBufferPointer<UInt64>,
                 _ later: UnsafeMutableBufferPointer<UInt64>) -> Void
    ) -> Int {
        precondition(batchSize > 0)
        var taken = 0
        withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: batchSize) { keys in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * batchSize) { numbers in
                let deadlines = UnsafeMutableBufferPointer(rebasing: numbers[..<batchSize])
                let later = UnsafeMutableBufferPointer(rebasing: numbers[batchSize...])
                var stopped = false
                while !stopped && dueCursor.arena < due.count {
                    // A copy: rescheduling may append to the due queue, and
                    // the keys point into this arena's bytes.
                    let arena = due[dueCursor.arena]
                    let next = arena.bytes.withUnsafeBytes { raw in
                        var at = dueCursor.offset
                        while at < raw.count {
                            if taken >= limit || (taken > 0 && shouldStop()) {
                                stopped = true
                                break
                            }
                            var filled = 0
                            while filled < Swift.min(batchSize, limit - taken) && at < raw.count {
                                let record = RecordArena.record(in: raw, at: at)
                                keys[filled] = record.key
                                deadlines[filled] = record.deadline
                                later[filled] = 0
                                (filled, at) = (filled + 1, record.next)
                            }
                            body(UnsafeBufferPointer(rebasing: keys[..<filled]), UnsafeBufferPointer(rebasing: deadlines[..<filled]),
                                 UnsafeMutableBufferPointer(rebasing: later[..<filled]))
                            for i in 0..<filled {
                                if later[i] != 0 {
                                    place(key: keys[i], deadline: later[i])
                                } else {
                                    count -= 1
                                }
                            }
                            taken += filled
                        }
                        return at
                    }
                    dueCursor = stopped ? (dueCursor.arena, next) : (dueCursor.arena + 1, 0)
                }
            }
        }
        if dueCursor.arena == due.count {
            due.removeAll()
            dueCursor = (0, 0)
        }
        return taken
    }

    /// ``takeDue(limit:batchSize:shouldStop:_:)`` a record at a time: `body`
    /// gets each key and deadline and returns nil to drop the record or a
    /// later deadline to schedule it again.
    public mutating func takeDue(
        limit: Int, shouldStop: () -> Bool = { false }, _ body: (UnsafeRawBufferPointer, UInt64) -> UInt64?
    ) -> Int {
        takeDue(limit: limit, shouldStop: shouldStop) { keys, deadlines, later in
            for i in keys.indices { later[i] = body(keys[i], deadlines[i]) ?? 0 }
        }
    }
}

extension UInt64 {
    fileprivate func rotateRight(by n: Int) -> UInt64 {
        n == 0 ? self : (self >> UInt64(n)) | (self << UInt64(64 - n))
    }
}
