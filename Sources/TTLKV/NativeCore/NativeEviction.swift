/*
 NativeStore's memory budget: the C core's eviction policy, in Swift, so
 that the comparison stays like for like (Benchmarks/Eviction/README.md has
 the design and the evidence for it).

 Each shard gets an equal share of ``StoreConfiguration/maximumBytes`` and
 runs S3-FIFO over its own entries: a small FIFO that new keys enter, a main
 FIFO for keys read again, each entry's frequency (0 to 3) bumped by reads,
 and a ghost of fingerprints of keys that left, so that a key written again
 soon after goes straight to main. A write that would pass the share first
 makes room: it looks at the head of small (or of main, once main holds more
 than 90% of the share), removes an entry whose deadline has passed, moves
 one that was read on (small to main, main to main's tail, a frequency spent
 each time), and evicts one that was not. After 16 entries kept, every entry
 it looks at is evicted, so a write's work is bounded by 16 plus the entries
 that must go for it to fit, however the frequencies lie.

 A write first chooses its victims (out of their queues, still in the
 table), and removes them only once it cannot fail, so a write that fails
 evicts nothing. Records of evictions and expiries wait for the worker in a
 slice of the share (a sixty-fourth, at least 8 KiB, at most a sixteenth),
 as in the C core: they never displace entries; a write that would have to
 evict while they fill more than half of it, and pass it, is refused with
 outOfMemory, and the front end waits for a drain and tries once more.

 An entry is charged what malloc gave it; a shard's table, ghost and
 records' slice are charged as fixed costs. The queues are intrusive doubly-linked
 lists through the entries' headers (unowned links: the shard's table holds
 every queued entry), so removing any entry is O(1).
 */
#if canImport(Glibc)
import Glibc
#endif

/// One FIFO of entries, linked through their headers.
struct EvictionQueue {
    enum Kind: UInt8 { case none, small, main }

    let kind: Kind
    private(set) var head: Unmanaged<NativeEntry.Buffer>?
    private var tail: Unmanaged<NativeEntry.Buffer>?
    /// Bytes charged for the entries in this queue.
    private(set) var bytes = 0

    init(_ kind: Kind) {
        self.kind = kind
    }

    var isEmpty: Bool { head == nil }

    /// Adds `entry`, charged `charge` bytes, at the tail, or at the head
    /// (a failed write's victim put back where it was).
    mutating func append(_ entry: NativeEntry, charge: Int, atHead: Bool = false) {
        entry.header.queue = kind
        bytes += charge
        if atHead {
            (entry.header.previous, entry.header.next) = (nil, head)
            if let head { NativeEntry(link: head).header.previous = entry.link } else { tail = entry.link }
            head = entry.link
        } else {
            (entry.header.previous, entry.header.next) = (tail, nil)
            if let tail { NativeEntry(link: tail).header.next = entry.link } else { head = entry.link }
            tail = entry.link
        }
    }

    /// Takes `entry`, charged `charge` bytes, out of this queue.
    mutating func remove(_ entry: NativeEntry, charge: Int) {
        let (previous, next) = (entry.header.previous, entry.header.next)
        if let previous { NativeEntry(link: previous).header.next = next } else { head = next }
        if let next { NativeEntry(link: next).header.previous = previous } else { tail = previous }
        entry.header.previous = nil
        entry.header.next = nil
        entry.header.queue = .none
        bytes -= charge
    }

    /// Puts `new` where `old` is, charged `delta` bytes more.
    mutating func replace(_ old: NativeEntry, with new: NativeEntry, delta: Int) {
        let (previous, next) = (old.header.previous, old.header.next)
        new.header.previous = previous
        new.header.next = next
        new.header.queue = kind
        new.header.frequency = old.header.frequency
        if let previous { NativeEntry(link: previous).header.next = new.link } else { head = new.link }
        if let next { NativeEntry(link: next).header.previous = new.link } else { tail = new.link }
        old.header.previous = nil
        old.header.next = nil
        old.header.queue = .none
        bytes += delta
    }
}

