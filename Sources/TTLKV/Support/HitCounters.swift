import Synchronization

/*
 Hit and miss counts of a store's reads, exact, at the cost of a few plain
 instructions per read instead of an atomic increment on a cache line that
 every reading thread fights over.

 The counts are split into stripes, as Java's LongAdder splits them, and a
 read of a count sums the stripes. A thread picks its stripe from its thread
 ID and claims it by writing its ID into the stripe's owner field; from then
 on it is the stripe's only writer, so it adds with a plain load and store
 (relaxed atomics: no lock prefix, no read-modify-write). Two live threads
 never have the same ID, so two threads can only share a claim when one of
 them has ended and the other reuses its ID, and thread creation orders the
 old thread's last store before the new thread's first load. A thread whose
 stripe another thread owns adds to a shared stripe with a real atomic
 increment: slower, still exact. A claim is never released, so a process
 that churns through many threads drifts towards the shared stripe.
 */
@usableFromInline
final class HitCounters: Sendable {
    /// One stripe on cache lines of its own.
    struct Stripe: ~Copyable, Sendable {
        /// The thread that writes the counts; 0 until claimed.
        let owner = Atomic<UInt>(0)
        let hits = Atomic<Int>(0)
        let misses = Atomic<Int>(0)
        private let padding: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }

    private static let stripeBits = 5
    /// Per-thread stripes, then the shared one (the last).
    private let stripes: InlineArray<33, Stripe>

    init() {
        stripes = InlineArray { _ in Stripe() }
    }

    @usableFromInline
    func record(hit: Bool) {
        record(hits: hit ? 1 : 0, misses: hit ? 0 : 1)
    }

    /// Adds the reads of a batch.
    @usableFromInline
    func record(hits: Int, misses: Int) {
        let thread = currentThreadID()
        let index = Self.stripeIndex(thread)
        let owner = stripes[index].owner.load(ordering: .relaxed)
        if owner == thread || (owner == 0 && stripes[index].owner.compareExchange(
            expected: 0, desired: thread, ordering: .relaxed).exchanged) {
            // This thread is the stripe's only writer.
            stripes[index].hits.store(stripes[index].hits.load(ordering: .relaxed) &+ hits, ordering: .relaxed)
            stripes[index].misses.store(stripes[index].misses.load(ordering: .relaxed) &+ misses, ordering: .relaxed)
        } else {
            if hits != 0 { stripes[stripes.count - 1].hits.add(hits, ordering: .relaxed) }
            if misses != 0 { stripes[stripes.count - 1].misses.add(misses, ordering: .relaxed) }
        }
    }

    var hits: Int { sum { $0.hits.load(ordering: .relaxed) } }
    var misses: Int { sum { $0.misses.load(ordering: .relaxed) } }

    private func sum(_ count: (borrowing Stripe) -> Int) -> Int {
        var total = 0
        for index in stripes.indices { total += count(stripes[index]) }
        return total
    }

    /// A thread's stripe: its ID scrambled by a Fibonacci multiply, whose top
    /// bits differ for nearby addresses.
    @inline(__always)
    private static func stripeIndex(_ thread: UInt) -> Int {
        Int(truncatingIfNeeded: (UInt64(thread) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - stripeBits))
    }
}
