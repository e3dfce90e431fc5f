/*
 * Store lifecycle, options, statistics and status strings.
 */
#include "internal.h"

#include <stddef.h>
#include <stdlib.h>

#include "hs_map.h"
#include <string.h>
#include <sys/random.h>

/* The first published layouts: callers compiled against them or later. */
#define OPTIONS_SIZE_MIN (offsetof(ttlkv_options, clock_context) + sizeof(void *))
#define STATS_SIZE_MIN (offsetof(ttlkv_stats, tombstones) + sizeof(uint64_t))

static void
defaults(ttlkv_options *o)
{
	memset(o, 0, sizeof *o);
	o->size = sizeof *o;
	o->capacity = TTLKV_DEFAULT_CAPACITY;
	o->max_key_size = TTLKV_DEFAULT_MAX_KEY_SIZE;
	o->max_value_size = TTLKV_DEFAULT_MAX_VALUE_SIZE;
}

void
ttlkv_options_init_sized(ttlkv_options *options, size_t size)
{
	ttlkv_options o;

	if (options == NULL || size < sizeof o.size)
		return;
	defaults(&o);
	if (size < sizeof o)
		o.size = (uint32_t)size;
	memcpy(options, &o, size < sizeof o ? size : sizeof o);
}

/* The largest capacity accepted, and the most entries a budget plans its
 * shards for (shards_for). */
#define PLANNED_MAX (UINT64_C(1) << 40)

static bool
options_valid(const ttlkv_options *o)
{
	return o->shards <= TTLKV_MAX_SHARDS &&
	    o->max_key_size <= TTLKV_SIZE_LIMIT &&
	    o->max_value_size <= TTLKV_SIZE_LIMIT &&
	    (o->flags & ~(TTLKV_TRACK_EXPIRY | TTLKV_HUGE_PAGES)) == 0 &&
	    o->eviction <= TTLKV_EVICT_NONE &&
	    o->capacity <= PLANNED_MAX;
}

static uint64_t
random_seed(void)
{
	uint64_t seed = 0;

	while (seed == 0) {
		if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
			seed = (uint64_t)(uintptr_t)&seed ^ (uint64_t)random();
	}
	return seed;
}

static void
store_free(struct ttlkv *store, uint32_t shards_ready)
{
	for (uint32_t i = 0; i < shards_ready; i++) {
		struct shard *shard = &store->shards[i];

		ttlkv__shard_destroy(shard);
		ttlkv__holdings_destroy(shard);
		ttlkv__free(shard->batch);
		while (shard->spare != NULL) {
			struct retired *next = shard->spare->next;

			ttlkv__free(shard->spare);
			shard->spare = next;
		}
		ttlkv__record_log_destroy(&shard->schedule);
		ttlkv__record_log_destroy(&shard->schedule_spare);
		ttlkv__record_log_destroy(&shard->expired_log);
		ttlkv__record_log_destroy(&shard->expired_log_spare);
	}
	if (store->rec != NULL)
		ttlkv__writer_record_release(store->rec);
	if (store->rec_spare != NULL)
		ttlkv__writer_record_release(store->rec_spare);
	pthread_mutex_destroy(&store->reclaim_lock);
	pthread_mutex_destroy(&store->drain_lock);
	pthread_mutex_destroy(&store->sweep_lock);
	pthread_mutex_destroy(&store->maintain_lock);
	ttlkv__free(store->shards);
	ttlkv__free(store);
}

/* Under a budget, the least a shard's share should be when the store picks
 * the shard count: smaller shares of a heavy-tailed size mix hold too few
 * entries for the policy to choose well (Benchmarks/Eviction/README.md). */
#define SHARE_MIN (256 * 1024)

/* Retired bytes that may wait for readers under a budget: a sixteenth of
 * it, between these bounds (see ttlkv.h, "Byte budget"). */
#define BUDGET_CAP_MIN (1024 * 1024)