/// Fingerprints of keys that left a shard (evicted from small, deleted or
/// expired): 16 bits each, in buckets of 32 (a cache line); a bucket keeps
/// its newest first and drops its oldest.
struct EvictionGhost {
    private var slots: [UInt16]
    private let buckets: Int
    /// The entry count the ghost was sized for: about one fingerprint each.
    let sizedFor: Int

    init(entries: Int) {
        sizedFor = entries
        buckets = Swift.max(1, (entries + 31) / 32)
        slots = Array(repeating: 0, count: buckets * 32)
    }

    var byteCount: Int { slots.count * MemoryLayout<UInt16>.stride }

    /// The bucket is picked by the hash's low bits: the shard used its high ones.
    private func bucket(_ hash: UInt64) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: hash)) &* UInt64(buckets)) >> 32) * 32
    }

    private static func fingerprint(_ hash: UInt64) -> UInt16 {
        let print = UInt16(truncatingIfNeeded: (hash &* 0xD6E8_FEB8_6659_FD93) >> 48)
        return print == 0 ? 1 : print
    }

    /// Whether the key was here; forgets it if so.
    mutating func take(_ hash: UInt64) -> Bool {
        let start = bucket(hash), print = Self.fingerprint(hash)
        for index in start..<(start + 32) where slots[index] == print {
            slots[index] = 0
            return true
        }
        return false
    }

    mutating func add(_ hash: UInt64) {
        let start = bucket(hash)
        var free = start + 31
        for index in start..<(start + 32) where slots[index] == 0 {
            free = index
            break
        }
        var index = free
        while index > start {
            slots[index] = slots[index - 1]
            index -= 1
        }
        slots[start] = Self.fingerprint(hash)
    }
}

/// A shard's budget and its S3-FIFO state, under the shard's lock.
struct EvictionPolicy {
    /// Entries a write may keep (move on) before every entry it looks at
    /// is evicted.
    static let examinations = 16

    /// The shard's share of the store's budget.
    let share: Int
    var small = EvictionQueue(.small)
    var main = EvictionQueue(.main)
    var ghost: EvictionGhost
    /// Whether this shard has ever evicted: until then a full small queue
    /// sends new keys to main (S3-FIFO's warm-up).
    var hasEvicted = false
    var evicted = 0

    init(share: Int, entries: Int) {
        self.share = share
        ghost = EvictionGhost(entries: entries)
    }

    /// Bytes charged for entries.
    var entryBytes: Int { small.bytes + main.bytes }

    /// Forgets every queued entry (the shard's table is being emptied).
    mutating func emptyQueues() {
        small = EvictionQueue(.small)
        main = EvictionQueue(.main)
    }
}

extension NativeShardState {
    /// What the shard holds besides its entries and record logs, charged
    /// against its share: its table (the buckets a Dictionary of this
    /// capacity has, at its load factor of 3/4) and its ghost.
    var fixedBytes: Int {
        Self.tableBytes(buckets: tableBuckets) + (policy?.ghost.byteCount ?? 0)
    }

    /// The buckets behind the table's capacity.
    var tableBuckets: Int {
        var buckets = 1
        while buckets * 3 / 4 < table.capacity { buckets *= 2 }
        return buckets
    }

    static func tableBytes(buckets: Int) -> Int {
        buckets * (MemoryLayout<UInt64>.stride + MemoryLayout<NativeEntry>.stride) + buckets / 8
    }

    /// The slice of the share kept for the record logs (0 without a
    /// budget): a sixty-fourth, at least 8 KiB, at most a sixteenth,
    /// charged whether or not they fill it, so that records never displace
    /// entries (the C core's rule, ttlkv.h).
    var logRoom: Int {
        let share = policy?.share ?? 0
        return Swift.min(Swift.max(share / 64, 8192), share / 16)
    }

    /// Bytes the records waiting for the worker take.
    var loggedBytes: Int { schedule.usedBytes + expiredLog.usedBytes + evictedLog.usedBytes }

