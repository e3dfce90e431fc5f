"""
A faithful simulator of the eviction policy designed for TTLKV's C core.

The policy is S3-FIFO (SOSP'23) made to fit a sharded, lock-free-read,
cache-aside store:

- The store has S shards; a key's shard is fixed by its hash. Each shard has
  its own budget (its share of the store's budget: budget // S, the
  remainder spread over the first shards), its own queues and its own ghost.
  Nothing is shared between shards.
- Each shard has a small FIFO (target: share // 10) and a main FIFO (the
  rest). Each entry has a 2-bit frequency (0..3).
- A hit (GET that finds the key) reads the entry's frequency and writes it
  only if it is below 3: f = load(freq); if f < 3: store(freq, f + 1).
  Nothing else, no lock.
- A miss does nothing to the policy. Cache-aside: the client's SET is a
  separate call, so every admission decision is made at insert time.
- An insert of a new key first consults the shard's ghost (fingerprints of
  keys recently evicted from the small queue, deleted or expired); a ghost
  hit removes the fingerprint and sends the entry to the main queue,
  otherwise it goes to the small queue, whatever its size (a large entry
  that is not hit again leaves at the next eviction instead of costing a
  main-queue pass); only before the shard has ever evicted, entries that
  find the small queue full go to main (as libCacheSim's S3FIFO does). The
  entry starts with frequency 0.
- Making room (evict until the new bytes fit) examines one queue head per
  step: from main if main is over its target or small is empty, else from
  small.
    small head: frequency >= move_threshold (2) -> moved to main's tail with
      frequency 0; otherwise evicted and its fingerprint added to the ghost.
    main head: frequency >= 1 -> moved to main's tail with frequency - 1;
      otherwise evicted (no ghost).
  After K steps (examinations) in one write, the steps that follow are
  forced: the head is evicted whatever its frequency. So a write examines at
  most K entries plus the ones it must evict to fit.
- An overwrite (SET of a present key) replaces the entry in place: the new
  entry inherits the old one's queue, position and frequency; only the byte
  count changes (and if it grew, room is made first, never by evicting the
  entry being written).
- A delete or an expiry unlinks the entry and adds its fingerprint to the
  ghost (so that a re-SET goes straight to main).
- The ghost of a shard is an array of buckets of 32 16-bit fingerprints
  (one 64-byte cache line each), sized to hold as many fingerprints as the
  shard has entries (ghost_ratio 1.0). A key's bucket is chosen from the
  low 32 bits of its hash (the shard uses the high 32), its fingerprint
  from a remix of the whole hash (never 0). Adding shifts the slots before
  the bucket's first empty one by one (or the whole bucket, dropping the
  oldest) and writes the new fingerprint first; a hit zeroes the slot. When the entry count moves
  away from what the ghost was sized for (above 1.25x or below 0.5x), the
  ghost is reallocated empty.

The simulator counts budgets in abstract units: 1 per object for
object-count runs (to compare with libCacheSim at the same object count),
bytes for byte-budget runs.

Cache-aside replay (`run`): every request is a GET; on a miss the key is
SET right away (or, with `set_delay`, `set_delay` requests later, in which
case GETs of the key in between also miss and their SETs become
overwrites). Optional per-request operation codes add plain SETs and DELs.
Keys are ints (their stand-in hash is deterministic). Entries carry no TTL
here: the design's hand removing expired entries it meets is not modelled.

Pure Python, no dependencies: the tests run it with the standard library.
"""

from collections import deque

MASK64 = (1 << 64) - 1

SMALL = 0
MAIN = 1

# Record fields of a cached entry (a list, for speed).
FREQ = 0    # 0..3
QUEUE = 1   # SMALL or MAIN
SIZE = 2    # budget units
KEY = 3
ALIVE = 4   # False once removed: the queues skip dead records (the C
            # design unlinks in O(1) instead; a skip is not a step)
SHARD = 5   # the Shard it lives in
HASH = 6    # the key's 64-bit hash

GHOST_BUCKET = 32
FP_MUL = 0xD6E8FEB86659FD93


