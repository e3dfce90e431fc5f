/*
 * Internal layout of a ttlkv store, shared by the C sources and nothing else.
 *
 * A store is an array of shards. A key's 64-bit seeded hash picks its shard
 * from the high bits (multiply-shift, so the shard count need not be a power
 * of two) and its ck_hs slot from the low bits. Each shard is one ck_hs in
 * SPMC mode: one writer at a time (the shard mutex), any number of readers
 * inside ck_epoch read sections.
 *
 * Entries are single immutable allocations; a write builds the new entry
 * before it takes the lock and swaps it in. The replaced entry is "retired":
 * appended to the shard's retire batch. A full batch is handed to the store's
 * epoch record (ck_epoch_call) and, after a grace period, lands on the
 * shard's ready stack, from which each later write frees a few entries
 * after dropping its lock, so frees never pile into one slow operation.
 */
#ifndef TTLKV_INTERNAL_H
#define TTLKV_INTERNAL_H

#include "ttlkv.h"

#include <ck_epoch.h>
#include <ck_hs.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TTLKV_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TTLKV_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TTLKV_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TTLKV_ASAN 1
#endif

/*
 * Two memory tricks, on where they are safe and off under AddressSanitizer,
 * whose checks rely on plain pointers and real frees: tagged slots (x86-64
 * user addresses leave the top 16 bits zero; LeakSanitizer could not follow
 * a tagged pointer to its entry) and entry recycling (a recycled block never
 * passes through ASan's quarantine, so an early free would go unseen).
 */
#if defined(__x86_64__) && !defined(TTLKV_ASAN)
#define TTLKV_TAGGED_SLOTS 1
#else
#define TTLKV_TAGGED_SLOTS 0
#endif
#ifdef TTLKV_ASAN
#define TTLKV_RECYCLING 0
#else
#define TTLKV_RECYCLING 1
#endif

#ifdef TTLKV_TSAN
/* ck's atomics are inline assembly that ThreadSanitizer cannot see: tell it
 * about the ordering that ck_hs publication and ck_epoch grace periods give. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define TSAN_ACQUIRE(p) ((void)0)
#define TSAN_RELEASE(p) ((void)0)
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Relaxed atomics for counters and the mutable deadline: visible to TSan. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Test builds keep high-water marks of a few bounds (ttlkv_testing.h);
 * TESTING_PEAK raises one, and costs nothing in other builds. */