    /// What the record logs are charged: their records, or their slice if
    /// that is more (as the C core charges them; NativeCore.log keeps each
    /// buffer within the slice while the records fit in it).
    var logBytes: Int { Swift.max(logRoom, loggedBytes) }

    /// Bytes charged against the budget, fixed costs and records included.
    var usedBytes: Int {
        guard let policy else { return 0 }
        return policy.entryBytes + fixedBytes + logBytes
    }
}

/// What a write under a budget takes out of its shard to fit: chosen first
/// (out of their queues, still in the table), then committed once nothing
/// can fail, or put back, so that a write that fails evicts nothing.
struct EvictionRoom {
    struct Victim {
        let entry: NativeEntry
        let queue: EvictionQueue.Kind
        let expired: Bool
    }

    var victims: [Victim] = []
    /// Bytes of the records the write and its victims append.
    var records: Int

    static func recordBytes(keyCount: Int) -> Int {
        RecordArena.headerSize + keyCount
    }
}

extension NativeCore {
    /// Reserves room for `entry`, which replaces `old` (nil: a new key),
    /// under the lock of its shard, and evicts (into `evicted`, to be
    /// released after the lock) what must go for it to fit. Throws,
    /// changing nothing but the queues' order and frequencies:
    /// ``StoreError/exceedsMemoryBudget`` if it could never fit beside the
    /// shard's table, ghost and records' slice; ``StoreError/outOfMemory``
    /// if it would have to evict while the records fill their slice (the
    /// front end waits for the worker to drain them and tries once more),
    /// or if it cannot fit at all. Call before anything else changes the
    /// shard.
    func makeRoom(for entry: NativeEntry, replacing old: NativeEntry?, in state: inout NativeShardState,
                  evicted: inout [NativeEntry]) throws(StoreError) {
        guard let share = state.policy?.share else { return }
        let charge = entry.allocatedBytes
        guard charge + state.fixedBytes + state.logRoom <= share else { throw StoreError.exceedsMemoryBudget }
        // The write's own records: its deadline's, and an expired old entry's.
        var records = entry.deadline != 0 ? EvictionRoom.recordBytes(keyCount: entry.keyCount) : 0
        if let old, isExpired(old.deadline, now: coarseNow()) { records += EvictionRoom.recordBytes(keyCount: old.keyCount) }
        try makeRoom(adding: charge - (old?.allocatedBytes ?? 0), records: records, inserting: old == nil,
                     protecting: old, in: &state, evicted: &evicted)
    }

    /// Room for the record that a new deadline of `entry` appends (a TTL
    /// set on a key), as a write's records have it.
    func makeRoom(forDeadlineOf entry: NativeEntry, in state: inout NativeShardState,
                  evicted: inout [NativeEntry]) throws(StoreError) {
        guard state.policy != nil else { return }
        try makeRoom(adding: 0, records: EvictionRoom.recordBytes(keyCount: entry.keyCount), inserting: false,
                     protecting: entry, in: &state, evicted: &evicted)
    }