/*
 * The shards a store chooses: those of its capacity, and with a budget
 * those of the entries the budget holds at BUDGET_ENTRY_BYTES each if that
 * is more, at most max_bytes / SHARE_MIN. A cache is often sized by its
 * budget alone: planned for the default capacity, a 1 GiB cache got 15
 * shards, and its writers, whose evictions make their holds longer, queued
 * for them. Only the shard count follows the budget; the tables are sized
 * for the capacity and grow within the budget. Each shard keeps memory the
 * budget does not count (a retire batch, a reserve of ready entries), so
 * the figure is a typical cached entry's, not the smallest: at 128 bytes,
 * Tests/C/budget.c's 64 MiB store with two writers peaked at 87 MiB
 * resident in one run, past its bound of 86.4, against 75 to 79 at 512.
 * The entries are capped as capacity is: planning takes time that grows
 * with the square root of its count, and max_bytes near 2^64 made
 * ttlkv_open take half a second.
 */
#define BUDGET_ENTRY_BYTES 512

static uint32_t
shards_for(const ttlkv_options *o, uint64_t *slots)
{
	uint32_t n = o->shards;

	if (n == 0 && o->max_bytes != 0) {
		uint64_t held = o->max_bytes / BUDGET_ENTRY_BYTES;

		if (held > PLANNED_MAX)
			held = PLANNED_MAX;
		(void)ttlkv__shard_plan(held > o->capacity ? held : o->capacity, &n);
		/* The plan fits the tables to its entry count, but a guessed
		 * count fits nothing, and the fit chosen for it cost up to 13%
		 * of the entries a budget from 200 MB to 1 GB held; the power of
		 * two below it held as many as 15 shards did, or more. Small
		 * budgets (fewer than 16 shards) keep the plan's count. */
		if (held > o->capacity && n >= 16)
			n = UINT32_C(1) << (31 - __builtin_clz(n));
		if (n > o->max_bytes / SHARE_MIN)
			n = o->max_bytes >= 2 * SHARE_MIN ? (uint32_t)(o->max_bytes / SHARE_MIN) : 1;
	}
	*slots = ttlkv__shard_plan(o->capacity, &n);
	return n;
}

static uint64_t
reclaim_cap_bytes(uint64_t max_bytes)
{
	uint64_t cap = max_bytes / 16;

	if (max_bytes == 0 || cap > RECLAIM_CAP_BYTES)
		return RECLAIM_CAP_BYTES;
	return cap > BUDGET_CAP_MIN ? cap : BUDGET_CAP_MIN;
}

