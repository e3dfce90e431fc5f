/*
 * What each shard holds against the store's limits: entries against
 * options.max_entries (the quota) and bytes against options.max_bytes (the
 * budget), with the eviction queues and ghost a budget keeps.
 *
 * Bytes. Every shard counts what it holds, budget or not, so that
 * stats.used_bytes is always the store's own count: shard->held, each entry
 * as malloc rounds its block (ttlkv__block_charge), and shard->fixed, its
 * live table, its ghost and the records waiting in its logs. Under a budget
 * a shard may hold its share (max_bytes, less the store's own structures,
 * over the shards); a write that would pass it makes room first (evict.c).
 * An entry stops counting when it leaves the table; retired and waiting for
 * readers it is bounded apart, by the reclamation cap (epoch.c), which a
 * budget scales down.
 *
 * Queues. S3-FIFO (Yang et al., SOSP'23) in each shard, as
 * Benchmarks/Eviction/README.md designs and measures it: a small FIFO that
 * new keys enter (a tenth of the shard's budget), a main FIFO, a 2-bit
 * frequency per entry, and a ghost of fingerprints. An entry's place in a
 * queue is its node (struct node, right in front of it): O(1) to unlink on
 * any way out of the table, and an overwrite takes its predecessor's place.
 * Readers bump the frequency with a relaxed load and, below 3, a relaxed
 * store (entry_hit), and take no lock: all else is under the shard lock.
 *
 * Ghost. Buckets of GHOST_SLOTS 16-bit fingerprints, one cache line each,
 * about one fingerprint per entry the shard holds. A key evicted from the
 * small queue, deleted or expired leaves its fingerprint first in its
 * bucket (the bucket's oldest drops out when it is full); an insert that
 * finds its own (and takes it out) goes straight to main: the key was wanted
 * again. The insert consults it, not the read that missed, because a cache
 * is filled by a separate SET after a GET misses. When the entry count moves
 * away from what the ghost was sized for, a write allocates a new, empty one
 * before it takes the lock (ttlkv__ghost_offer); losing the old one's
 * memory of keys costs little.
 */
#include "internal.h"

#include <string.h>

#define GHOST_SLOTS 32
#define GHOST_LINE (GHOST_SLOTS * sizeof(uint16_t))
/* Remixes the hash for fingerprints: the bucket uses its low 32 bits and
 * the shard its high ones. */
#define FINGERPRINT_MUL UINT64_C(0xD6E8FEB86659FD93)

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

uint64_t ttlkv__freq_stores;
static uint64_t quota_peak;

uint64_t
ttlkv_testing_freq_stores(void)
{
	return __atomic_load_n(&ttlkv__freq_stores, __ATOMIC_RELAXED);
}

uint64_t
ttlkv_testing_quota_peak(void)
{
	return __atomic_exchange_n(&quota_peak, 0, __ATOMIC_RELAXED);
}
#endif

/* --- The quota. */