    /// Chooses victims until `need` more bytes of entries and `records`
    /// bytes of records fit, then evicts them; `protected` is never one.
    private func makeRoom(adding need: Int, records: Int, inserting: Bool, protecting protected: NativeEntry?,
                          in state: inout NativeShardState, evicted: inout [NativeEntry]) throws(StoreError) {
        let share = state.policy!.share, room = state.logRoom
        // An insert into a full table grows it, unless a victim frees a slot.
        let buckets = state.tableBuckets
        let growth = NativeShardState.tableBytes(buckets: buckets * 2) - NativeShardState.tableBytes(buckets: buckets)
        let logged = state.loggedBytes
        var plan = EvictionRoom(records: records)
        func fits(_ state: NativeShardState) -> Bool {
            let grows = inserting && state.table.count - plan.victims.count >= state.table.capacity
            let records = Swift.max(room, logged + plan.records)
            return state.policy!.entryBytes + need + (grows ? growth : 0) + state.fixedBytes + records <= share
        }
        var examined = 0
        while !fits(state) {
            guard let victim = nextVictim(state.policy!, examined: &examined, protecting: protected, in: &state) else {
                putBack(plan, in: &state)
                throw StoreError.outOfMemory
            }
            let record = EvictionRoom.recordBytes(keyCount: victim.keyCount)
            if logged > room / 2 && logged + plan.records + record > room {
                // Records never displace entries: wait for a drain instead
                // (with the logs at most half full, a write whose own
                // victims' records pass the slice may, as in evict.c).
                putBack(plan, in: &state)
                drainWanted.store(true, ordering: .relaxed)
                throw StoreError.outOfMemory
            }
            plan.victims.append(.init(entry: victim, queue: victim.header.queue,
                                      expired: isExpired(victim.deadline, now: coarseNow())))
            plan.records += record
            dequeue(victim, in: &state)
        }
        for victim in plan.victims {
            let entry = victim.entry
            entry.withKey { key in
                let hash = hash(key)
                if victim.expired {
                    state.policy!.ghost.add(hash)
                    unlink(entry, hash: hash, key: key, expired: true, in: &state)
                } else {
                    evict(entry, from: victim.queue, hash: hash, key: key, in: &state)
                }
            }
            evicted.append(entry)
        }
    }

    /// Puts a failed write's victims back at the heads of their queues, in
    /// the order they had.
    private func putBack(_ plan: EvictionRoom, in state: inout NativeShardState) {
        for victim in plan.victims.reversed() {
            let charge = victim.entry.allocatedBytes
            if victim.queue == .small {
                state.policy!.small.append(victim.entry, charge: charge, atHead: true)
            } else {
                state.policy!.main.append(victim.entry, charge: charge, atHead: true)
            }
        }
    }

    /// The next entry to go, after moving on the ones a write keeps; nil if
    /// nothing but `protected` (the entry the write replaces) is left to
    /// go. `protected` is never chosen, even once its deadline has passed:
    /// the write replaces it (and reports it expired) itself.
    private func nextVictim(_ policy: EvictionPolicy, examined: inout Int, protecting protected: NativeEntry?,
                            in state: inout NativeShardState) -> NativeEntry? {
        let smallTarget = policy.share / 10
        var protectedMet = 0
        while true {
            var fromMain = state.policy!.main.bytes > state.policy!.share - smallTarget || state.policy!.small.isEmpty
            if let protected, state.policy![queue: fromMain].holdsOnly(protected), !state.policy![queue: !fromMain].isEmpty {
                fromMain.toggle()
            }
            guard let head = state.policy![queue: fromMain].head else { return nil }
            let entry = NativeEntry(link: head)
            let charge = entry.allocatedBytes
            if let protected, entry.isSame(as: protected) {
                // Met again only once every other entry was looked at: past
                // K of those every one leaves, so then nothing else is left.
                protectedMet += 1
                if state.policy![queue: !fromMain].isEmpty && state.policy![queue: fromMain].holdsOnly(protected)
                    || protectedMet > state.count + EvictionPolicy.examinations {
                    return nil
                }
                state.policy![queue: fromMain].remove(entry, charge: charge)
                state.policy!.main.append(entry, charge: charge)
                continue
            }
            let force = examined >= EvictionPolicy.examinations
            examined += 1
            if isExpired(entry.deadline, now: coarseNow()) { return entry }
            let frequency = entry.header.frequency
            if !force && frequency >= (fromMain ? 1 : 2) {
                // Kept: to main's tail, a read spent (from small: all of them).
                state.policy![queue: fromMain].remove(entry, charge: charge)
                state.policy!.main.append(entry, charge: charge)
                entry.header.frequency = fromMain ? frequency - 1 : 0
                continue
            }
            return entry
        }
    }