def mix64(x):
    """splitmix64's finaliser: a stand-in for the store's seeded hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def key_hash(key, seed):
    """The stand-in hash of an int key under a seed."""
    return mix64(key ^ (seed * 0x2545F4914F6CDD1D & MASK64))


def fingerprint(h):
    """16 bits of the hash remixed, never 0 (0 marks an empty slot)."""
    return (((h * FP_MUL) & MASK64) >> 48) or 1


class Ghost:
    """One shard's ghost: buckets of GHOST_BUCKET 16-bit fingerprints."""

    __slots__ = ("buckets", "n", "sized_for")

    def __init__(self, entries, ratio):
        self.sized_for = entries
        self.n = max(1, round(entries * ratio / GHOST_BUCKET))
        self.buckets = [[0] * GHOST_BUCKET for _ in range(self.n)]

    def take(self, h):
        """Removes h's fingerprint from its bucket; True if it was there."""
        b = self.buckets[((h & 0xFFFFFFFF) * self.n) >> 32]
        fp = (((h * FP_MUL) & MASK64) >> 48) or 1     # fingerprint(h)
        if fp in b:
            b[b.index(fp)] = 0
            return True
        return False

    def add(self, h):
        """Puts h's fingerprint first in its bucket, shifting the slots
        before the first empty one (or all: the oldest drops out)."""
        b = self.buckets[((h & 0xFFFFFFFF) * self.n) >> 32]
        if b[-1] and 0 in b:
            del b[b.index(0)]
        else:
            b.pop()
        b.insert(0, (((h * FP_MUL) & MASK64) >> 48) or 1)


class ExactGhost:
    """libCacheSim's ghost, for validation: a FIFO of (full) hashes holding
    `cap` of them; re-adding a present one does nothing."""

    __slots__ = ("fifo", "ids", "cap")

    def __init__(self, cap):
        self.fifo = deque()
        self.ids = set()
        self.cap = cap

    def take(self, h):
        if h in self.ids:
            self.ids.remove(h)
            return True
        return False

    def add(self, h):
        if h in self.ids or self.cap <= 0:
            return
        self.ids.add(h)
        self.fifo.append(h)
        while len(self.ids) > self.cap:
            old = self.fifo.popleft()
            # hashes taken by a hit leave stale FIFO items: skip them
            self.ids.discard(old)


class NoGhost:
    """A ghost never consulted at SET: what a port that checks the ghost in
    GET (and cannot carry the answer to the separate SET) gets."""

    __slots__ = ()

    def take(self, h):
        return False

    def add(self, h):
        pass


class HashClock:
    """An alternative main queue for the memory-lean variant (main_order =
    "hash"): a CLOCK whose order is the hash order, as a hand sweeping the
    shard's hash-table slots would see it, so entries need no queue links.
    Same interface as the deque it replaces: popleft() takes the entry under
    the hand; append() of that entry keeps it in its slot (the hand moves
    on), append() of any other entry places it at its hash's home slot
    (linear probing). Slots are 2-4x the entries; the hand's empty-slot skips
    are counted in `skipped`."""

    __slots__ = ("slots", "hand", "n", "last", "skipped")

    def __init__(self):
        self.slots = [None] * 64
        self.hand = 0
        self.n = 0
        self.last = None
        self.skipped = 0

    def _place(self, rec):
        m = len(self.slots)
        i = ((rec[HASH] & 0xFFFFFFFF) * m) >> 32
        while self.slots[i] is not None:
            i = (i + 1) % m
        self.slots[i] = rec

    def append(self, rec):
        if rec is self.last:         # kept by the hand: stays, hand moves on
            self.slots[self.hand] = rec
            self.hand = (self.hand + 1) % len(self.slots)
            self.last = None
            return
        if 2 * (self.n + 1) > len(self.slots):
            old = self.slots
            self.slots = [None] * (2 * len(old))
            self.hand *= 2           # multiply-shift homes keep their order
            for r in old:
                if r is not None:
                    self._place(r)
        self._place(rec)
        self.n += 1

    def popleft(self):
        slots = self.slots
        m = len(slots)
        if self.last is not None:    # the last one taken was evicted
            self.last = None
            self.n -= 1
            self.hand = (self.hand + 1) % m
        while slots[self.hand] is None:
            self.hand = (self.hand + 1) % m
            self.skipped += 1
        rec = slots[self.hand]
        slots[self.hand] = None
        if rec[ALIVE]:
            self.last = rec
        else:                        # deleted earlier: its slot frees now
            self.n -= 1
            self.hand = (self.hand + 1) % m
        return rec

    def __iter__(self):
        return (r for r in self.slots if r is not None)


