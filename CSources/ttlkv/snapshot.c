/*
 * What a snapshot needs from the core: a walk that hands out whole live
 * entries (ttlkv_walk_*), and a bulk load that takes them back with their
 * absolute deadlines (ttlkv_load).
 *
 * The walk. A walk visits shard after shard, each from its first table slot
 * to its last, a bounded number of slots per call, each call one read
 * section: it never takes a lock, and an entry it reports is immutable, so
 * its key, value and deadline belong to one write. Between calls the
 * shard's table may be replaced (a grow or a rebuild: shard->generation
 * moves); the offset then means nothing in the new table, and the shard is
 * walked again from its first slot. Keys would then come twice, and so
 * would a key deleted and written again during the walk (an insert takes
 * the first free slot of its probe sequence, which may lie ahead of the
 * walk). So the walk keeps the set of the keys it has reported in the
 * current shard, by their 64-bit hash (the one the table uses: computed
 * again, cheap next to the entry's cache miss), and passes over a key it
 * has reported. The set is emptied when the walk moves on to the next
 * shard, so it costs 16 bytes per key of one shard, never of the store.
 * Two keys of a shard with the same 64-bit hash would be taken for one: for
 * a shard of a million keys, about one chance in 3 x 10^7 per walk.
 *
 * The load. Items are taken LOAD_CHUNK at a time. Their entries are built
 * outside any lock (the allocations and the first touch of their memory,
 * which for a big load is most of its time), with the absolute deadline
 * checked against the clock: an item already expired is dropped there.
 * The chunk's items are then ordered by shard with a counting sort (stable,
 * so a key given twice keeps its last item) and each shard's run is
 * written under one hold of its lock: the table grown once for the run if
 * it must grow (without a budget; under one the writes make their room as
 * any write does, evict.c), then every item installed as ttlkv_put installs
 * it (ttlkv__install: quota, budget, schedule records), the home slot of an
 * item a few places ahead prefetched meanwhile.
 */
#include "internal.h"

#include <string.h>

#include "hs_map.h"

struct ttlkv_walk {
	struct ttlkv *store;
	uint32_t shard;          /* the shard being walked; n_shards: done */
	uint64_t generation;     /* of its table when its offset was taken */
	unsigned long offset;    /* next slot */
	uint64_t *seen;          /* the hashes of the keys reported in this
	                            shard: open addressing, 0 = empty */
	size_t seen_slots;       /* a power of two, or 0 */
	size_t seen_count;
};

/* Items per chunk of a load: entries built, then grouped by shard. */
#define LOAD_CHUNK 4096
/* How far ahead a load prefetches the home slot of the item it will write. */
#define LOAD_PREFETCH 8
/* Slots ahead of the walk whose entries it prefetches. */
#define WALK_PREFETCH 16
/* The smallest set of reported hashes. */
#define SEEN_MIN 1024

/* A key's hash as the set of reported keys holds it (0 marks a free slot). */
static uint64_t
seen_hash(const struct ttlkv *store, const struct entry *e)
{
	uint64_t hash = ttlkv__hash(store, entry_key(e), entry_key_len(e));

	return hash != 0 ? hash : 1;
}

/* Adds hash to the set; false if it was there: the key was reported. */
static bool
seen_add(uint64_t *seen, size_t slots, uint64_t hash)
{
	for (size_t i = hash & (slots - 1);; i = (i + 1) & (slots - 1)) {
		if (seen[i] == hash)
			return false;
		if (seen[i] == 0) {
			seen[i] = hash;
			return true;
		}
	}
}

/* Room for `more` keys at a load of at most a half, made before the read
 * section (the set is rehashed into a larger one if need be). */
static bool
seen_reserve(struct ttlkv_walk *w, size_t more)
{
	size_t want = w->seen_count + more, slots = w->seen_slots != 0 ? w->seen_slots : SEEN_MIN;
	uint64_t *seen;

	if (want > SIZE_MAX / 4 / sizeof *seen)
		return false;
	while (slots < 2 * want)
		slots *= 2;
	if (slots == w->seen_slots)
		return true;
	if ((seen = ttlkv__alloc(slots * sizeof *seen)) == NULL)
		return false;
	memset(seen, 0, slots * sizeof *seen);
	for (size_t i = 0; i < w->seen_slots; i++)
		if (w->seen[i] != 0)
			(void)seen_add(seen, slots, w->seen[i]);
	ttlkv__free(w->seen);
	w->seen = seen;
	w->seen_slots = slots;
	return true;
}

