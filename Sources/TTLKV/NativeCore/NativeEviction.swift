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

 An entry is charged what malloc gave it; a shard's tables, ghost and record
 logs are charged as fixed costs. The queues are intrusive doubly-linked
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

    /// Appends `entry`, charged `charge` bytes, at the tail.
    mutating func append(_ entry: NativeEntry, charge: Int) {
        entry.header.previous = tail
        entry.header.next = nil
        entry.header.queue = kind
        if let tail { NativeEntry(link: tail).header.next = entry.link } else { head = entry.link }
        tail = entry.link
        bytes += charge
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
    /// What the shard holds besides its entries, charged against its share:
    /// its table, its ghost and its record logs.
    var fixedBytes: Int {
        let slots = table.capacity
        return slots * (MemoryLayout<UInt64>.stride + MemoryLayout<NativeEntry>.stride) + slots / 8
            + (policy?.ghost.byteCount ?? 0)
            + schedule.byteCount + expiredLog.byteCount + evictedLog.byteCount
    }

    /// Bytes charged against the budget, fixed costs included.
    var usedBytes: Int {
        guard let policy else { return 0 }
        return policy.entryBytes + fixedBytes
    }
}

extension NativeCore {
    /// Reserves room for `entry`, which replaces `old` (nil: a new key),
    /// under the lock of its shard: throws, changing nothing, if it can
    /// never fit; else evicts (into `evicted`, to be released after the
    /// lock) until it fits. Call before anything else changes the shard.
    func makeRoom(for entry: NativeEntry, replacing old: NativeEntry?, in state: inout NativeShardState,
                  evicted: inout [NativeEntry]) throws(StoreError) {
        guard let policy = state.policy else { return }
        let charge = entry.allocatedBytes
        guard charge <= policy.share - state.fixedBytes else { throw StoreError.exceedsMemoryBudget }
        let need = charge - (old?.allocatedBytes ?? 0)
        var examined = 0
        while let policy = state.policy, policy.entryBytes + state.fixedBytes + need > policy.share {
            guard let victim = nextVictim(state.policy!, examined: &examined, protecting: old, in: &state) else { break }
            if isExpired(victim.deadline, now: now()) {
                victim.withKey { key in unlink(victim, hash: hash(key), key: key, expired: true, in: &state) }
            } else {
                victim.withKey { key in evict(victim, hash: hash(key), key: key, in: &state) }
            }
            evicted.append(victim)
        }
    }

    /// The next entry to go, after moving on the ones a write keeps; nil if
    /// the queues hold only `protected`.
    private func nextVictim(_ policy: EvictionPolicy, examined: inout Int, protecting protected: NativeEntry?,
                            in state: inout NativeShardState) -> NativeEntry? {
        let smallTarget = policy.share / 10
        while true {
            let fromMain = state.policy!.main.bytes > state.policy!.share - smallTarget || state.policy!.small.isEmpty
            guard let head = fromMain ? state.policy!.main.head : state.policy!.small.head else { return nil }
            let entry = NativeEntry(link: head)
            let force = examined >= EvictionPolicy.examinations
            examined += 1
            if isExpired(entry.deadline, now: now()) { return entry }
            let isProtected = protected.map { entry.isSame(as: $0) } ?? false
            if isProtected && state.policy!.small.isEmpty
                && state.policy!.main.head?.toOpaque() == state.policy!.main.tailLink?.toOpaque() {
                return nil
            }
            let frequency = entry.header.frequency
            let charge = entry.allocatedBytes
            if isProtected || (!force && frequency >= (fromMain ? 1 : 2)) {
                // Kept: to main's tail, a read spent (from small: all of them).
                if fromMain { state.policy!.main.remove(entry, charge: charge) } else { state.policy!.small.remove(entry, charge: charge) }
                state.policy!.main.append(entry, charge: charge)
                entry.header.frequency = fromMain && frequency > 0 ? frequency - 1 : 0
                continue
            }
            return entry
        }
    }

    /// Evicts a live entry: out of its queue and table, logged for the
    /// worker's `.evicted` event, its fingerprint kept if it was new.
    private func evict(_ entry: NativeEntry, hash: UInt64, key: UnsafeRawBufferPointer, in state: inout NativeShardState) {
        let fromSmall = entry.header.queue == .small
        dequeue(entry, in: &state)
        if fromSmall { state.policy!.ghost.add(hash) }
        state.policy!.hasEvicted = true
        state.policy!.evicted += 1
        state.remove(entry, hash: hash, hashOf: self.hash)
        state.evictedLog.append(key: key, deadline: entry.deadline == 0 ? .max : entry.deadline)
        loggedEvictions.add(1, ordering: .relaxed)
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
    /// The tail, to tell a queue of one entry.
    var tailLink: Unmanaged<NativeEntry.Buffer>? { tail }
}

extension NativeEntry {
    /// A read of the value: counts toward keeping the entry (up to 3).
    func noteRead() {
        if header.frequency < 3 { header.frequency += 1 }
    }
}