bool
ttlkv__quota_take(struct ttlkv *store, uint64_t n)
{
	uint64_t used;

	if (store->max_entries == 0)
		return true;
	used = __atomic_load_n(&store->quota_used, __ATOMIC_RELAXED);
	do {
		if (used + n > store->max_entries)
			return false;
	} while (!__atomic_compare_exchange_n(&store->quota_used, &used, used + n, true,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	TESTING_PEAK(quota_peak, used + n);
	return true;
}

void
ttlkv__quota_give_back(struct ttlkv *store, uint64_t n)
{
	if (store->max_entries != 0 && n != 0)
		__atomic_sub_fetch(&store->quota_used, n, __ATOMIC_RELAXED);
}

/* --- Counting what a shard holds. */

static void
count_entries(struct shard *shard, int64_t entries, int64_t bytes)
{
	STORE(&shard->count, shard->count + (uint64_t)entries);
	STORE(&shard->bytes, shard->bytes + (uint64_t)bytes);
}

static void
hold_bytes(struct shard *shard, int64_t charge)
{
	STORE(&shard->held, shard->held + (uint64_t)charge);
}

static uint64_t
payload(const struct entry *e)
{
	return (uint64_t)entry_key_len(e) + entry_value_len(e);
}

void
ttlkv__held_insert(struct shard *shard, struct entry *e, bool to_main)
{
	uint64_t charge = entry_charge(shard->store, e);
	struct node *n = node_of(e);

	count_entries(shard, 1, (int64_t)payload(e));
	hold_bytes(shard, (int64_t)charge);
	if (shard->share == 0)
		return;
	/* Until the shard first evicts, a full small queue sends new keys to
	 * main (the budget: its share less its fixed bytes, never more). */
	if (!to_main && !shard->has_evicted &&
	    (shard->small_bytes + charge) * 10 > shard->share - shard->fixed)
		to_main = true;
	n->next = to_main ? NODE_MAIN : 0;
	node_set_freq(n, 0);
	if (to_main) {
		queue_append(&shard->main, n);
	} else {
		shard->small_bytes += charge;
		queue_append(&shard->small, n);
	}
}

void
ttlkv__held_replace(struct shard *shard, struct entry *e, struct entry *old)
{
	int64_t charge = (int64_t)entry_charge(shard->store, e);
	int64_t old_charge = (int64_t)entry_charge(shard->store, old);
	struct node *n = node_of(e), *o = node_of(old);

	count_entries(shard, 0, (int64_t)payload(e) - (int64_t)payload(old));
	hold_bytes(shard, charge - old_charge);
	if (shard->share == 0)
		return;
	/* Not yet published: plain stores, then o's neighbours point to n. */
	n->next = o->next & ~NODE_MARK;
	memcpy(n->prev, o->prev, sizeof n->prev);
	n->freq = node_freq(o);
	node_set_next(node_prev(o), n);
	node_set_prev(node_next(o), n);
	if (!(o->next & NODE_MAIN))
		shard->small_bytes += (uint64_t)(charge - old_charge);
}

void
ttlkv__table_remove(struct shard *shard, uint64_t hash, struct entry *e)
{
	ck_hs_remove(&shard->hs, hash, slot_tag(e, hash));
	rebuild_note(shard, hash, slot_tag(e, hash), true);
	STORE(&shard->tombstones, shard->tombstones + 1);
	count_entries(shard, -1, -(int64_t)payload(e));
	ttlkv__quota_give_back(shard->store, 1);
}

void
ttlkv__unlink(struct shard *shard, uint64_t hash, struct entry *entry, enum removal why)
{
	uint64_t charge = entry_charge(shard->store, entry);

	ttlkv__table_remove(shard, hash, entry);
	hold_bytes(shard, -(int64_t)charge);
	if (why == REMOVAL_EXPIRY)
		STORE(&shard->expired, shard->expired + 1);
	if (shard->share != 0) {
		struct node *n = node_of(entry);

		queue_remove(n);
		if (!(n->next & NODE_MAIN))
			shard->small_bytes -= charge;
		if (why == REMOVAL_DELETE || why == REMOVAL_EXPIRY)
			ttlkv__ghost_add(shard, hash);
	}
	ttlkv__retire(shard, entry);
}

/* --- The ghost. */

static uint16_t
fingerprint(uint64_t hash)
{
	uint16_t fp = (uint16_t)((hash * FINGERPRINT_MUL) >> 48);

	return fp != 0 ? fp : 1;
}

static uint16_t *
bucket(const struct shard *shard, uint64_t hash)
{
	uint64_t b = ((hash & 0xffffffffu) * shard->ghost_buckets) >> 32;

	return shard->ghost + b * GHOST_SLOTS;
}

bool
ttlkv__ghost_take(struct shard *shard, uint64_t hash)
{
	uint16_t *b = bucket(shard, hash), fp = fingerprint(hash);

	for (int i = 0; i < GHOST_SLOTS; i++) {
		if (b[i] == fp) {
			b[i] = 0;
			return true;
		}
	}
	return false;
}

void
ttlkv__ghost_add(struct shard *shard, uint64_t hash)
{
	uint16_t *b = bucket(shard, hash);
	int z = 0;

	while (z < GHOST_SLOTS - 1 && b[z] != 0)
		z++;
	memmove(b + 1, b, (size_t)z * sizeof *b);
	b[0] = fingerprint(hash);
}

static uint32_t
buckets_for(uint64_t entries)
{
	uint64_t n = (entries + GHOST_SLOTS / 2) / GHOST_SLOTS;

	return n == 0 ? 1 : n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static bool
ghost_stale(const struct shard *shard)
{
	uint64_t entries = LOAD(&shard->count), sized_for = LOAD(&shard->ghost_for);

	return entries > sized_for + sized_for / 4 + GHOST_SLOTS || entries < sized_for / 2;
}

/* What a ghost of `buckets` takes: its lines, and malloc's header. The
 * address it gets (aligned to a line) may leave malloc more or less around
 * it; the count does not depend on it. */
static uint64_t
ghost_charge(uint32_t buckets)
{
	return (uint64_t)buckets * GHOST_LINE + 2 * sizeof(size_t);
}

static bool
ghost_alloc(struct ghost *g, uint64_t entries)
{
	size_t bytes;

	g->buckets = buckets_for(entries);
	g->sized_for = entries;
	bytes = (size_t)g->buckets * GHOST_LINE;
	if ((g->slots = ttlkv__aligned_alloc(GHOST_LINE, bytes)) == NULL)
		return false;
	memset(g->slots, 0, bytes);
	return true;
}

struct ghost
ttlkv__ghost_offer(const struct shard *shard)
{
	struct ghost g = { NULL, 0, 0 };

	if (shard->share != 0 && ghost_stale(shard) && !ghost_alloc(&g, LOAD(&shard->count)))
		g.slots = NULL;
	return g;
}

void
ttlkv__ghost_adopt(struct shard *shard, struct ghost *offer)
{
	uint64_t charge;
	uint16_t *old;

	if (offer->slots == NULL || !ghost_stale(shard))
		return;
	charge = ghost_charge(offer->buckets);
	if (charge > shard->ghost_charge &&
	    shard->fixed + shard->held + charge - shard->ghost_charge > shard->share)
		return;
	old = shard->ghost;
	STORE(&shard->fixed, shard->fixed + charge - shard->ghost_charge);
	shard->ghost = offer->slots;
	shard->ghost_buckets = offer->buckets;
	shard->ghost_charge = charge;
	STORE(&shard->ghost_for, offer->sized_for);
	offer->slots = old;
}

void
ttlkv__ghost_free(struct ghost *ghost)
{
	ttlkv__free(ghost->slots);
	ghost->slots = NULL;
}

/* --- A shard's start and end. */

static void
queue_init(struct node *queue)
{
	queue->next = (uintptr_t)queue;
	node_set_prev(queue, queue);
	queue->freq = 0;
}

bool
ttlkv__holdings_init(struct shard *shard)
{
	struct ghost g;

	queue_init(&shard->small);
	queue_init(&shard->main);
	if (shard->share == 0)
		return true;
	if (!ghost_alloc(&g, 0))
		return false;
	shard->ghost = g.slots;
	shard->ghost_buckets = g.buckets;
	shard->ghost_charge = ghost_charge(g.buckets);
	shard->ghost_for = 0;
	STORE(&shard->fixed, shard->fixed + shard->ghost_charge);
	return true;
}

void
ttlkv__holdings_destroy(struct shard *shard)
{
	ttlkv__free(shard->ghost);
	ttlkv__record_log_destroy(&shard->evicted_log);
	ttlkv__record_log_destroy(&shard->evicted_log_spare);
}

#ifdef TTLKV_TESTING
/* Under the shard lock: walks one queue; the number of its nodes, their
 * bytes in *bytes; -1 if a node is in the wrong queue or not in the table. */
static int64_t
queue_walk(struct shard *shard, const struct node *queue, bool main, uint64_t *bytes)
{
	int64_t n = 0;

	*bytes = 0;
	for (const struct node *x = node_next(queue); x != queue; x = node_next(x)) {
		const struct entry *e = node_entry(x);
		uint64_t hash = ttlkv__hash(shard->store, entry_key(e), entry_key_len(e));

		if (((x->next & NODE_MAIN) != 0) != main || table_find(shard, hash, e) != e ||
		    node_next(node_prev(x)) != x)
			return -1;
		*bytes += entry_charge(shard->store, e);
		n++;
	}
	return n;
}

int
ttlkv_testing_holdings(struct ttlkv *store, uint64_t *used)
{
	int wrong = 0;

	*used = store->overhead;
	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct shard *shard = &store->shards[i];
		ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
		uint64_t held = 0, entries = 0, small, main, logs;
		void *slot;
		bool ok;

		shard_lock(shard);
		while (ck_hs_next(&shard->hs, &it, &slot)) {
			held += entry_charge(store, slot_entry(slot));
			entries++;
		}
		logs = shard->schedule.len + shard->expired_log.len + shard->evicted_log.len;
		ok = held == shard->held && entries == shard->count && logs == shard->logged &&
		    shard->fixed == shard->map_charge + shard->ghost_charge + logs &&
		    shard->map_charge == ttlkv__table_charge(shard);
		if (shard->share != 0) {
			int64_t n_small = queue_walk(shard, &shard->small, false, &small);
			int64_t n_main = queue_walk(shard, &shard->main, true, &main);

			/* The records' slice stays theirs while they leave it empty. */
			uint64_t records = logs > log_room(shard) ? logs : log_room(shard);

			ok = ok && n_small >= 0 && n_main >= 0 && small == shard->small_bytes &&
			    (uint64_t)(n_small + n_main) == entries && small + main == held &&
			    shard->fixed - logs + records + held <= shard->share;
		}
		*used += shard->map_charge + shard->ghost_charge + logs + held;
		shard_unlock(shard);
		wrong += !ok;
	}
	return wrong;
}

int
ttlkv_testing_policy(struct ttlkv *store, const void *key, size_t key_len, int *queue)
{
	uint64_t hash = ttlkv__hash(store, key, key_len);
	struct shard *shard = shard_for(store, hash);
	struct probe probe;
	struct entry *e;
	int freq = -1;

	*queue = -1;
	probe_init(&probe, key, key_len);
	shard_lock(shard);
	e = table_find(shard, hash, &probe);
	if (e != NULL && store->node_bytes != 0) {
		freq = node_freq(node_of(e));
		*queue = (node_of(e)->next & NODE_MAIN) != 0;
	}
	shard_unlock(shard);
	return freq;
}
#endif