ttlkv_status
ttlkv_walk_begin(ttlkv *store, ttlkv_walk **walk)
{
	struct ttlkv_walk *w;

	if (walk == NULL)
		return TTLKV_INVALID_ARGUMENT;
	*walk = NULL;
	if (store == NULL)
		return TTLKV_INVALID_ARGUMENT;
	if ((w = ttlkv__alloc(sizeof *w)) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	memset(w, 0, sizeof *w);
	w->store = store;
	w->generation = shard_generation(&store->shards[0]);
	*walk = w;
	return TTLKV_OK;
}

void
ttlkv_walk_end(ttlkv_walk *walk)
{
	if (walk == NULL)
		return;
	ttlkv__free(walk->seen);
	ttlkv__free(walk);
}

/* Inside a read section: the next shard, with an empty set. */
static void
next_shard(struct ttlkv_walk *w)
{
	w->offset = 0;
	if (w->seen_count != 0)
		memset(w->seen, 0, w->seen_slots * sizeof *w->seen);
	w->seen_count = 0;
	if (++w->shard < w->store->n_shards)
		w->generation = shard_generation(&w->store->shards[w->shard]);
}

/* Inside a read section: the shard's map, walked again from its first slot
 * if the table was replaced (the set passes over what was reported). */
static const void *
current_map(struct ttlkv_walk *w)
{
	uint64_t generation;
	const void *map = shard_map(&w->store->shards[w->shard], &generation);

	if (generation != w->generation) {
		w->generation = generation;
		w->offset = 0;
	}
	return map;
}

/* Inside a read section: prefetches the entries of map's slots [from, to)
 * (to at most limit), whose loads are the walk's cache misses, so that
 * they overlap; returns where the next call goes on. */
static unsigned long
prefetch_entries(const void *map, unsigned long from, unsigned long to, unsigned long limit)
{
	const struct ttlkv__hs_map *m = map;

	if (to > limit)
		to = limit;
	for (; from < to; from++) {
		const void *slot = ck_pr_load_ptr(&m->entries[from]);

		if (slot != TTLKV_HS_EMPTY && slot != TTLKV_HS_TOMBSTONE)
			__builtin_prefetch(slot_entry(slot));
	}
	return from;
}

/* Inside a read section: reports the live entries of the current shard from
 * w->offset on until `budget` slots are passed or the shard ends (then it
 * moves on); returns the slots passed. */
static size_t
walk_shard(struct ttlkv_walk *w, size_t budget, ttlkv_walk_fn *fn, void *context)
{
	struct slot_scan scan = { current_map(w), w->offset };
	unsigned long end = ttlkv__map_slots(scan.map), start = w->offset;
	unsigned long limit = budget < end - (start < end ? start : end) ? start + budget : end;
	unsigned long ahead = start;
	const void *slot;
	uint64_t now = 0;

	while ((slot = ttlkv__scan_next(&scan, limit)) != NULL) {
		const struct entry *e = slot_entry(slot);
		uint64_t deadline;

		ahead = prefetch_entries(scan.map, ahead, scan.offset + WALK_PREFETCH, limit);
		if (!entry_live(w->store, e, &deadline, &now) ||
		    !seen_add(w->seen, w->seen_slots, seen_hash(w->store, e)))
			continue;
		w->seen_count++;
		fn(entry_key(e), entry_key_len(e), entry_value(e), entry_value_len(e),
		    deadline != 0 ? deadline : TTLKV_NO_EXPIRY, context);
		now = 0;
	}
	w->offset = scan.offset;
	if (scan.offset >= end)
		next_shard(w);
	return scan.offset > start ? scan.offset - start : 1;
}

ttlkv_status
ttlkv_walk_next(ttlkv_walk *walk, size_t count, ttlkv_walk_fn *fn, void *context, int *done)
{
	ck_epoch_record_t *record;
	size_t visited = 0;

	if (walk == NULL || fn == NULL || done == NULL)
		return TTLKV_INVALID_ARGUMENT;
	*done = walk->shard >= walk->store->n_shards;
	if (*done)
		return TTLKV_OK;
	if (count == 0)
		count = 1;
	/* A call reports at most one key per slot it passes. */
	if ((record = ttlkv__reader()) == NULL || !seen_reserve(walk, count))
		return TTLKV_OUT_OF_MEMORY;
	section_begin(record);
	while (visited < count && walk->shard < walk->store->n_shards)
		visited += walk_shard(walk, count - visited, fn, context);
	read_section_end(record);
	*done = walk->shard >= walk->store->n_shards;
	return TTLKV_OK;
}

/* A load's item, built. */
struct loading {
	uint64_t hash;
	struct shard *shard;
	struct entry *e;
	size_t index;
};

/* The entry for item it (outside any lock), or why there is none. */
static ttlkv_status
load_entry(struct ttlkv *store, const ttlkv_load_item *it, uint64_t *now, struct entry **out)
{
	ttlkv_status status = key_check(store, it->key, it->key_len);
	uint64_t deadline = it->deadline_ms;

	*out = NULL;
	if (status != TTLKV_OK)
		return status;
	if (it->value == NULL && it->value_len != 0)
		return TTLKV_INVALID_ARGUMENT;
	if (it->value_len > store->max_value_size)
		return TTLKV_VALUE_TOO_LARGE;
	if (deadline != TTLKV_NO_EXPIRY) {
		if (*now == 0)
			*now = store_now(store);
		if (deadline <= *now)
			return TTLKV_NOT_FOUND;
		if (deadline_too_far(store, deadline, *now))
			return TTLKV_INVALID_TTL;
	}
	if ((status = ttlkv__entry_make(store, it->key, it->key_len, it->value, it->value_len, 0,
	    out)) != TTLKV_OK)
		return status;
	entry_set_deadline(*out, deadline != TTLKV_NO_EXPIRY ? deadline : 0);
	return TTLKV_OK;
}

static void
prefetch_home(const struct loading *l)
{
	const struct ttlkv__hs_map *m = ttlkv__table_map(l->shard);
	unsigned long home = l->hash & m->mask;

	__builtin_prefetch(&m->entries[home], 1);
	__builtin_prefetch(&m->probe_bound[home], 1);
}

/* Writes run[0..n), all of one shard, under one hold of its lock. */
static void
load_run(struct shard *shard, const struct loading *run, size_t n, ttlkv_status *statuses,
    struct entry **built)
{
	struct ghost ghost = ttlkv__ghost_offer(shard);

	shard_lock(shard);
	if (shard->share == 0)
		(void)ttlkv__table_reserve(shard, n); /* else each install says why */
	for (size_t i = 0; i < n && i < LOAD_PREFETCH; i++)
		prefetch_home(&run[i]);
	for (size_t i = 0; i < n; i++) {
		const struct loading *l = &run[i];

		if (i + LOAD_PREFETCH < n)
			prefetch_home(&run[i + LOAD_PREFETCH]);
		statuses[l->index] = ttlkv__install(shard, l->hash, l->e,
		    table_find(shard, l->hash, l->e), false);
		if (statuses[l->index] == TTLKV_OK)
			built[l->index] = NULL;
	}
	ttlkv__ghost_adopt(shard, &ghost);
	shard_unlock_freeing(shard, FREES_PER_WRITE * n);
	ttlkv__ghost_free(&ghost);
}

/* One chunk: build, group by shard (counts[] has n_shards + 1 places),
 * write each shard's run, recycle what was not installed. */
static void
load_chunk(struct ttlkv *store, const ttlkv_load_item *items, size_t n, ttlkv_status *statuses,
    struct loading *built_items, struct loading *sorted, struct entry **built, size_t *counts)
{
	uint32_t shards = store->n_shards;
	uint64_t now = 0;
	size_t kept = 0;

	memset(counts, 0, (shards + 1) * sizeof *counts);
	for (size_t i = 0; i < n; i++) {
		struct loading *l = &built_items[kept];

		statuses[i] = load_entry(store, &items[i], &now, &built[i]);
		if (statuses[i] != TTLKV_OK)
			continue;
		l->e = built[i];
		l->hash = ttlkv__hash(store, items[i].key, items[i].key_len);
		l->shard = shard_for(store, l->hash);
		l->index = i;
		counts[l->shard - store->shards + 1]++;
		kept++;
	}
	for (uint32_t s = 0; s < shards; s++)
		counts[s + 1] += counts[s];
	for (size_t i = 0; i < kept; i++)
		sorted[counts[built_items[i].shard - store->shards]++] = built_items[i];
	/* counts[s] is now where shard s + 1's run starts. */
	for (size_t start = 0; start < kept;) {
		struct shard *shard = sorted[start].shard;
		size_t end = counts[shard - store->shards];

		load_run(shard, &sorted[start], end - start, statuses, built);
		start = end;
	}
	for (size_t i = 0; i < n; i++)
		ttlkv__entry_free(store, built[i]);
}

ttlkv_status
ttlkv_load(ttlkv *store, const ttlkv_load_item *items, size_t count, ttlkv_status *statuses)
{
	ttlkv_status status = lock_check(store);
	size_t chunk = count < LOAD_CHUNK ? count : LOAD_CHUNK;
	struct loading *built_items;
	struct entry **built;
	size_t *counts;
	unsigned char *space;

	if (status != TTLKV_OK)
		return status;
	if (count != 0 && (items == NULL || statuses == NULL))
		return TTLKV_INVALID_ARGUMENT;
	if (count == 0)
		return TTLKV_OK;
	space = ttlkv__alloc(chunk * (2 * sizeof *built_items + sizeof *built) +
	    (store->n_shards + 1) * sizeof *counts);
	if (space == NULL)
		return TTLKV_OUT_OF_MEMORY;
	built_items = (struct loading *)(void *)space;
	built = (struct entry **)(void *)(built_items + 2 * chunk);
	counts = (size_t *)(void *)(built + chunk);
	for (size_t base = 0; base < count; base += chunk) {
		size_t n = count - base < chunk ? count - base : chunk;

		load_chunk(store, items + base, n, statuses + base, built_items, built_items + chunk,
		    built, counts);
	}
	ttlkv__free(space);
	return TTLKV_OK;
}