static ttlkv_status
store_init(struct ttlkv *store, const ttlkv_options *o)
{
	uint64_t slots;
	uint32_t n_shards = shards_for(o, &slots);
	ttlkv_status status;

	store->flags = o->flags;
	if (o->flags & TTLKV_HUGE_PAGES)
		ttlkv__slab_advise_huge();
	store->max_key_size = o->max_key_size;
	store->max_value_size = o->max_value_size;
	store->max_entries = o->max_entries;
	store->max_bytes = o->max_bytes;
	store->eviction = o->eviction;
	store->node_bytes = o->max_bytes != 0 ? sizeof(struct node) : 0;
	store->overhead = sizeof *store + (uint64_t)n_shards * sizeof *store->shards;
	store->seed = o->seed != 0 ? o->seed : random_seed();
	store->clock = o->clock;
	store->clock_context = o->clock_context;
	store->reclaim_cap = o->capacity / 8 > RECLAIM_CAP_MIN ? o->capacity / 8 : RECLAIM_CAP_MIN;
	store->reclaim_cap_bytes = reclaim_cap_bytes(o->max_bytes);
	ttlkv__mutex_init(&store->reclaim_lock);
	pthread_mutex_init(&store->drain_lock, NULL);
	pthread_mutex_init(&store->sweep_lock, NULL);
	pthread_mutex_init(&store->maintain_lock, NULL);
	if (o->max_bytes != 0 && o->max_bytes <= store->overhead)
		return TTLKV_INVALID_ARGUMENT;
	if ((status = ttlkv__writer_record(&store->rec)) != TTLKV_OK ||
	    (status = ttlkv__writer_record(&store->rec_spare)) != TTLKV_OK)
		return status;
	store->shards = ttlkv__aligned_alloc(64, n_shards * sizeof *store->shards);
	if (store->shards == NULL)
		return TTLKV_OUT_OF_MEMORY;
	memset(store->shards, 0, n_shards * sizeof *store->shards);
	for (; store->n_shards < n_shards; store->n_shards++) {
		struct shard *shard = &store->shards[store->n_shards];

		if ((status = ttlkv__shard_init(store, shard, slots)) != TTLKV_OK)
			return status;
		store->n_shards++; /* destroyed as a whole from here on */
		shard->planned = ttlkv__shard_planned(o->capacity, n_shards);
		shard->share = o->max_bytes != 0 ? (o->max_bytes - store->overhead) / n_shards : 0;
		if (!ttlkv__map_layout_ok(&shard->hs, slots))
			return TTLKV_UNSUPPORTED;
		if (!ttlkv__retire_prepare(shard, NULL) || !ttlkv__holdings_init(shard))
			return TTLKV_OUT_OF_MEMORY;
		/* The empty shard's own table and ghost must leave it room. */
		if (shard->share != 0 && shard->fixed >= shard->share)
			return TTLKV_INVALID_ARGUMENT;
		store->n_shards--;
	}
	return TTLKV_OK;
}