class Shard:
    """One shard's policy state: C's struct shard fields for the policy."""

    __slots__ = ("share", "small_target", "main_target", "used", "small_used",
                 "main_used", "count", "small", "main", "has_evicted", "ghost")

    def __init__(self, share, small_ratio, ghost):
        self.share = share
        self.small_target = share * int(small_ratio * 1000) // 1000
        self.main_target = share - self.small_target
        self.used = 0          # small_used + main_used
        self.small_used = 0
        self.main_used = 0
        self.count = 0
        self.small = deque()   # FIFO of records, head at the left
        self.main = deque()
        self.has_evicted = False
        self.ghost = ghost


class Policy:
    """The sharded store's policy state. Sizes and budgets in units.
    ghost: "buckets" (the design), "exact" (libCacheSim's, for validation)
    or "none" (the naive cache-aside port). hashes: key -> hash list that
    replaces the seeded stand-in hash (faster for long traces). main_order:
    "fifo" (the design) or "hash" (HashClock, the link-free variant)."""

    def __init__(self, budget, shards=1, k=16, move_threshold=2,
                 small_ratio=0.1, ghost_ratio=1.0, ghost="buckets",
                 ghost_on_remove=True, seed=0, hashes=None, main_order="fifo"):
        if budget < shards:
            raise ValueError("budget below one unit per shard")
        self.n_shards = shards
        self.k = k
        self.move_threshold = move_threshold
        self.ghost_ratio = ghost_ratio
        self.ghost_on_remove = ghost_on_remove
        self.seed = seed
        base, extra = divmod(budget, shards)
        self.shards = []
        for i in range(shards):
            share = base + (1 if i < extra else 0)
            if ghost == "buckets":
                g = Ghost(0, ghost_ratio)
            elif ghost == "exact":
                g = ExactGhost(int(share * ghost_ratio))
            else:
                g = NoGhost()
            self.shards.append(Shard(share, small_ratio, g))
            if main_order == "hash":
                self.shards[-1].main = HashClock()
        self.table = {}
        # key -> 64-bit hash: a list indexed by key (fast), or a memo dict
        self._hashes = {} if hashes is None else hashes
        if hashes is not None:
            self._hash = hashes.__getitem__
        # Statistics.
        self.evicted = 0
        self.forced = 0
        self.rejected = 0
        self.ghost_admits = 0
        self.max_examined = 0   # most examinations in one write
        self.max_over_k = 0     # most forced evictions in one write

    # -- hashing -------------------------------------------------------
    def _hash(self, key):
        h = self._hashes.get(key)
        if h is None:
            h = key_hash(key, self.seed)
            self._hashes[key] = h
        return h

    @property
    def used(self):
        return [s.used for s in self.shards]

    @property
    def share(self):
        return [s.share for s in self.shards]

    # -- the read path -------------------------------------------------
    def get(self, key):
        """A GET: True on a hit. The only policy work is the frequency."""
        rec = self.table.get(key)
        if rec is None:
            return False
        if rec[FREQ] < 3:
            rec[FREQ] += 1
        return True

    # -- the write path ------------------------------------------------
    def set(self, key, size=1):
        """A SET: insert or overwrite. False if it can never fit."""
        rec = self.table.get(key)
        if rec is not None:
            return self._overwrite(rec, size)
        h = self._hash(key)
        s = self.shards[((h >> 32) * self.n_shards) >> 32]
        if size > s.share:
            self.rejected += 1
            return False
        to_main = s.ghost.take(h)
        if s.used + size > s.share:
            self._make_room(s, size, None)
        if to_main:
            self.ghost_admits += 1
            queue = MAIN
        elif not s.has_evicted and s.small_used + size > s.small_target:
            queue = MAIN
        else:
            queue = SMALL
        rec = [0, queue, size, key, True, s, h]
        self.table[key] = rec
        if queue == MAIN:
            s.main.append(rec)
            s.main_used += size
        else:
            s.small.append(rec)
            s.small_used += size
        s.used += size
        s.count += 1
        g = s.ghost
        if type(g) is Ghost and (s.count > 1.25 * g.sized_for + GHOST_BUCKET
                                 or s.count < 0.5 * g.sized_for):
            s.ghost = Ghost(s.count, self.ghost_ratio)
        return True

    def delete(self, key):
        """DEL or expiry: unlink, remember in the ghost. True if present."""
        rec = self.table.get(key)
        if rec is None:
            return False
        self._unlink(rec)
        if self.ghost_on_remove:
            rec[SHARD].ghost.add(rec[HASH])
        return True

    def _overwrite(self, rec, size):
        s = rec[SHARD]
        if size > s.share:
            self.rejected += 1
            return False
        delta = size - rec[SIZE]
        if delta > 0 and s.used + delta > s.share:
            self._make_room(s, delta, rec)
        rec[SIZE] = size
        s.used += delta
        if rec[QUEUE] == MAIN:
            s.main_used += delta
        else:
            s.small_used += delta
        return True

    def _unlink(self, rec):
        s = rec[SHARD]
        rec[ALIVE] = False
        del self.table[rec[KEY]]
        s.used -= rec[SIZE]
        s.count -= 1
        if rec[QUEUE] == MAIN:
            s.main_used -= rec[SIZE]
        else:
            s.small_used -= rec[SIZE]

    def _make_room(self, s, need, protect):
        """Evicts from shard s until `need` more units fit: at most k
        examinations, then forced evictions of the queue head."""
        s.has_evicted = True
        small = s.small
        main = s.main
        share = s.share
        k = self.k
        threshold = self.move_threshold
        steps = 0
        forced = 0
        while s.used + need > share:
            from_main = s.main_used > s.main_target or s.small_used == 0
            rec = main.popleft() if from_main else small.popleft()
            if not rec[ALIVE]:
                continue
            force = steps >= k
            steps += 1
            if rec is protect:
                # the entry being overwritten is never its own victim
                if from_main:
                    main.append(rec)
                else:
                    self._move_to_main(s, rec)
                continue
            f = rec[FREQ]
            if from_main:
                if f >= 1 and not force:
                    rec[FREQ] = f - 1
                    main.append(rec)
                    continue
                self._unlink(rec)
            else:
                if f >= threshold and not force:
                    self._move_to_main(s, rec)
                    continue
                self._unlink(rec)
                s.ghost.add(rec[HASH])
            self.evicted += 1
            if force:
                forced += 1
        self.forced += forced
        if steps - forced > self.max_examined:
            self.max_examined = steps - forced
        if forced > self.max_over_k:
            self.max_over_k = forced

    @staticmethod
    def _move_to_main(s, rec):
        rec[QUEUE] = MAIN
        rec[FREQ] = 0
        s.small_used -= rec[SIZE]
        s.main_used += rec[SIZE]
        s.main.append(rec)

    # -- checks --------------------------------------------------------
    def check(self):
        """Asserts the bookkeeping invariants; returns the units held."""
        total = 0
        for s in self.shards:
            live_small = [r for r in s.small if r[ALIVE]]
            live_main = [r for r in s.main if r[ALIVE]]
            assert all(r[QUEUE] == SMALL and r[SHARD] is s for r in live_small)
            assert all(r[QUEUE] == MAIN and r[SHARD] is s for r in live_main)
            su = sum(r[SIZE] for r in live_small)
            mu = sum(r[SIZE] for r in live_main)
            assert su == s.small_used and mu == s.main_used
            assert su + mu == s.used <= s.share
            assert len(live_small) + len(live_main) == s.count
            total += s.used
        assert sum(s.count for s in self.shards) == len(self.table)
        return total


def run(policy, keys, sizes=None, set_delay=0, ops=None):
    """Cache-aside replay. keys: request keys (every request a GET; a miss
    is followed by a SET of the key). sizes: a per-key size lookup
    (sizes[key]) or None for 1. ops: optional per-request operation codes
    (0 GET, 1 SET, 2 DEL) aligned with keys. Returns (misses, gets)."""
    table = policy.table
    put = policy.set
    misses = 0
    gets = 0
    pending = deque()
    for i, key in enumerate(keys):
        while pending and pending[0][0] <= i:
            _, k = pending.popleft()
            put(k, 1 if sizes is None else sizes[k])
        op = 0 if ops is None else ops[i]
        if op == 0:
            gets += 1
            rec = table.get(key)          # Policy.get, inlined for speed
            if rec is not None:
                if rec[FREQ] < 3:
                    rec[FREQ] += 1
            else:
                misses += 1
                if set_delay:
                    pending.append((i + set_delay, key))
                else:
                    put(key, 1 if sizes is None else sizes[key])
        elif op == 1:
            put(key, 1 if sizes is None else sizes[key])
        else:
            policy.delete(key)
    return misses, gets