    /// Evicts a live entry already out of its queue (`queue` says which it
    /// was in): out of its table, logged for the worker's `.evicted` event,
    /// its fingerprint kept if it was new.
    private func evict(_ entry: NativeEntry, from queue: EvictionQueue.Kind, hash: UInt64,
                       key: UnsafeRawBufferPointer, in state: inout NativeShardState) {
        if queue == .small { state.policy!.ghost.add(hash) }
        state.policy!.hasEvicted = true
        state.policy!.evicted += 1
        state.remove(entry, hash: hash, hashOf: self.hash)
        log(\.evictedLog, counted: loggedEvictions, key: key, deadline: entry.deadline == 0 ? .max : entry.deadline, in: &state)
        releaseEntries()
    }

    /// Queues a new key's entry: in main if the ghost remembers the key (or
    /// while the shard warms up and small is full), else in small.
    func enqueue(_ entry: NativeEntry, hash: UInt64, in state: inout NativeShardState) {
        guard var policy = state.policy else { return }
        state.policy = nil   // so that the queues below are uniquely referenced
        let charge = entry.allocatedBytes
        let toMain = policy.ghost.take(hash) || (!policy.hasEvicted && policy.small.bytes >= policy.share / 10)
        if toMain { policy.main.append(entry, charge: charge) } else { policy.small.append(entry, charge: charge) }
        resizeGhostIfNeeded(&policy, entries: state.count)
        state.policy = policy
    }

    /// Puts `new` in `old`'s place in its queue, with its frequency.
    func requeue(_ old: NativeEntry, with new: NativeEntry, in state: inout NativeShardState) {
        guard state.policy != nil, old.header.queue != .none else { return enqueueIfBudgeted(new, in: &state) }
        let delta = new.allocatedBytes - old.allocatedBytes
        if old.header.queue == .small {
            state.policy!.small.replace(old, with: new, delta: delta)
        } else {
            state.policy!.main.replace(old, with: new, delta: delta)
        }
    }

    private func enqueueIfBudgeted(_ entry: NativeEntry, in state: inout NativeShardState) {
        guard state.policy != nil else { return }
        entry.withKey { key in enqueue(entry, hash: hash(key), in: &state) }
    }

    /// Takes a removed entry out of its queue; a deleted or expired key's
    /// fingerprint goes to the ghost (it was wanted: if it comes back, it
    /// goes straight to main).
    func forget(_ entry: NativeEntry, hash: UInt64, in state: inout NativeShardState) {
        guard state.policy != nil, entry.header.queue != .none else { return }
        dequeue(entry, in: &state)
        state.policy!.ghost.add(hash)
    }

    private func dequeue(_ entry: NativeEntry, in state: inout NativeShardState) {
        let charge = entry.allocatedBytes
        switch entry.header.queue {
        case .small: state.policy!.small.remove(entry, charge: charge)
        case .main: state.policy!.main.remove(entry, charge: charge)
        case .none: break
        }
    }

    /// A new ghost when the shard's entry count has drifted far from the
    /// one the ghost was sized for (losing the old one only costs a few
    /// early evictions).
    private func resizeGhostIfNeeded(_ policy: inout EvictionPolicy, entries: Int) {
        let sized = policy.ghost.sizedFor
        if entries * 2 < sized || entries > sized + sized / 4 + 32 {
            policy.ghost = EvictionGhost(entries: entries)
        }
    }
}

extension EvictionQueue {
    /// Whether `entry` is all this queue holds.
    func holdsOnly(_ entry: NativeEntry) -> Bool {
        head?.toOpaque() == entry.link.toOpaque() && tail?.toOpaque() == entry.link.toOpaque()
    }
}

extension EvictionPolicy {
    /// The main queue, or the small one.
    subscript(queue main: Bool) -> EvictionQueue {
        get { main ? self.main : small }
        set { if main { self.main = newValue } else { small = newValue } }
    }
}

extension NativeEntry {
    /// A read of the value: counts toward keeping the entry (up to 3).
    func noteRead() {
        if header.frequency < 3 { header.frequency += 1 }
    }
}