#ifdef TTLKV_TESTING
static inline void
testing_peak(uint64_t *peak, uint64_t value)
{
	uint64_t seen = __atomic_load_n(peak, __ATOMIC_RELAXED);

	while (value > seen && !__atomic_compare_exchange_n(peak, &seen, value, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}
#define TESTING_PEAK(peak, value) testing_peak(&(peak), (value))
#else
#define TESTING_PEAK(peak, value) ((void)(value))
#endif

/*
 * An entry: a 16-byte header, then the key, then the value. With a 16-byte
 * key and a 32-byte value that is 64 bytes, a slab block of 64 (slab.c).
 * Under a byte budget a 16-byte node (struct node) comes first.
 *
 * The header packs each length beside a deadline: the top LEN_BITS of
 * `timing` hold the key's length and its low DEADLINE_BITS the deadline;
 * those of `sizing`, the value's length and the deadline of the key's
 * pending schedule record. A length too large for its field (a megabyte or
 * more) is LEN_LONG there, and the length itself is an unaligned 8-byte word
 * in front of the key (the key's) or of the value (the value's), so that
 * where the key starts depends on the key's field alone. Both words are
 * read and written atomically: readers take lengths and the deadline from
 * them without a lock while a writer under the shard lock changes the
 * deadline (ttlkv_set_ttl) or the pending record's; the length bits never
 * change once the entry is published.
 */
struct entry {
	uint64_t timing;     /* key length field | deadline (store-clock ms, 0 = never) */
	uint64_t sizing;     /* value length field | pending schedule record's
	                        deadline (schedule.c), 0 = none; written only
	                        under the shard lock */
	unsigned char bytes[];
};

#define DEADLINE_BITS 44
#define DEADLINE_MASK ((UINT64_C(1) << DEADLINE_BITS) - 1)
#define LEN_BITS (64 - DEADLINE_BITS)
/* Field values: a length up to LEN_SHORT_MAX is itself; LEN_LONG says the
 * length is in a word of its own; LEN_PROBE (the key field only) marks a
 * struct probe, which ck_hs hands to the same compare callback. */
#define LEN_LONG ((UINT64_C(1) << LEN_BITS) - 1)
#define LEN_PROBE (LEN_LONG - 1)
#define LEN_SHORT_MAX (LEN_LONG - 2)
_Static_assert(TTLKV_MAX_DEADLINE_MS == DEADLINE_MASK, "ttlkv.h's deadline limit is the field's");

/*
 * An entry's place in its shard's eviction queues (budget.c), right in front
 * of the entry, in stores with a byte budget only (store->node_bytes is 16
 * then, 0 without one). 16 bytes: the next node's address with the queue in
 * bit 0 and a write's mark in bit 1 (NODE_MAIN, NODE_MARK), the previous
 * node's address in 7 bytes (every block address fits in 56 bits: checked
 * at allocation), and the entry's frequency in a byte of its own, because
 * readers store to it without a lock while writers change the links.
 */
struct node {
	uintptr_t next;      /* writer-only, under the shard lock */
	uint8_t prev[7];     /* writer-only, little-endian */
	uint8_t freq;        /* 0..3; atomic: readers bump it (entry_hit) */
};

/* A lookup key that ck_hs hands to the compare callback as it does an
 * entry: its first word's key field is LEN_PROBE. */
struct probe {
	uint64_t timing;
	uint32_t key_len;
	const void *key;
};

/* A lookup by a key's handle (ttlkv_key_handle: its seeded hash) instead of
 * its bytes, for an expiry worker that keeps handles rather than copies of
 * keys: a probe whose key_len is HANDLE_PROBE (longer than any key can be)
 * and whose key points to this; compare() matches an entry whose key hashes
 * to it. Under the shard lock (locked) only one the record is for: whose
 * pending record is `scheduled`, or that is due at `now`, so that of two
 * keys sharing a hash the record finds its own. */
struct handle_probe {
	uint64_t hash;
	uint64_t seed;
	uint64_t scheduled;
	uint64_t now;
	bool locked;    /* entry->scheduled may be read */
};
#define HANDLE_PROBE UINT32_MAX

static inline uint64_t
entry_word(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);
	return w;
}

/* A header word's halves: its length field (top LEN_BITS) and the
 * deadline beside it (low DEADLINE_BITS). */
static inline uint64_t
word_field(const uint64_t *word)
{
	return LOAD(word) >> DEADLINE_BITS;
}

static inline uint64_t
word_deadline(const uint64_t *word)
{
	return LOAD(word) & DEADLINE_MASK;
}

/* By the word's one writer; the field is left as it is. */
static inline void
word_set_deadline(uint64_t *word, uint64_t deadline)
{
	STORE(word, (LOAD(word) & ~DEADLINE_MASK) | deadline);
}

static inline bool
entry_key_long(const struct entry *e)
{
	return word_field(&e->timing) == LEN_LONG;
}

static inline size_t
entry_key_len(const struct entry *e)
{
	uint64_t field = word_field(&e->timing);

	return field != LEN_LONG ? (size_t)field : (size_t)entry_word(e->bytes);
}

static inline const unsigned char *
entry_key(const struct entry *e)
{
	return e->bytes + (entry_key_long(e) ? sizeof(uint64_t) : 0);
}

/* Where the value's length word or, for a short value, the value starts. */
static inline const unsigned char *
entry_after_key(const struct entry *e)
{
	return entry_key(e) + entry_key_len(e);
}

static inline bool
entry_value_long(const struct entry *e)
{
	return word_field(&e->sizing) == LEN_LONG;
}

static inline size_t
entry_value_len(const struct entry *e)
{
	uint64_t field = word_field(&e->sizing);

	return field != LEN_LONG ? (size_t)field : (size_t)entry_word(entry_after_key(e));
}

static inline const unsigned char *
entry_value(const struct entry *e)
{
	return entry_after_key(e) + (entry_value_long(e) ? sizeof(uint64_t) : 0);
}

/* Where the builder of an unpublished entry writes its value. */
static inline unsigned char *
entry_value_room(struct entry *e)
{
	return (unsigned char *)(uintptr_t)entry_value(e);
}

static inline uint64_t
entry_deadline(const struct entry *e)
{
	return word_deadline(&e->timing);
}

/* By the entry's one writer (its builder, or the holder of its shard's
 * lock); deadline <= TTLKV_MAX_DEADLINE_MS. */
static inline void
entry_set_deadline(struct entry *e, uint64_t deadline)
{
	word_set_deadline(&e->timing, deadline);
}

static inline uint64_t
entry_scheduled(const struct entry *e)
{
	return word_deadline(&e->sizing);
}

/* Under the shard lock, or before the entry is published. */
static inline void
entry_set_scheduled(struct entry *e, uint64_t scheduled)
{
	word_set_deadline(&e->sizing, scheduled);
}

/* The header bytes of an entry with a key of key_len and room for
 * value_room bytes of value: the lengths' words when they are long. */
static inline size_t
entry_header_size(size_t key_len, size_t value_room)
{
	return sizeof(struct entry) + (key_len > LEN_SHORT_MAX ? sizeof(uint64_t) : 0) +
	    (value_room > LEN_SHORT_MAX ? sizeof(uint64_t) : 0);
}

/* Before the entry is published, with value_len <= the room it was made
 * with (whose size chose the field's form). */
static inline void
entry_set_value_len(struct entry *e, size_t value_len)
{
	if (entry_value_long(e)) {
		uint64_t w = value_len;

		memcpy((unsigned char *)(uintptr_t)entry_after_key(e), &w, sizeof w);
		return;
	}
	STORE(&e->sizing, (LOAD(&e->sizing) & DEADLINE_MASK) | (uint64_t)value_len << DEADLINE_BITS);
}

/* A new entry's header: no deadline, no pending record, the key's length
 * and room for value_room bytes of value (its length until set). */
static inline void
entry_init(struct entry *e, size_t key_len, size_t value_room)
{
	uint64_t key_field = key_len > LEN_SHORT_MAX ? LEN_LONG : key_len;
	uint64_t value_field = value_room > LEN_SHORT_MAX ? LEN_LONG : value_room;

	e->timing = key_field << DEADLINE_BITS;
	e->sizing = value_field << DEADLINE_BITS;
	if (key_field == LEN_LONG) {
		uint64_t w = key_len;

		memcpy(e->bytes, &w, sizeof w);
	}
	if (value_field == LEN_LONG)
		entry_set_value_len(e, value_room);
}

static inline bool
deadline_passed(uint64_t deadline, uint64_t now)
{
	return deadline != 0 && deadline <= now;
}

/* Entries per retire batch: one allocation and one ck_epoch_call per 64
 * retired entries instead of a 16-byte epoch header in every entry. A batch
 * is also handed over once its entries reach RETIRE_BATCH_BYTES, so that a
 * shard's filling batch holds at most that much (plus one entry). */
#define RETIRE_BATCH 64
#define RETIRE_BATCH_BYTES (256 * 1024)

/*
 * A block awaiting a grace period: a batch of retired entries, or (count 0)
 * a ck_hs map that a table grow replaced, which lives right after this header.
 */
struct retired {
	ck_epoch_entry_t epoch;
	struct shard *shard;
	struct retired *next;  /* link on the shard's queue, then its ready stack */
	uint32_t count;        /* entries in items[]; 0 for a map block */
	uint32_t cursor;       /* items[] already freed */
	uint64_t bytes;        /* the entries' sizes (header, key and value) */
	void *items[];
};

/* (key, deadline) records for an expiry worker, appended under the shard
 * lock: packed {u64 deadline, u32 len, key} (schedule.c). */
struct record_log {
	unsigned char *buf;
	size_t len;
	size_t cap;
	uint64_t records;
};

struct shard {
	pthread_mutex_t lock;
	ck_hs_t hs;
	struct ttlkv *store;
	/* Everything below is written under lock; counters are read lock-free. */
	uint64_t slots;
	uint64_t grows;
	uint64_t count;
	uint64_t bytes;
	uint64_t expired;
	uint64_t retired;         /* entries ever retired ... */
	uint64_t freed;           /* ... and freed: the difference is pending */
	uint64_t retired_bytes;   /* their sizes, likewise */
	uint64_t freed_bytes;
	uint64_t hold_retired_bytes; /* retired under the current hold */
	struct retired *batch;    /* filling; never NULL between operations */
	struct retired *queued;   /* full, waiting for the reclaim lock (or held) */
	bool holding;             /* atomic: keep what is retired queued, for a
	                             rebuild (ttlkv__retire_hold) */
	uint32_t queued_blocks;
	uint64_t queued_bytes;    /* the queued entries' sizes */
	struct retired *spare;    /* next batches (a stack through next), so
	                             that retiring cannot fail */
	uint32_t spares;
	struct retired *ready;    /* grace period over; pushed lock-free */
	struct retired *draining; /* taken from ready, being freed a few at a time */
	uint64_t ready_entries;   /* atomic: entries on ready and draining, */
	uint64_t ready_bytes;     /* atomic: their sizes, */
	uint64_t ready_maps;      /* atomic: and retired tables there */
	struct record_log schedule;       /* for ttlkv_drain_schedule (schedule.c) */
	struct record_log schedule_spare; /* owned by ttlkv_drain_schedule */
	struct record_log expired_log;    /* expiries the worker did not remove */
	struct record_log expired_log_spare; /* owned by ttlkv_drain_expired */
	/* Maintenance (rebuild.c). */
	struct rebuild *rebuild;  /* non-NULL while a rebuild logs this shard's writes */
	uint64_t tombstones;      /* slots tombstoned since the table was built */
	uint64_t rebuilds;        /* tables rebuilt beside the live one */
	uint64_t generation;      /* tables replaced (grown or rebuilt): bumped
	                             with release after the new one is published */
	uint64_t planned;         /* entries the shard was sized for */
	/* What the shard holds, in bytes (budget.c): counted in every store,
	 * written under the lock and read lock-free (ttlkv_stats). */
	uint64_t held;            /* atomic: its entries' blocks */
	uint64_t fixed;           /* atomic: its table, ghost and logged records */
	uint64_t logged;          /* the records' part of fixed (schedule.c); written
	                             under the shard lock, atomic for
	                             ttlkv__table_fits' unlocked callers */
	uint64_t map_charge;      /* atomic: the live table's part of fixed */
	/* With a budget (share != 0): the queues and the ghost, under lock. */
	uint64_t share;           /* what it may hold: max_bytes's share */
	uint64_t small_bytes;     /* held by entries in the small queue */
	uint64_t evicted;         /* atomic: entries evicted */
	bool has_evicted;
	struct node small;        /* queue sentinels: next is the head */
	struct node main;
	uint16_t *ghost;          /* buckets of GHOST_SLOTS fingerprints */
	uint32_t ghost_buckets;
	uint64_t ghost_charge;    /* its part of fixed */
	uint64_t ghost_for;       /* atomic: the entry count it was sized for */
	struct record_log evicted_log;       /* evictions, for ttlkv_drain_evicted */
	struct record_log evicted_log_spare; /* owned by ttlkv_drain_evicted */
} __attribute__((aligned(64)));

struct ttlkv {
	struct shard *shards;
	uint32_t n_shards;
	uint32_t flags;
	uint32_t node_bytes;      /* bytes in front of every entry: 0, or a
	                             struct node with a budget */
	uint32_t max_key_size;
	uint32_t max_value_size;
	uint64_t max_entries;
	uint64_t max_bytes;
	uint32_t eviction;        /* atomic: TTLKV_EVICT_*, read under a shard lock */
	uint64_t overhead;        /* the store's own structures, in bytes */
	uint32_t drain_wanted;    /* atomic: a shard's logs passed half their room */
	uint64_t seed;
	ttlkv_clock_fn *clock;
	void *clock_context;
	uint64_t boot_offset_ms;  /* default clock: CLOCK_BOOTTIME - MONOTONIC */
	uint64_t boot_check_ms;   /* default clock: when to re-read the offset */
	struct ttlkv *next_closing; /* ttlkv_close deferred past a read section */

	/* Every write with max_entries set changes it: on its own cache line,
	 * away from the fields every read loads. */
	uint64_t quota_used __attribute__((aligned(64))); /* atomic: entries
	                              counted against max_entries (write.c) */
	char quota_pad[64 - sizeof(uint64_t)];

	/* Reclamation (epoch.c): read after every write, written once per
	 * retire batch; on a cache line of its own. */
	uint64_t reclaim_pending __attribute__((aligned(64))); /* atomic: entries
	                              handed to an epoch record, not yet ready, */
	uint64_t reclaim_pending_bytes; /* atomic: and their sizes */
	uint64_t reclaim_cap;     /* past this many entries, */
	uint64_t reclaim_cap_bytes; /* or bytes, writers wait for readers */
	pthread_mutex_t reclaim_lock; /* owns rec: ck_epoch_call/poll are
	                                 owner-only; never held while waiting */
	ck_epoch_record_t *rec;
	ck_epoch_record_t *rec_spare; /* empty; NULL while a wait drains the other */

	pthread_mutex_t drain_lock;
	pthread_mutex_t sweep_lock;
	uint32_t sweep_shard;
	unsigned long sweep_offset;

	pthread_mutex_t maintain_lock; /* serializes ttlkv_maintain */
	uint32_t maintain_shard;       /* where the search for work resumes */
	struct rebuild *rebuild;       /* the rebuild in progress, owned by maintenance */
};

/*
 * The floors. Each section below declares one floor's functions; an inline
 * helper calls only what its own floor or the floors above it in this file
 * declare, and a source file calls only its own floor and lower ones
 * (Tests/C/floors.py checks the sources):
 *   1. base          alloc.c, clock.c, slab.c, recycle.c: allocation, time,
 *                    entry slabs and the per-thread cache of entry blocks
 *   2. reclamation   epoch.c: reader records, read sections, shard locks and
 *                    their release, retiring and freeing
 *   3. table         table.c: hashing, shards, ck_hs glue
 *   4. records       schedule.c: the record logs handed to an expiry worker
 *   5. maintenance   rebuild.c (rebuilding tables beside the live ones) and
 *                    maintain.c (ttlkv_maintain, ttlkv_reclaim)
 *   6. holdings      budget.c: what each shard holds against the store's
 *                    limits (entries, bytes), its queues and ghost
 *   7. eviction      evict.c: making room under a budget
 *   8. lifecycle     store.c: open, close, statistics
 *   9. operations    write.c, update.c, put_all.c, batch.c, read.c, scan.c,
 *                    sweep.c, random.c, snapshot.c: the public reads and
 *                    writes
 *  10. composition   transaction.c: several keys' operations under one hold
 * A read that ends a reader's outermost section may close a store whose
 * ttlkv_close came inside it: that is why lifecycle sits below operations.
 */

/* --- 1. Base: allocation, time, slabs, recycling. */

/* alloc.c: every allocation goes through here (fault injection in tests). */
void *ttlkv__alloc(size_t size);
void *ttlkv__aligned_alloc(size_t alignment, size_t size);
void *ttlkv__realloc(void *p, size_t size);
void ttlkv__free(void *p);
/* Whether the next allocation fails (fault injection; false in releases),
 * and the allocation that ttlkv__alloc_refused has just let pass: one
 * injection point per allocation. */
bool ttlkv__alloc_refused(void);
void *ttlkv__alloc_granted(size_t size);

/* slab.c: small entry blocks, cut from pages of one size class each. */
#define SLAB_STEP 8
#define SLAB_CLASSES 32
#define SLAB_MAX (SLAB_STEP * SLAB_CLASSES)
/* Huge pages: the unit, and advice that [p, p + size) be backed by them
 * where whole units fit (the system's THP setting decides; "never" wins). */
#define TTLKV_HUGE_PAGE ((size_t)2 << 20)
void ttlkv__advise_huge(void *p, size_t size);
/* Advice that slab memory, from now on for the process, be huge pages. */
void ttlkv__slab_advise_huge(void);
/* Whether slabs serve entry blocks in this process (set up on first use). */
bool ttlkv__slab_on(void);
/* Whether block came from a slab (false for every block while slabs are off). */
bool ttlkv__slab_owns(const void *block);
/* A slab block's size: its class's, a multiple of SLAB_STEP. */
size_t ttlkv__slab_block_size(const void *block);
/* Up to max free blocks of class c (c * SLAB_STEP bytes) from the process's
 * list, linked through their first word; *taken says how many. */
void *ttlkv__slab_take(size_t c, size_t max, size_t *taken);
/* A block of class c cut from this thread's page (NULL: none left). */
void *ttlkv__slab_carve(size_t c);
/* A free slab block to the process's list of its class. */
void ttlkv__slab_put(void *block);
/* At thread exit: the rest of this thread's pages to the lists. */
void ttlkv__slab_thread_exit(void);
/* Gives wholly free slab pages back to the system, from classes whose lists
 * hold more than they keep, up to about max_blocks blocks' worth; returns
 * the blocks those pages held. Any thread; a call that finds another under
 * way returns 0. */
size_t ttlkv__slab_trim(size_t max_blocks);
/* Free slab blocks gathered by class, so that many go to the lists with one
 * hold of each class's lock (a closing store frees millions). */
struct slab_batch {
	void *head[SLAB_CLASSES + 1];
	void *tail[SLAB_CLASSES + 1];
};
void ttlkv__slab_batch_add(struct slab_batch *batch, void *block);
void ttlkv__slab_batch_put(struct slab_batch *batch);

/* recycle.c: entry blocks go back to a per-thread cache for the next write. */
void *ttlkv__entry_alloc(size_t size);
/* A freed block to this thread's cache; a slab block the cache has no room
 * for waits for ttlkv__recycle_settle, which hands such blocks to their
 * lists a class at a time (call it after a run of ttlkv__recycle). */
void ttlkv__recycle(void *block);
void ttlkv__recycle_settle(void);
/* What a block holds: a slab block's size, or malloc's usable size and
 * chunk header. */
uint64_t ttlkv__block_charge(const void *block);
/* How many of max blocks this thread's cache has room to keep. */
size_t ttlkv__recycle_room(size_t max);

/* clock.c: the coarse reading (may lag by a tick, and after a resume from
 * suspend by up to a second) and the precise boot time rounded up to the
 * next millisecond. */
uint64_t ttlkv__default_clock(struct ttlkv *store);
uint64_t ttlkv__default_clock_ceil(void);
uint64_t ttlkv__default_clock_precise(void);

/* The time expiry is checked against: cheap, never ahead of real time. */
static inline uint64_t
store_now(struct ttlkv *store)
{
	if (store->clock != NULL)
		return store->clock(store->clock_context);
	return ttlkv__default_clock(store);
}

/* The time the expiry worker's removals are checked against: precise,
 * never ahead of real time (clock.c). */
static inline uint64_t
store_now_precise(struct ttlkv *store)
{
	if (store->clock != NULL)
		return store->clock(store->clock_context);
	return ttlkv__default_clock_precise();
}

/* Whether an absolute deadline is past TTLKV_MAX_DEADLINE_MS, which no
 * entry can hold, or more than TTLKV_MAX_TTL_MS ahead, as
 * ttlkv_now reads the time (the precise clock): `now`, the cheap reading the
 * caller has, may trail it by a kernel tick, and a deadline set at the
 * longest TTL from ttlkv_now must not look too far ahead of that. The
 * precise clock is read only when the cheap reading says too far. */
static inline bool
deadline_too_far(struct ttlkv *store, uint64_t wanted, uint64_t now)
{
	uint64_t precise;

	if (wanted > TTLKV_MAX_DEADLINE_MS)
		return true;
	if (wanted <= now || wanted - now <= TTLKV_MAX_TTL_MS)
		return false;
	precise = store_now_precise(store);
	return precise < wanted && wanted - precise > TTLKV_MAX_TTL_MS;
}

/* The time deadlines are computed from: never behind real time, so that a
 * deadline is never early (clock.c). */
static inline uint64_t
store_now_ceil(struct ttlkv *store)
{
	if (store->clock != NULL)
		return store->clock(store->clock_context);
	return ttlkv__default_clock_ceil();
}

/* Inside a read section: whether entry e, just found, is live. Its
 * deadline goes to *deadline; *now (0 = not read yet) is read from the clock
 * the first time a deadline needs it, so that a lookup of keys without TTLs
 * never reads the clock and a batch can share one reading. */
static inline bool
entry_live(struct ttlkv *store, const struct entry *e, uint64_t *deadline, uint64_t *now)
{
	TSAN_ACQUIRE(e);
	*deadline = entry_deadline(e);
	if (*deadline != 0 && *now == 0)
		*now = store_now(store);
	return !deadline_passed(*deadline, *now);
}

/* The size of e that retire batches and stats.deferred_bytes count: its
 * header, key and value. */
static inline uint64_t
entry_size(const struct entry *e)
{
	return sizeof *e + (entry_key_long(e) ? sizeof(uint64_t) : 0) +
	    (entry_value_long(e) ? sizeof(uint64_t) : 0) + entry_key_len(e) + entry_value_len(e);
}

/* The bytes an entry's block is allocated with: a budget's node, the
 * header, the key and room for the value. */
static inline size_t
entry_block_size(const struct ttlkv *store, size_t key_len, size_t value_room)
{
	return store->node_bytes + entry_header_size(key_len, value_room) + key_len + value_room;
}

/* The block an entry lives in: a budget's node comes first. */
static inline void *
entry_block(const struct ttlkv *store, const struct entry *e)
{
	return (unsigned char *)(uintptr_t)e - store->node_bytes;
}

/* The argument checks every keyed call starts with. */
static inline ttlkv_status
key_check(const struct ttlkv *store, const void *key, size_t key_len)
{
	if (store == NULL || (key == NULL && key_len != 0))
		return TTLKV_INVALID_ARGUMENT;
	if (key_len > store->max_key_size)
		return TTLKV_KEY_TOO_LARGE;
	return TTLKV_OK;
}

/* --- 2. Reclamation (epoch.c): the process-wide epoch domain, read
 * sections, shard locks, and retired memory. */

ck_epoch_record_t *ttlkv__reader(void);
ck_epoch_record_t *ttlkv__reader_if_any(void);
ttlkv_status ttlkv__writer_record(ck_epoch_record_t **record);
void ttlkv__writer_record_release(ck_epoch_record_t *record);
bool ttlkv__in_read_section(void);

/* The checks every call that takes a lock starts with. */
static inline ttlkv_status
lock_check(const struct ttlkv *store)
{
	if (store == NULL)
		return TTLKV_INVALID_ARGUMENT;
	if (UNLIKELY(ttlkv__in_read_section()))
		return TTLKV_IN_READ_SECTION;
	return TTLKV_OK;
}

/* key_check, then lock_check: the start of every keyed write. */
static inline ttlkv_status
write_check(const struct ttlkv *store, const void *key, size_t key_len)
{
	ttlkv_status status = key_check(store, key, key_len);

	return status != TTLKV_OK ? status : lock_check(store);
}

/* ThreadSanitizer's stand-in for a grace period: readers release it when
 * they leave a section, reclamation acquires it before freeing. */
extern char ttlkv__epoch_sync;

static inline void
section_begin(ck_epoch_record_t *record)
{
	ck_epoch_begin(record, NULL);
}

/* Ends a section the library opened for itself, in which no caller's code
 * ran (see read_section_end for the others). */
static inline void
section_end(ck_epoch_record_t *record)
{
	TSAN_RELEASE(&ttlkv__epoch_sync);
	ck_epoch_end(record, NULL);
}

/* The shard whose lock this thread holds: ck_hs's allocator callbacks take
 * no context, and a grow must hand the old map to this shard's reclamation. */
extern __thread struct shard *ttlkv__locked_shard;

static inline void
shard_lock(struct shard *shard)
{
	pthread_mutex_lock(&shard->lock);
	ttlkv__locked_shard = shard;
}

struct retired *ttlkv__retire_batch_new(void);
/* Under the shard lock, before a write changes anything: afterwards
 * `retires` entries of `bytes` in all (their sizes: header, key, value)
 * can be retired without allocating. ttlkv__retire_prepare: the same for
 * one entry (NULL: none, just a batch to retire into). */
bool ttlkv__retire_reserve(struct shard *shard, size_t retires, uint64_t bytes);
bool ttlkv__retire_prepare(struct shard *shard, const struct entry *entry);
void ttlkv__retire(struct shard *shard, struct entry *entry);
void ttlkv__retire_block(struct shard *shard, struct retired *block);
/* Takes the shard's lock: hands over its partly filled batch and what it
 * has queued, waiting for the reclaim lock if need be, never for readers. */
void ttlkv__retire_flush(struct shard *shard);
/* Under the shard lock: holding keeps every retired block queued on the
 * shard (a rebuild runs, rebuild.c) until ttlkv__retire_resume, which
 * hands them over. A shard that has held back more than its bounds stops
 * holding on its own: ttlkv__retire_held (atomic) then says false. */
void ttlkv__retire_hold(struct shard *shard);
void ttlkv__retire_resume(struct shard *shard);
bool ttlkv__retire_held(const struct shard *shard);
/* After a shard unlock: the epoch poll a hand-over under that lock owes. */
void ttlkv__settle(void);
/* Whether a shard's ready entries exceed the reserve it keeps for its
 * writers, and which of them a hold that ends takes to free, given
 * `frees` for the writes it made. */
bool ttlkv__ready_surplus(const struct shard *shard);
size_t ttlkv__take_frees(struct shard *shard, void **out, size_t frees);
void ttlkv__free_blocks(void **blocks, size_t n);
/* Takes the shard's lock in turns: frees up to max of its ready blocks, all
 * of them or (keep_reserve) those past its reserve; returns how many. */
size_t ttlkv__free_ready(struct shard *shard, bool keep_reserve, size_t max);
/* Waits for readers (if wait) or polls: afterwards every block handed over
 * before the call is ready, or as many as a poll finds. */
void ttlkv__grace(struct ttlkv *store, bool wait);
/* Past the reclamation cap, waits for readers (no lock held). */
void ttlkv__backpressure_wait(struct ttlkv *store);

/* Retired entries that may wait for a grace period before writers wait for
 * readers: max(RECLAIM_CAP_MIN, capacity / 8), and RECLAIM_CAP_BYTES of
 * them. */
#define RECLAIM_CAP_MIN 65536
#define RECLAIM_CAP_BYTES (64 * 1024 * 1024)

/* Frees handed back per write: more than a write retires, so the backlog
 * shrinks, few enough that no write pays for a pile of them. */
#define FREES_PER_WRITE 4
/* Keys a batched write handles per chunk (and so per hold of a lock). */
#define BATCH_CHUNK 64
/* Frees a hold of a shard's lock may hand back: FREES_PER_WRITE for each
 * write it made, a batch's chunk at most. */
#define FREES_PER_HOLD (FREES_PER_WRITE * BATCH_CHUNK)

/* Ends a hold of shard's lock without ever waiting: takes the ready frees
 * ttlkv__take_frees allows for `frees`, unlocks, and frees them. */
static inline void
shard_release(struct shard *shard, size_t frees)
{
	void *out[FREES_PER_HOLD];
	size_t n = ttlkv__take_frees(shard, out, frees);

	ttlkv__locked_shard = NULL;
	pthread_mutex_unlock(&shard->lock);
	ttlkv__settle();
	ttlkv__free_blocks(out, n);
}

/* Whether more retired entries, or bytes of them, wait for readers than the
 * reclamation cap allows. */
static inline bool
reclaim_overdue(struct ttlkv *store)
{
	return LOAD(&store->reclaim_pending) > LOAD(&store->reclaim_cap) ||
	    LOAD(&store->reclaim_pending_bytes) > LOAD(&store->reclaim_cap_bytes);
}

/* Back-pressure, for a call that retired entries, once it holds no lock:
 * past the reclamation cap it waits for readers. */
static inline void
writer_backpressure(struct ttlkv *store)
{
	if (UNLIKELY(reclaim_overdue(store)))
		ttlkv__backpressure_wait(store);
}

/* Ends a write on shard: shard_release, then back-pressure. */
static inline void
shard_unlock_freeing(struct shard *shard, size_t frees)
{
	shard_release(shard, frees);
	writer_backpressure(shard->store);
}

static inline void
shard_unlock(struct shard *shard)
{
	shard_unlock_freeing(shard, FREES_PER_WRITE);
}

/* --- 3. The table (table.c): hashing, shard choice, ck_hs glue. */

/* Writer locks are adaptive mutexes: a writer that finds the lock held
 * spins briefly (critical sections are a few hundred nanoseconds) before
 * sleeping in the kernel, which costs tens of microseconds; unlike a
 * spinlock it never burns a time slice on a preempted holder. */
int ttlkv__mutex_init(pthread_mutex_t *mutex);

uint64_t ttlkv__hash(const struct ttlkv *store, const void *key, size_t len);
ttlkv_status ttlkv__shard_init(struct ttlkv *store, struct shard *shard, uint64_t slots);
void ttlkv__shard_destroy(struct shard *shard);
/* Under the shard lock: grows the table now if `inserts` more entries
 * would make ck_hs grow it (which ignores a failed grow); false if the
 * grow failed. */
bool ttlkv__table_reserve(struct shard *shard, uint64_t inserts);
/* Under the shard lock: what the live map's block holds. */
uint64_t ttlkv__table_charge(const struct shard *shard);
/* Under the shard lock (or racily, for a hint): whether the shard's
 * budget could take its table at `slots` slots beside what it holds, with
 * `more` bytes added to that and `less` taken away; always without a
 * budget. */
bool ttlkv__table_fits(const struct shard *shard, uint64_t slots, uint64_t more, uint64_t less);
uint64_t ttlkv__shard_plan(uint64_t capacity, uint32_t *n_shards);
uint64_t ttlkv__shard_planned(uint64_t capacity, uint32_t n_shards);
bool ttlkv__slots_allowed(uint64_t slots);
/* The fresh table of a rebuild (rebuild.c): compares by slot value only and
 * refuses to grow, so nothing it does reads an entry. */
bool ttlkv__fresh_init(struct ttlkv *store, ck_hs_t *fresh, uint64_t slots);
bool ttlkv__fresh_put(ck_hs_t *fresh, uint64_t hash, const void *slot);
/* Under the shard lock: makes fresh the shard's table, retiring the old map. */
void ttlkv__table_adopt(struct shard *shard, ck_hs_t *fresh, uint64_t slots);

/*
 * A scan over one map's slots as a reader (sweep, rebuild), inside a read
 * section for as long as it uses map: ttlkv__scan_next returns the next
 * occupied slot value before limit (and past offset, which it advances), or
 * NULL with offset at limit or at the map's end. It reads the slot array
 * through hs_map.h, so it visits exactly the slots it is given, where
 * ck_hs_next_spmc would run on across any number of empty ones.
 */
struct slot_scan {
	const void *map;
	unsigned long offset;
};
const void *ttlkv__scan_next(struct slot_scan *scan, unsigned long limit);
/* Inside a read section: the shard's current map, and its slot count. */
const void *ttlkv__table_map(const struct shard *shard);
unsigned long ttlkv__map_slots(const void *map);

/* The low 16 bits of the count of shard's table replacements (grows and
 * rebuilds), for traversals that resume between read sections: acquire
 * pairs with the grow or rebuild that published its table before bumping
 * it, so a traversal never pairs a generation with a newer table than the
 * one it names. */
#define GENERATION_MASK UINT64_C(0xffff)

static inline uint64_t
shard_generation(const struct shard *shard)
{
	return __atomic_load_n(&shard->generation, __ATOMIC_ACQUIRE) & GENERATION_MASK;
}

/* Inside a read section: the shard's table and the generation it belongs to. */
static inline const void *
shard_map(const struct shard *shard, uint64_t *generation)
{
	const void *map;

	do {
		*generation = shard_generation(shard);
		map = ttlkv__table_map(shard);
	} while (shard_generation(shard) != *generation);
	return map;
}

static inline struct shard *
shard_for(const struct ttlkv *store, uint64_t hash)
{
	return &store->shards[((hash >> 32) * store->n_shards) >> 32];
}

static inline void
probe_init(struct probe *p, const void *key, size_t len)
{
	p->timing = LEN_PROBE << DEADLINE_BITS;
	p->key_len = (uint32_t)len;
	p->key = key;
}

static inline void
probe_init_handle(struct probe *p, const struct handle_probe *h)
{
	p->timing = LEN_PROBE << DEADLINE_BITS;
	p->key_len = HANDLE_PROBE;
	p->key = h;
}

/*
 * Tagged slots (see table.c): with TTLKV_TAGGED_SLOTS a slot holds an
 * entry's address with 15 bits of its key's hash in the top 16 bits, so
 * that a probe can pass a foreign entry without loading it; put refuses the
 * (never seen) entry whose address would not leave them free.
 */
#define TAG_SHIFT 48

static inline bool
slot_taggable(const void *object)
{
	return !TTLKV_TAGGED_SLOTS || (uintptr_t)object >> TAG_SHIFT == 0;
}

static inline const void *
slot_tag(const void *object, uint64_t hash)
{
	if (!TTLKV_TAGGED_SLOTS)
		return object;
	return (const void *)((uintptr_t)object |
	    (uintptr_t)(((hash >> 32) & 0xffff) | 1) << TAG_SHIFT);
}

static inline struct entry *
slot_entry(const void *slot)
{
	if (!TTLKV_TAGGED_SLOTS)
		return (struct entry *)(uintptr_t)slot;
	return (struct entry *)((uintptr_t)slot & ((UINT64_C(1) << TAG_SHIFT) - 1));
}

/* The entry stored for object's key (a probe or an entry), or NULL. Readers
 * call it inside a read section, writers under the shard lock. */
static inline struct entry *
table_find(struct shard *shard, uint64_t hash, const void *object)
{
	return slot_entry(ck_hs_get(&shard->hs, hash, slot_tag(object, hash)));
}

/* --- 4. Records (schedule.c): the schedule and the expired log, record logs
 * drained by ttlkv_drain_schedule and ttlkv_drain_expired. */

/* What a record of a key_len-byte key takes in a log (and in the
 * shard's fixed bytes while it waits there). */
#define RECORD_HEADER (sizeof(uint64_t) + sizeof(uint32_t))
#define RECORD_BYTES(key_len) (RECORD_HEADER + (key_len))

static inline bool
tracks_expiry(const struct ttlkv *store)
{
	return (store->flags & TTLKV_TRACK_EXPIRY) != 0;
}

bool ttlkv__schedule_reserve(struct shard *shard, size_t key_len);
void ttlkv__schedule_append(struct shard *shard, const void *key, size_t key_len, uint64_t deadline);
void ttlkv__record_log_destroy(struct record_log *log);
/* Removing an expired entry outside ttlkv_expire_due: reserve before the
 * write changes anything (false: out of memory), note it on removal. */
bool ttlkv__expired_reserve(struct shard *shard, const struct entry *entry);
/* The same for `records` removals with key_bytes of keys in all. */
bool ttlkv__expired_reserve_many(struct shard *shard, size_t records, size_t key_bytes);
void ttlkv__expired_note(struct shard *shard, const struct entry *entry);
/* Evictions, likewise: room for `records` with key_bytes of keys, then a
 * note per eviction (nothing without TTLKV_TRACK_EXPIRY). */
bool ttlkv__evicted_reserve(struct shard *shard, size_t records, size_t key_bytes);
/* The slice of a budgeted shard's share that its record logs may hold
 * (0: no budget or no tracking): records never displace entries (evict.c
 * counts the slice as held whatever the logs hold), and a write that would
 * have to evict past it is refused without evicting (TTLKV_OUT_OF_MEMORY).
 * The slice holds no entry even while the logs are empty, so it is kept
 * small: a sixty-fourth of the share, but at least LOG_ROOM_MIN (about 300
 * records of 16-byte keys between the worker's drains, which come every
 * tick while the store evicts and at once when the logs pass half) unless
 * that is more than a sixteenth. At a sixteenth throughout, ttlkv-server
 * held 6% fewer keys in its eviction replay (docs/server.md). */
#define LOG_ROOM_FRACTION 64
#define LOG_ROOM_MIN 8192

static inline uint64_t
log_room(const struct shard *shard)
{
	uint64_t room = shard->share / LOG_ROOM_FRACTION;

	if (shard->share == 0 || !tracks_expiry(shard->store))
		return 0;
	if (room < LOG_ROOM_MIN)
		room = LOG_ROOM_MIN < shard->share / 16 ? LOG_ROOM_MIN : shard->share / 16;
	return room;
}
void ttlkv__evicted_note(struct shard *shard, const struct entry *entry);

/* --- 5. Maintenance: rebuild.c, driven by maintain.c. */

/* Writers log their changes while their shard is rebuilt. */
void ttlkv__rebuild_note(struct shard *shard, uint64_t hash, const void *slot, bool removal);

static inline void
rebuild_note(struct shard *shard, uint64_t hash, const void *slot, bool removal)
{
	if (UNLIKELY(shard->rebuild != NULL))
		ttlkv__rebuild_note(shard, hash, slot, removal);
}

/* Under the maintain lock: advances or starts rebuilds for up to budget
 * slots of work; returns how many it published. */
size_t ttlkv__rebuild_work(struct ttlkv *store, ck_epoch_record_t *record, size_t budget);
/* Under the maintain lock: completes the rebuild in progress, if any. */
void ttlkv__rebuild_complete(struct ttlkv *store, ck_epoch_record_t *record);
/* ttlkv_close: drops a rebuild in progress (no other call may run). */
void ttlkv__rebuild_abandon(struct ttlkv *store);

/* --- 6. Holdings (budget.c): what each shard holds against the store's
 * limits, and its eviction queues and ghost. */

/* The quota: entries counted against options.max_entries, compared before
 * they are added (an insert refused at the limit never counts). */
bool ttlkv__quota_take(struct ttlkv *store, uint64_t n);
void ttlkv__quota_give_back(struct ttlkv *store, uint64_t n);

/* What entry e's block holds in bytes, as malloc rounds it. */
static inline uint64_t
entry_charge(const struct ttlkv *store, const struct entry *e)
{
	return ttlkv__block_charge(entry_block(store, e));
}

#define NODE_MAIN ((uintptr_t)1)  /* in the main queue, else in small */
#define NODE_MARK ((uintptr_t)2)  /* marked by a write (evict.c) */
#define NODE_FLAGS (NODE_MAIN | NODE_MARK)

static inline struct node *
node_of(const struct entry *e)
{
	return (struct node *)(uintptr_t)e - 1;
}

static inline struct entry *
node_entry(const struct node *n)
{
	return (struct entry *)(uintptr_t)(n + 1);
}

static inline struct node *
node_next(const struct node *n)
{
	return (struct node *)(n->next & ~NODE_FLAGS);
}

static inline struct node *
node_prev(const struct node *n)
{
	uint64_t v = 0;

	for (int i = 6; i >= 0; i--)
		v = v << 8 | n->prev[i];
	return (struct node *)(uintptr_t)v;
}

static inline void
node_set_prev(struct node *n, const struct node *prev)
{
	uint64_t v = (uintptr_t)prev;

	for (int i = 0; i < 7; i++, v >>= 8)
		n->prev[i] = (uint8_t)v;
}

static inline void
node_set_next(struct node *n, const struct node *next)
{
	n->next = (uintptr_t)next | (n->next & NODE_FLAGS);
}

/* The queues are circular lists through a sentinel (shard->small,
 * shard->main): the sentinel's next is the head (oldest), its prev the
 * tail. Under the shard lock. */
static inline struct node *
queue_head(const struct node *queue)
{
	struct node *head = node_next(queue);

	return head != queue ? head : NULL;
}

static inline void
queue_remove(struct node *n)
{
	struct node *prev = node_prev(n), *next = node_next(n);

	node_set_next(prev, next);
	node_set_prev(next, prev);
}

static inline void
queue_append(struct node *queue, struct node *n)
{
	struct node *tail = node_prev(queue);

	node_set_prev(n, tail);
	node_set_next(n, queue);
	node_set_next(tail, n);
	node_set_prev(queue, n);
}

static inline void
queue_push(struct node *queue, struct node *n)
{
	struct node *head = node_next(queue);

	node_set_prev(n, queue);
	node_set_next(n, head);
	node_set_prev(head, n);
	node_set_next(queue, n);
}

static inline uint8_t
node_freq(const struct node *n)
{
	return __atomic_load_n(&n->freq, __ATOMIC_RELAXED);
}

static inline void
node_set_freq(struct node *n, uint8_t freq)
{
	__atomic_store_n(&n->freq, freq, __ATOMIC_RELAXED);
}

#ifdef TTLKV_TESTING
extern uint64_t ttlkv__freq_stores;
#define COUNT_FREQ_STORE() __atomic_add_fetch(&ttlkv__freq_stores, 1, __ATOMIC_RELAXED)
#else
#define COUNT_FREQ_STORE() ((void)0)
#endif

/* Inside a read section, on a hit that reads e's value: with a budget,
 * bumps its frequency if it is below 3. An entry at 3 is only loaded, so a
 * hot entry's line is never written by its readers. A race between two
 * readers loses an increment at worst; a store into an entry that a writer
 * has just retired is harmless (it is freed after the grace period). */
static inline void
entry_hit(const struct ttlkv *store, const struct entry *e)
{
	struct node *n;
	uint8_t freq;

	if (store->node_bytes == 0)
		return;
	n = node_of(e);
	freq = node_freq(n);
	if (freq < 3) {
		node_set_freq(n, (uint8_t)(freq + 1));
		COUNT_FREQ_STORE();
	}
}

/* Under the shard lock: counts e, just put in the table, as held, and with
 * a budget links it at the tail of main (to_main: its fingerprint was in
 * the ghost; or while the shard has never evicted and small is full) or of
 * small. ttlkv__held_replace: e takes old's place, queue, position and
 * frequency. */
void ttlkv__held_insert(struct shard *shard, struct entry *e, bool to_main);
void ttlkv__held_replace(struct shard *shard, struct entry *e, struct entry *old);

/* Under the shard lock: takes e out of the table (tombstone, rebuild log,
 * counts, quota), not out of its queue nor held bytes (evict.c does). */
void ttlkv__table_remove(struct shard *shard, uint64_t hash, struct entry *e);

/* Why an entry leaves, but for eviction (evict.c): a deleted or expired
 * key leaves its fingerprint in the ghost, and an expiry is counted. */
enum removal { REMOVAL_DELETE, REMOVAL_EXPIRY, REMOVAL_CLEAR, REMOVAL_TAKE_BACK };

/* Under the shard lock, after ttlkv__retire_prepare(shard, entry): removes
 * entry from the table, its queue and the counts, and retires it. */
void ttlkv__unlink(struct shard *shard, uint64_t hash, struct entry *entry, enum removal why);

/* The ghost (under the shard lock): take says whether hash's fingerprint was
 * there and removes it; add puts it first in its bucket. */
bool ttlkv__ghost_take(struct shard *shard, uint64_t hash);
void ttlkv__ghost_add(struct shard *shard, uint64_t hash);

/* A ghost sized afresh for a shard whose entry count moved away from what
 * its ghost was sized for: allocated by a write before it takes the lock
 * (ttlkv__ghost_offer: none if not needed or allocation fails), swapped in
 * under it (adopt: if still needed and it fits the budget), and whichever
 * ghost is left over freed after unlocking (ttlkv__ghost_free). */
struct ghost {
	uint16_t *slots;
	uint32_t buckets;
	uint64_t sized_for;
};
struct ghost ttlkv__ghost_offer(const struct shard *shard);
void ttlkv__ghost_adopt(struct shard *shard, struct ghost *offer);
void ttlkv__ghost_free(struct ghost *ghost);

/* store.c: a shard's holdings when it opens (queues and ghost with a
 * budget), and their end. */
bool ttlkv__holdings_init(struct shard *shard);
void ttlkv__holdings_destroy(struct shard *shard);

/* --- 7. Eviction (evict.c): making room under a budget. */

/*
 * What a write brings to one shard and what it takes from it, and the room
 * made for it. The caller fills the first block (ttlkv__room_init zeroes the
 * rest); ttlkv__room_make then chooses victims (none without a budget) and
 * secures everything the write and their removals need, changing no entry;
 * afterwards the write either fails and calls ttlkv__room_undo, which puts
 * the victims back where they were, or commits them (ttlkv__room_commit:
 * removed, counted, logged, retired) just before it changes the table.
 */
struct room {
	struct shard *shard;
	uint64_t size;         /* charges of the entries the write adds */
	uint64_t freed;        /* charges of the entries it replaces */
	uint64_t inserts;      /* new keys */
	size_t retires;        /* entries it may retire itself */
	uint64_t retire_bytes; /* and their sizes */
	size_t expiries;       /* replaced entries it may log as expired */
	size_t expired_keys;   /* and their key bytes */
	uint64_t records;      /* record bytes it appends (schedule, expired) */
	const struct entry *protect; /* never a victim (or NODE_MARK) */
	/* Filled by ttlkv__room_make. */
	uint64_t now;
	uint64_t slots_needed; /* victims to free table slots (no grow) */
	struct node *victims;  /* a stack through next; NODE_MARK: expired */
	size_t victim_count;
	uint64_t victim_sizes;
	size_t evictions, evicted_keys;      /* victims evicted, key bytes */
	size_t expirations, expiring_keys;   /* victims expired, key bytes */
	unsigned steps, forced, protected_met;
	unsigned kept_other;   /* entries kept that the scope may not evict */
};

void ttlkv__room_init(struct room *room, struct shard *shard);
/* TTLKV_OK; TTLKV_TOO_LARGE_FOR_BUDGET (the write's entries cannot fit
 * beside the shard's table and ghost); TTLKV_OUT_OF_MEMORY (an allocation
 * failed, or the write cannot fit even with every entry but its own gone:
 * records waiting to be drained hold the room); on failure no victim is
 * left chosen. */
ttlkv_status ttlkv__room_make(struct room *room);
void ttlkv__room_undo(struct room *room);
void ttlkv__room_commit(struct room *room);

/* --- 8. Lifecycle (store.c). */

/* Stores whose ttlkv_close came inside a read section of this thread:
 * closed when the outermost section ends. */
extern __thread struct ttlkv *ttlkv__closing;
void ttlkv__close_deferred(void);

/* Ends a read section in which the caller's code may have run (a callback,
 * or between ttlkv_read_begin and ttlkv_read_end), or which such a section
 * encloses: the end of the outermost one closes the stores whose
 * ttlkv_close came inside it. */
static inline void
read_section_end(ck_epoch_record_t *record)
{
	section_end(record);
	if (UNLIKELY(ttlkv__closing != NULL))
		ttlkv__close_deferred();
}

/* --- 9. Operations: write.c, shared with sweep.c, scan.c, batch.c,
 * update.c and put_all.c. */

/* ttlkv_delete's step under the lock. */
ttlkv_status ttlkv__remove(struct shard *shard, uint64_t hash, struct entry *entry);
/* The deadline ttl_ms from now (0 for 0), or TTLKV_INVALID_TTL. */
ttlkv_status ttlkv__deadline_after(struct ttlkv *store, uint64_t ttl_ms, uint64_t *deadline);
/* The expiry worker's step for one record under the shard lock; if it
 * removes the entry it first calls removed(key, key_len, deadline, context)
 * when removed is not NULL (the entry may be freed once it is unlinked). */
ttlkv_status ttlkv__expire_if_due(struct shard *shard, uint64_t hash, struct entry *entry,
    uint64_t scheduled, uint64_t *deadline, ttlkv_schedule_fn *removed, void *context);

/* A new entry block holding key, with room for value_room value bytes
 * (value_len = value_room, deadline 0); NULL if allocation fails.
 * ttlkv__entry_free frees one that was never installed (NULL: nothing). */
struct entry *ttlkv__entry_new(struct ttlkv *store, const void *key, size_t key_len,
    size_t value_room);
void ttlkv__entry_free(struct ttlkv *store, struct entry *e);

/* The entry a put of key and value with ttl_ms (0: none) installs, built
 * outside any lock, in *out (NULL on error); the key is checked already. */
ttlkv_status ttlkv__entry_make(struct ttlkv *store, const void *key, size_t key_len,
    const void *value, size_t value_len, uint64_t ttl_ms, struct entry **out);

/* Under the shard lock: puts entry e in place of old, the key's entry as
 * found under this hold of the lock (NULL if absent); on any status but
 * TTLKV_OK nothing changed and e is still the caller's. */
ttlkv_status ttlkv__install(struct shard *shard, uint64_t hash, struct entry *e,
    struct entry *old, bool if_absent);

/* The last step of an install, once its room is made and committed and
 * its quota taken (put_all.c makes them for many entries at once): e goes
 * into the table in place of old (NULL: an insert, to main if to_main),
 * counting and logging old as expired if old_expired (its log room is
 * reserved). Only an insert can fail (TTLKV_OUT_OF_MEMORY: ck_hs found no
 * slot and could not grow), and then nothing of its own has changed. */
ttlkv_status ttlkv__place(struct shard *shard, uint64_t hash, struct entry *e,
    struct entry *old, bool old_expired, bool to_main);

/* What a keyed write does to the key's current entry (NULL if absent),
 * under the shard lock. */
typedef ttlkv_status keyed_write_fn(struct shard *shard, uint64_t hash,
    struct entry *entry, void *context);

/*
 * How a keyed write runs. A caller's write frees a few ready entries on its
 * way out. The expiry worker's removals free nothing (a mass expiry runs at
 * its own speed; frees are left to writers and ttlkv_reclaim), and look the
 * key up as a reader before locking, so that the lock is then held for
 * cache hits only: a worker preempted in the middle of a mass expiry then
 * rarely holds a lock that a writer is waiting for.
 */
enum write_mode { WRITE_CALLER, WRITE_EXPIRY };

/* Checks the arguments, locks key's shard, runs fn on its entry, unlocks. */
ttlkv_status ttlkv__keyed_write(struct ttlkv *store, const void *key, size_t key_len,
    keyed_write_fn *fn, void *context, enum write_mode mode);

/* A keyed_write_fn: gives a live entry the deadline *(const uint64_t *)context. */
keyed_write_fn ttlkv__change_deadline;

/* update.c and put_all.c, for ttlkv_lock_keys (transaction.c): their steps
 * on shards whose locks the caller holds. */
ttlkv_status ttlkv__update_held(struct shard *shard, uint64_t hash, const void *key,
    size_t key_len, size_t size_hint, ttlkv_update_fn *fn, void *context);
ttlkv_status ttlkv__put_all_held(struct ttlkv *store, const ttlkv_item *items, size_t n,
    unsigned flags);

#endif /* TTLKV_INTERNAL_H */