ttlkv_status
ttlkv_open(const ttlkv_options *options, ttlkv **out)
{
	ttlkv_options o;
	struct ttlkv *store;
	ttlkv_status status;

	if (out == NULL)
		return TTLKV_INVALID_ARGUMENT;
	*out = NULL;
	defaults(&o);
	if (options != NULL) {
		/* The caller's fields; any it was compiled without keep their
		 * defaults. */
		if (options->size < OPTIONS_SIZE_MIN || options->size > 4096)
			return TTLKV_INVALID_ARGUMENT;
		memcpy(&o, options, options->size < sizeof o ? options->size : sizeof o);
	}
	options = &o;
	if (!options_valid(options))
		return TTLKV_INVALID_ARGUMENT;
	if ((store = ttlkv__alloc(sizeof *store)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	memset(store, 0, sizeof *store);
	if ((status = store_init(store, options)) != TTLKV_OK) {
		store_free(store, store->n_shards);
		return status;
	}
	*out = store;
	return TTLKV_OK;
}

__thread struct ttlkv *ttlkv__closing;

static void
close_now(struct ttlkv *store)
{
	ttlkv__rebuild_abandon(store);
	ttlkv_reclaim(store, 1);
	store_free(store, store->n_shards);
}

/* Inside a read section the caller may still hold a value of this store
 * (a language binding's destructor can run inside a zero-copy read), and
 * reclaiming would wait for this very reader: the close waits for the
 * section to end instead. */
ttlkv_status
ttlkv_set_eviction(ttlkv *store, uint32_t scope)
{
	if (store == NULL || scope > TTLKV_EVICT_NONE)
		return TTLKV_INVALID_ARGUMENT;
	/* Writers read it once per room plan, under their shard lock: a
	 * relaxed store is enough, as no other field depends on it. */
	STORE(&store->eviction, scope);
	return TTLKV_OK;
}

void
ttlkv_close(ttlkv *store)
{
	if (store == NULL)
		return;
	if (ttlkv__in_read_section()) {
		store->next_closing = ttlkv__closing;
		ttlkv__closing = store;
		return;
	}
	close_now(store);
}

void
ttlkv__close_deferred(void)
{
	while (ttlkv__closing != NULL && !ttlkv__in_read_section()) {
		struct ttlkv *store = ttlkv__closing;

		ttlkv__closing = store->next_closing;
		close_now(store);
	}
}

uint64_t
ttlkv_count(ttlkv *store)
{
	uint64_t n = 0;

	if (store == NULL)
		return 0;
	for (uint32_t i = 0; i < store->n_shards; i++)
		n += LOAD(&store->shards[i].count);
	return n;
}

ttlkv_status
ttlkv_stats_get_sized(ttlkv *store, ttlkv_stats *out, size_t size)
{
	ttlkv_stats all, *stats = &all;

	if (store == NULL || out == NULL || size < STATS_SIZE_MIN)
		return TTLKV_INVALID_ARGUMENT;
	memset(stats, 0, sizeof *stats);
	stats->shards = store->n_shards;
	for (uint32_t i = 0; i < store->n_shards; i++) {
		struct shard *s = &store->shards[i];

		stats->entries += LOAD(&s->count);
		stats->bytes += LOAD(&s->bytes);
		stats->expired += LOAD(&s->expired);
		/* Freed first: both only grow, and freed never passes retired, so
		 * the later load of retired is at least the earlier one of freed. */
		uint64_t freed = __atomic_load_n(&s->freed, __ATOMIC_ACQUIRE);
		uint64_t freed_bytes = __atomic_load_n(&s->freed_bytes, __ATOMIC_ACQUIRE);
		uint64_t retired = LOAD(&s->retired), retired_bytes = LOAD(&s->retired_bytes);

		stats->deferred_frees += retired > freed ? retired - freed : 0;
		stats->deferred_bytes += retired_bytes > freed_bytes ? retired_bytes - freed_bytes : 0;
		stats->table_slots += LOAD(&s->slots);
		stats->table_grows += LOAD(&s->grows);
		stats->schedule_records += LOAD(&s->schedule.records);
		stats->table_rebuilds += LOAD(&s->rebuilds);
		stats->tombstones += LOAD(&s->tombstones);
		stats->evicted += LOAD(&s->evicted);
		stats->used_bytes += LOAD(&s->fixed) + LOAD(&s->held);
		stats->evicted_records += LOAD(&s->evicted_log.records);
	}
	stats->used_bytes += store->overhead;
	stats->max_bytes = store->max_bytes;
	memcpy(out, stats, size < sizeof *stats ? size : sizeof *stats);
	return TTLKV_OK;
}

uint64_t
ttlkv_now(ttlkv *store)
{
	return store != NULL ? store_now_precise(store) : 0;
}

static const char *const status_strings[TTLKV_STATUS_COUNT] = {
	[TTLKV_OK] = "ok",
	[TTLKV_NOT_FOUND] = "key not found",
	[TTLKV_BUFFER_TOO_SMALL] = "buffer too small for the value",
	[TTLKV_INVALID_ARGUMENT] = "invalid argument",
	[TTLKV_KEY_TOO_LARGE] = "key larger than the store's maximum key size",
	[TTLKV_VALUE_TOO_LARGE] = "value larger than the store's maximum value size",
	[TTLKV_INVALID_TTL] = "time to live out of range",
	[TTLKV_FULL] = "store holds its maximum number of entries",
	[TTLKV_OUT_OF_MEMORY] = "out of memory",
	[TTLKV_EXISTS] = "key already exists",
	[TTLKV_NOT_DUE] = "deadline not reached",
	[TTLKV_IN_READ_SECTION] = "called inside a read section, where only reads are allowed",
	[TTLKV_UNSUPPORTED] = "the installed Concurrency Kit is not the version this library was built for (0.7.1)",
	[TTLKV_TOO_LARGE_FOR_BUDGET] = "larger than its shard's share of the store's byte budget",
};

const char *
ttlkv_status_string(ttlkv_status status)
{
	if ((unsigned)status >= TTLKV_STATUS_COUNT)
		return "unknown status";
	return status_strings[status];
}
