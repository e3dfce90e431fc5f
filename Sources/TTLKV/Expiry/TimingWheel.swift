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

 A record is 16 bytes, {handle, deadline}, whatever the key's length: the
 handle is the store's 64-bit name for the key (its seeded hash), which the
 store resolves back to the entry when the record fires. The wheel holds no
 copy of any key, and the store's entry is the truth (the worker asks the
 store whether the key is really due), so a slot is only a hint and stale
 records are harmless.
 */

/// One pending expiry: the store's handle for a key, and the deadline (ms)
/// the record was scheduled for.
@_spi(Benchmarks)
public struct WheelRecord: Sendable {
    public var handle: UInt64
    public var deadline: UInt64

    @inlinable
    public init(handle: UInt64, deadline: UInt64) {
        self.handle = handle
        self.deadline = deadline
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

    private var slots: [[WheelRecord]]
    private var occupied: [UInt64]
    /// Fired slots, oldest first, and the first record not yet taken.
    private var due: [[WheelRecord]] = []
    private var dueCursor = (slot: 0, index: 0)

    /// A wheel whose ticks are `resolution` ms, starting at `now` (ms).
    public init(resolution: UInt64, now: UInt64) {
        precondition(resolution > 0)
        self.resolution = resolution
        nextTick = now / resolution
        slots = Array(repeating: [], count: Self.levels * Self.slotsPerLevel)
        occupied = Array(repeating: 0, count: Self.levels)
    }

    /// Whether records wait in the due queue.
    var hasDue: Bool { dueCursor.slot < due.count }

    /// Adds a record for the key the store calls `handle`. A deadline whose
    /// tick has already been processed goes straight to the due queue.
    public mutating func schedule(handle: UInt64, deadline: UInt64) {
        count += 1
        place(WheelRecord(handle: handle, deadline: deadline))
    }

    private mutating func place(_ record: WheelRecord) {
        let tick = record.deadline / resolution
        guard tick >= nextTick else {
            appendDue(record)
            return
        }
        let ahead = tick - nextTick
        var level = 0
        while level < Self.levels - 1, ahead >= 1 << (Self.slotBits * (level + 1)) {
            level += 1
        }
        let slotTick = ahead < Self.horizonTicks ? tick : nextTick + Self.horizonTicks - 1
        let index = Int(truncatingIfNeeded: slotTick >> UInt64(Self.slotBits * level)) & (Self.slotsPerLevel - 1)
        slots[level * Self.slotsPerLevel + index].append(record)
        occupied[level] |= 1 << UInt64(index)
    }

    private mutating func appendDue(_ record: WheelRecord) {
        if due.isEmpty || due.count == dueCursor.slot {
            due.append([])
        }
        due[due.count - 1].append(record)
    }

    private mutating func take(level: Int, index: Int) -> [WheelRecord] {
        occupied[level] &= ~(1 << UInt64(index))
        var records: [WheelRecord] = []
        swap(&records, &slots[level * Self.slotsPerLevel + index])
        return records
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
                for record in take(level: level, index: index) { place(record) }
            }
            level += 1
        }
        let index = Int(truncatingIfNeeded: tick) & (Self.slotsPerLevel - 1)
        if occupied[0] & (1 << UInt64(index)) != 0 {
            let records = take(level: 0, index: index)
            if hasDue {
                due.append(records)
            } else {
                due = [records]
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
    /// `batchSize`: `body` gets each batch's handles and deadlines, and sets
    /// `later[i]` (0 when called) to a later deadline to schedule record i
    /// again, or leaves it 0 to drop it. Stops early when `shouldStop` says
    /// so (asked before every batch but the first); the rest stays queued.
    /// Returns how many it took.
    public mutating func takeDue(
        limit: Int, batchSize: Int = 64, shouldStop: () -> Bool = { false },
        _ body: (_ handles: UnsafeBufferPointer<UInt64>, _ deadlines: UnsafeBufferPointer<UInt64>,
                 _ later: UnsafeMutableBufferPointer<UInt64>) -> Void
    ) -> Int {
        precondition(batchSize > 0)
        var taken = 0
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 3 * batchSize) { numbers in
            let handles = UnsafeMutableBufferPointer(rebasing: numbers[..<batchSize])
            let deadlines = UnsafeMutableBufferPointer(rebasing: numbers[batchSize..<(2 * batchSize)])
            let later = UnsafeMutableBufferPointer(rebasing: numbers[(2 * batchSize)...])
            while dueCursor.slot < due.count {
                if taken >= limit || (taken > 0 && shouldStop()) { break }
                // Rescheduling may append to the due queue: copy the batch
                // out of it first.
                let records = due[dueCursor.slot]
                let filled = Swift.min(batchSize, limit - taken, records.count - dueCursor.index)
                for i in 0..<filled {
                    let record = records[dueCursor.index + i]
                    (handles[i], deadlines[i], later[i]) = (record.handle, record.deadline, 0)
                }
                dueCursor.index += filled
                if dueCursor.index == records.count { dueCursor = (dueCursor.slot + 1, 0) }
                body(UnsafeBufferPointer(rebasing: handles[..<filled]), UnsafeBufferPointer(rebasing: deadlines[..<filled]),
                     UnsafeMutableBufferPointer(rebasing: later[..<filled]))
                for i in 0..<filled {
                    if later[i] != 0 {
                        place(WheelRecord(handle: handles[i], deadline: later[i]))
                    } else {
                        count -= 1
                    }
                }
                taken += filled
            }
        }
        if dueCursor.slot == due.count {
            due.removeAll()
            dueCursor = (0, 0)
        }
        return taken
    }

    /// ``takeDue(limit:batchSize:shouldStop:_:)`` a record at a time: `body`
    /// gets each handle and deadline and returns nil to drop the record or a
    /// later deadline to schedule it again.
    public mutating func takeDue(
        limit: Int, shouldStop: () -> Bool = { false }, _ body: (UInt64, UInt64) -> UInt64?
    ) -> Int {
        takeDue(limit: limit, shouldStop: shouldStop) { handles, deadlines, later in
            for i in handles.indices { later[i] = body(handles[i], deadlines[i]) ?? 0 }
        }
    }

    /// Bytes the wheel's record arrays have allocated (their capacity), for
    /// the tests of what a pending record costs.
    var allocatedBytes: Int {
        (slots.reduce(0) { $0 + $1.capacity } + due.reduce(0) { $0 + $1.capacity }) * MemoryLayout<WheelRecord>.stride
    }
}

extension UInt64 {
    fileprivate func rotateRight(by n: Int) -> UInt64 {
        n == 0 ? self : (self >> UInt64(n)) | (self << UInt64(64 - n))
    }
}
