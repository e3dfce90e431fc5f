/*
 * The hash table: seeded hashing, shard sizing, and the callbacks ck_hs needs.
 *
 * Sizing. ck_hs doubles a table once live entries exceed half its slots, and
 * slots are a power of two. A store that must hold `capacity` entries without
 * resizing therefore needs 2 x capacity slots rounded up per shard; with a
 * power-of-two shard count that rounding can waste almost half the table
 * (10 million entries would take 2^25 slots, 302 MiB). Shards are chosen by
 * multiply-shift on the hash's high bits, so any shard count works, and when
 * the caller leaves the count to us we pick the one, in [k, 2k), whose
 * per-shard power of two fits most tightly, with room for the random
 * imbalance between shards (five standard deviations), so that no shard
 * grows before the store holds `capacity` entries.
 *
 * Hashing is XXH3 (libxxhash) with a per-store random 64-bit seed: fast on
 * short keys, and without the seed an attacker cannot aim keys at one slot.
 *
 * Tagged slots. Debian builds Concurrency Kit without pointer packing, so
 * every occupied slot a probe passes costs a compare() that loads the
 * stored entry: a DRAM miss per foreign entry on the way, about 0.5 per hit
 * and 2.4 per miss at the table's load of one half. We pack ourselves: the
 * slot value carries 15 bits of the key's hash (bits 32-46; the shard is
 * chosen by the top bits, which all keys of a shard share) above the 48
 * address bits, the probe is passed tagged the same way, and compare()
 * rejects a tag mismatch before it touches the entry. ck_hs never looks
 * inside the values it stores, so it only ever sees tagged pointers; the
 * library strips the tag (slot_entry) wherever it dereferences one. Only on
 * x86-64 and not under AddressSanitizer (see internal.h); elsewhere the tags
 * are zero and every compare loads the entry, as before.
 */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "internal.h"

#include <limits.h>
#include <string.h>

#include "hs_map.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#define MIN_SLOTS 64
/* ck_hs rounds capacities to a power of two in 32 bits: stay below 2^31. */
#define MAX_SLOTS (UINT64_C(1) << 30)

/* Slots of the map ck_hs is allocating on this thread, committed to the
 * shard when the grow succeeds (the old map is then freed with defer). */
static __thread uint64_t pending_map_slots;
/* Set while this thread inserts into a rebuild's fresh table, which must
 * never grow: a grow would hash entries that may be gone. */
static __thread bool maps_refused;
/* The store whose map ck_hs_init is allocating on this thread, if any (a
 * grow's is the locked shard's). */
static __thread const struct ttlkv *map_store;

int
ttlkv__mutex_init(pthread_mutex_t *mutex)
{
	pthread_mutexattr_t attr;
	int rc;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	rc = pthread_mutex_init(mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

#ifdef TTLKV_TESTING
/* Tests narrow every hash to these bits, so that keys share hashes
 * (ttlkv_testing_hash_mask). */
static uint64_t hash_mask = UINT64_MAX;

void
ttlkv_testing_hash_mask(uint64_t mask)
{
	__atomic_store_n(&hash_mask, mask, __ATOMIC_RELAXED);
}
#define HASH_MASK __atomic_load_n(&hash_mask, __ATOMIC_RELAXED)
#else
#define HASH_MASK UINT64_MAX
#endif

/* The one hash of a key everything uses: lookups, grows, handles. */
static inline uint64_t
seeded_hash(const void *key, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(key, len, seed) & HASH_MASK;
}

uint64_t
ttlkv__hash(const struct ttlkv *store, const void *key, size_t len)
{
	return seeded_hash(key, len, store->seed);
}

uint64_t
ttlkv_key_handle(const ttlkv *store, const void *key, size_t key_len)
{
	if (store == NULL || (key == NULL && key_len != 0))
		return 0;
	return ttlkv__hash(store, key, key_len);
}

uint32_t
ttlkv_handle_shard(const ttlkv *store, uint64_t handle)
{
	if (store == NULL)
		return 0;
	return (uint32_t)(shard_for(store, handle) - store->shards);
}

static const void *
object_key(const struct entry *object, size_t *len)
{
	if (word_field(&object->timing) == LEN_PROBE) {
		const struct probe *p = (const struct probe *)(const void *)object;

		*len = p->key_len;
		return p->key;
	}
	*len = entry_key_len(object);
	return entry_key(object);
}

/* ck_hs calls this on stored entries when it grows: recompute, the key is
 * right there and storing the hash would cost 8 bytes per entry. */
static unsigned long
hs_hash(const void *object, unsigned long seed)
{
	size_t len;
	const void *key = object_key(slot_entry(object), &len);

	return seeded_hash(key, len, seed);
}

#ifdef TTLKV_TESTING
static uint64_t entry_loads;
#define COUNT_ENTRY_LOAD() __atomic_add_fetch(&entry_loads, 1, __ATOMIC_RELAXED)
#else
#define COUNT_ENTRY_LOAD() ((void)0)
#endif

/* Whether stored entry a is one a handle probe h looks for (internal.h). */
static bool
handle_matches(const struct entry *a, const struct handle_probe *h)
{
	if (seeded_hash(entry_key(a), entry_key_len(a), h->seed) != h->hash)
		return false;
	return !h->locked || entry_scheduled(a) == h->scheduled || deadline_passed(entry_deadline(a), h->now);
}

/* ck_hs passes the stored slot first, then the tagged probe or new entry. */
static bool
hs_compare(const void *stored, const void *other)
{
	const struct entry *a;
	size_t len;
	const void *key;

	if ((uintptr_t)stored >> TAG_SHIFT != (uintptr_t)other >> TAG_SHIFT)
		return false;
	COUNT_ENTRY_LOAD();
	a = slot_entry(stored);
	TSAN_ACQUIRE(a);
	key = object_key(slot_entry(other), &len);
	if (entry_key_len(a) == len)
		return len == 0 || memcmp(entry_key(a), key, len) == 0;
	/* No key is as long as a handle probe's length: its test stays off
	 * the path of every lookup by key. */
	return len == HANDLE_PROBE && handle_matches(a, key);
}

/* Every map carries a struct retired header so that a replaced map can wait
 * for its grace period like any other retired block. */
#define MAP_HEADER ((sizeof(struct retired) + 15) & ~(size_t)15)

/* Map size in ck_hs 0.7.1: header, slots x (pointer + probe-bound byte),
 * cache-line padding. Only the power of two below size / 9 matters. */
static uint64_t
slots_of_map_size(size_t size)
{
	uint64_t n = size / (sizeof(void *) + 1), p = MIN_SLOTS;

	while (p * 2 <= n)
		p *= 2;
	return p;
}

/* Whether the map being allocated is to be on huge pages: its store asked
 * (TTLKV_HUGE_PAGES). */
static bool
map_huge(void)
{
	const struct ttlkv *store = map_store;

	if (store == NULL && ttlkv__locked_shard != NULL)
		store = ttlkv__locked_shard->store;
	return store != NULL && (store->flags & TTLKV_HUGE_PAGES) != 0;
}

static void *
hs_malloc(size_t size)
{
	bool huge = MAP_HEADER + size >= TTLKV_HUGE_PAGE && map_huge();
	unsigned char *p;

	if (maps_refused)
		return NULL;
	p = huge ? ttlkv__aligned_alloc(TTLKV_HUGE_PAGE, MAP_HEADER + size) : ttlkv__alloc(MAP_HEADER + size);
	if (p == NULL)
		return NULL;
	/* ck_hs clears the whole map at once: no huge page goes unused. The
	 * charge is kept in the header until the map retires: an aligned
	 * block's usable size counts address space malloc reserved for the
	 * alignment and never touches. */
	if (huge)
		ttlkv__advise_huge(p, MAP_HEADER + size);
	((struct retired *)(void *)p)->bytes = huge ? (MAP_HEADER + size + 4095) / 4096 * 4096 :
	    ttlkv__block_charge(p);
	pending_map_slots = slots_of_map_size(size);
	return p + MAP_HEADER;
}

static struct retired *
map_block(const void *map)
{
	return (struct retired *)(void *)((unsigned char *)(uintptr_t)map - MAP_HEADER);
}

uint64_t
ttlkv__table_charge(const struct shard *shard)
{
	return map_block(shard->hs.map)->bytes;
}

/* Under the shard lock: counts the shard's live map in its fixed bytes in
 * place of the one it replaced. */
static void
map_charged(struct shard *shard)
{
	uint64_t charge = ttlkv__table_charge(shard);

	STORE(&shard->fixed, shard->fixed - shard->map_charge + charge);
	STORE(&shard->map_charge, charge);
}

static void
hs_free(void *p, size_t size, bool defer)
{
	struct shard *shard = ttlkv__locked_shard;

	(void)size;
	if (!defer || shard == NULL) {
		ttlkv__free(map_block(p));
		return;
	}
	/* A deferred free is the last step of a successful grow, which has
	 * just published the new map (for ThreadSanitizer: ck_hs's store is
	 * invisible to it). */
	TSAN_RELEASE(shard->hs.map);
	map_charged(shard);
	STORE(&shard->slots, pending_map_slots);
	STORE(&shard->grows, shard->grows + 1);
	__atomic_store_n(&shard->generation, shard->generation + 1, __ATOMIC_RELEASE);
	ttlkv__retire_block(shard, map_block(p));
}

static void *
hs_realloc(void *p, size_t old_size, size_t new_size, bool defer)
{
	(void)p;
	(void)old_size;
	(void)new_size;
	(void)defer;
	return NULL; /* ck_hs 0.7.1 never reallocates */
}

static struct ck_malloc hs_allocator = {
	.malloc = hs_malloc,
	.realloc = hs_realloc,
	.free = hs_free,
};

static uint64_t
isqrt(uint64_t x)
{
	uint64_t r = 0;

	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

static uint64_t
pow2_ceil(uint64_t x)
{
	uint64_t p = MIN_SLOTS;

	while (p < x)
		p *= 2;
	return p;
}

/* Entries a shard must hold for the store to hold capacity: its share plus
 * five standard deviations of the random imbalance between shards. */
uint64_t
ttlkv__shard_planned(uint64_t capacity, uint32_t n_shards)
{
	uint64_t share = (capacity + n_shards - 1) / n_shards;

	return share + 5 * isqrt(share) + 16;
}

static uint64_t
slots_for(uint64_t capacity, uint32_t n_shards)
{
	return pow2_ceil(2 * ttlkv__shard_planned(capacity, n_shards));
}

bool
ttlkv__slots_allowed(uint64_t slots)
{
	return slots <= MAX_SLOTS;
}

uint64_t
ttlkv__shard_plan(uint64_t capacity, uint32_t *n_shards)
{
	uint32_t k = 8, best;
	uint64_t best_total = UINT64_MAX;

	if (*n_shards != 0)
		return slots_for(capacity, *n_shards);
	while (k < 64 && k * UINT64_C(16384) <= capacity)
		k *= 2;
	best = k;
	for (uint32_t s = k; s < 2 * k; s++) {
		uint64_t total = slots_for(capacity, s) * s;

		if (total <= best_total) {
			best_total = total;
			best = s;
		}
	}
	*n_shards = best;
	return slots_for(capacity, best);
}

static bool
hs_init(const struct ttlkv *store, ck_hs_t *hs, ck_hs_compare_cb_t *compare, uint64_t slots)
{
	bool ok;

	map_store = store;
	ok = ck_hs_init(hs, CK_HS_MODE_SPMC | CK_HS_MODE_OBJECT | CK_HS_MODE_DELETE,
	    hs_hash, compare, &hs_allocator, slots, store->seed);
	map_store = NULL;
	return ok;
}

ttlkv_status
ttlkv__shard_init(struct ttlkv *store, struct shard *shard, uint64_t slots)
{
	if (slots > MAX_SLOTS)
		return TTLKV_INVALID_ARGUMENT;
	shard->store = store;
	shard->slots = slots;
	if (ttlkv__mutex_init(&shard->lock) != 0)
		return TTLKV_OUT_OF_MEMORY;
	if (!hs_init(store, &shard->hs, hs_compare, slots)) {
		pthread_mutex_destroy(&shard->lock);
		return TTLKV_OUT_OF_MEMORY;
	}
	map_charged(shard);
	return TTLKV_OK;
}

bool
ttlkv__fresh_init(struct ttlkv *store, ck_hs_t *fresh, uint64_t slots)
{
	return hs_init(store, fresh, NULL, slots);
}

bool
ttlkv__fresh_put(ck_hs_t *fresh, uint64_t hash, const void *slot)
{
	bool ok;

	maps_refused = true;
	ok = ck_hs_put_unique(fresh, hash, slot);
	maps_refused = false;
	return ok;
}

void
ttlkv__table_adopt(struct shard *shard, ck_hs_t *fresh, uint64_t slots)
{
	const void *old = shard->hs.map;

	/* The generation moves before and after the swap, so that a scan that
	 * saw an unchanged generation around its load of the map has the map
	 * its cursor's offset counts in (scan.c). The fresh map is complete
	 * before readers can load it. */
	__atomic_store_n(&shard->generation, shard->generation + 1, __ATOMIC_RELEASE);
	TSAN_RELEASE(fresh->map);
	ck_pr_fence_memory();
	ck_hs_move(&shard->hs, fresh, hs_hash, hs_compare, &hs_allocator);
	map_charged(shard);
	STORE(&shard->slots, slots);
	__atomic_store_n(&shard->generation, shard->generation + 1, __ATOMIC_RELEASE);
	ttlkv__retire_block(shard, map_block(old));
}

const void *
ttlkv__table_map(const struct shard *shard)
{
	const void *map = ck_pr_load_ptr(&shard->hs.map);

	TSAN_ACQUIRE(map);
	return map;
}

unsigned long
ttlkv__map_slots(const void *map)
{
	return ((const struct ttlkv__hs_map *)map)->capacity;
}

const void *
ttlkv__scan_next(struct slot_scan *scan, unsigned long limit)
{
	const struct ttlkv__hs_map *m = scan->map;

	if (limit > m->capacity)
		limit = m->capacity;
	for (; scan->offset < limit; scan->offset++) {
		const void *slot = ck_pr_load_ptr(&m->entries[scan->offset]);

		if (slot != TTLKV_HS_EMPTY && slot != TTLKV_HS_TOMBSTONE) {
			scan->offset++;
			return slot;
		}
	}
	return NULL;
}

/* Frees the table and every entry in it. No reader may be left. */
void
ttlkv__shard_destroy(struct shard *shard)
{
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	struct slab_batch slabs = { { NULL }, { NULL } };
	void *object;

	while (ck_hs_next(&shard->hs, &it, &object)) {
		void *block = entry_block(shard->store, slot_entry(object));

		if (ttlkv__slab_owns(block))
			ttlkv__slab_batch_add(&slabs, block);
		else
			ttlkv__free(block);
	}
	ttlkv__slab_batch_put(&slabs);
	ck_hs_destroy(&shard->hs);
	pthread_mutex_destroy(&shard->lock);
}

/* Under the shard lock: grows the table to `slots` beside the live one and
 * swaps it in as a rebuild does. ck_hs_grow does the same work but publishes
 * the new map itself, before ThreadSanitizer can be told that it is
 * complete (a reader that loaded it in between was reported as a race). */
static bool
grow_beside(struct shard *shard, uint64_t slots)
{
	struct slot_scan scan = { shard->hs.map, 0 };
	const void *slot;
	ck_hs_t fresh;

	if (!ttlkv__fresh_init(shard->store, &fresh, slots))
		return false;
	while ((slot = ttlkv__scan_next(&scan, ULONG_MAX)) != NULL) {
		const struct entry *e = slot_entry(slot);

		if (!ttlkv__fresh_put(&fresh, ttlkv__hash(shard->store, entry_key(e), entry_key_len(e)), slot)) {
			ck_hs_destroy(&fresh);
			return false;
		}
	}
	ttlkv__table_adopt(shard, &fresh, slots);
	STORE(&shard->grows, shard->grows + 1);
	STORE(&shard->tombstones, 0); /* the fresh table has no tombstones */
	return true;
}

/* The slots a table needs for `entries` without ck_hs growing it. */
static uint64_t
slots_needed(uint64_t slots, uint64_t entries)
{
	while (entries * 2 > slots)
		slots *= 2;
	return slots;
}

bool
ttlkv__table_reserve(struct shard *shard, uint64_t inserts)
{
	uint64_t slots = slots_needed(shard->slots, shard->count + inserts);

	if (slots == shard->slots)
		return true;
	if (!ttlkv__slots_allowed(slots))
		return false;
	return grow_beside(shard, slots);
}

/* An upper bound of what a map of `slots` slots takes: ck_hs 0.7.1 asks
 * for its header, a pointer and a probe-bound byte per slot and a cache
 * line of padding; ours adds MAP_HEADER; malloc, at most a page more. */
static uint64_t
map_cost(uint64_t slots)
{
	return MAP_HEADER + 256 + slots * (sizeof(void *) + 1) + 4096;
}

bool
ttlkv__table_fits(const struct shard *shard, uint64_t slots, uint64_t more, uint64_t less)
{
	uint64_t held = LOAD(&shard->held), fixed = LOAD(&shard->fixed), logged = LOAD(&shard->logged);
	uint64_t slice = log_room(shard);

	/* The records' slice is theirs even while they leave it empty (evict.c):
	 * a table grown into it would stay there if the write is then refused.
	 * Unlocked callers may see fixed and logged apart: never below 0. */
	fixed = fixed > logged ? fixed - logged : 0;
	return shard->share == 0 || fixed + (logged > slice ? logged : slice) - LOAD(&shard->map_charge) +
	    map_cost(slots) + held + more - less <= shard->share;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

int
ttlkv_testing_table_shape(struct ttlkv *store, uint64_t *empty, uint64_t *tombstones,
    uint64_t *live)
{
	*empty = *tombstones = *live = 0;
	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct shard *shard = &store->shards[i];
		const struct ttlkv__hs_map *m;

		shard_lock(shard);
		m = ttlkv__map(&shard->hs);
		if (m->capacity != shard->slots) {
			shard_unlock(shard);
			return -1;
		}
		for (unsigned long j = 0; j < m->capacity; j++) {
			const void *slot = m->entries[j];

			if (slot == TTLKV_HS_EMPTY)
				++*empty;
			else if (slot == TTLKV_HS_TOMBSTONE)
				++*tombstones;
			else
				++*live;
		}
		shard_unlock(shard);
	}
	return 0;
}

uint64_t
ttlkv_testing_entry_loads(void)
{
	return __atomic_load_n(&entry_loads, __ATOMIC_RELAXED);
}

int
ttlkv_testing_tagged_slots(void)
{
	return TTLKV_TAGGED_SLOTS;
}

const void *
ttlkv_testing_table_map(struct ttlkv *store, uint32_t shard)
{
	return ttlkv__table_map(&store->shards[shard]);
}

unsigned
ttlkv_testing_probe_maximum(struct ttlkv *store)
{
	unsigned longest = 0;

	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct ck_hs_stat st;

		shard_lock(&store->shards[i]);
		ck_hs_stat(&store->shards[i].hs, &st);
		shard_unlock(&store->shards[i]);
		if (st.probe_maximum > longest)
			longest = st.probe_maximum;
	}
	return longest;
}
#endif
