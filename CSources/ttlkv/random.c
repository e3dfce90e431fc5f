/*
 * One live key picked at random (ttlkv_random_key, Redis's RANDOMKEY).
 *
 * The shards' tables are walked as one circle of slots: from the slot the
 * caller's random number picks (its high bits pick the shard, as hashes
 * pick shards, and its low bits a slot of that shard's table) on through
 * the following shards, around to the slots before the start. The walk
 * gathers the first PICK_AMONG live entries it meets and answers one of
 * them, chosen with the number's bits mixed. Taking the first entry alone
 * would make a key that follows another in a probe cluster come up only
 * when the start falls on its very slot; picking among several evens the
 * odds out over their gaps, as Redis's fair random key picks among a few
 * it samples.
 *
 * The walk reads tables as a reader, at most RANDOM_SLOTS slots per read
 * section (the gathered entries stay valid only inside it), fetching each
 * shard's table afresh in every section: a grow or a rebuild may have
 * replaced it, and an offset past its end then moves on to the next shard,
 * which may pass keys over, as the header says.
 */
#include "internal.h"

/* Slots per read section, and live entries the pick is made among. */
#define RANDOM_SLOTS 4096
#define PICK_AMONG 16

/* Where the walk is: a shard, a slot of its table, and how many times it
 * has moved on to the next shard (n_shards: back in the first one). */
struct walk {
	struct ttlkv *store;
	uint32_t shard;
	uint32_t moves;
	unsigned long offset;
	unsigned long start;
};

/* Inside a read section: gathers live entries of the current shard from
 * the walk's offset up to limit, until found holds PICK_AMONG. */
static void
gather(struct walk *w, const void *map, unsigned long limit, const struct entry **found, size_t *n)
{
	struct slot_scan scan = { map, w->offset };
	uint64_t now = 0, deadline;
	const void *slot;

	while (*n < PICK_AMONG && (slot = ttlkv__scan_next(&scan, limit)) != NULL) {
		const struct entry *e = slot_entry(slot);

		if (entry_live(w->store, e, &deadline, &now))
			found[(*n)++] = e;
	}
	w->offset = *n == PICK_AMONG ? scan.offset : limit;
}

/* One read section's worth of the walk: gathers up to PICK_AMONG live
 * entries in up to RANDOM_SLOTS slots; sets *done once the circle is
 * closed. Returns how many it gathered. */
static size_t
section_walk(struct walk *w, const struct entry **found, bool *done)
{
	size_t n = 0, budget = RANDOM_SLOTS;

	while (n < PICK_AMONG && budget > 0) {
		struct shard *shard = &w->store->shards[w->shard];
		const void *map = ttlkv__table_map(shard);
		unsigned long end = ttlkv__map_slots(map), before = w->offset;

		/* Back in the first shard: its slots from the start on were walked. */
		if (w->moves == w->store->n_shards && end > w->start)
			end = w->start;
		if (w->offset < end) {
			gather(w, map, end - w->offset > budget ? w->offset + budget : end, found, &n);
			budget -= w->offset - before;
		}
		if (n == PICK_AMONG || w->offset < end)
			break;
		if (w->moves == w->store->n_shards) {
			*done = true;
			break;
		}
		w->shard = (w->shard + 1) % w->store->n_shards;
		w->offset = 0;
		w->moves++;
	}
	return n;
}

ttlkv_status
ttlkv_random_key(ttlkv *store, uint64_t random, ttlkv_scan_fn *fn, void *context)
{
	/* Bits of the number other than the shard's and the slot's. */
	uint64_t pick = ((random ^ (random >> 29)) * UINT64_C(0x9E3779B97F4A7C15)) >> 40;
	const struct entry *found[PICK_AMONG];
	ck_epoch_record_t *record;
	struct walk w = { store, 0, 0, 0, 0 };
	bool done = false;

	if (store == NULL || fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	w.shard = (uint32_t)(shard_for(store, random) - store->shards);
	section_begin(record);
	w.start = w.offset = (unsigned long)(random % ttlkv__map_slots(ttlkv__table_map(&store->shards[w.shard])));
	section_end(record);
	while (!done) {
		size_t n;

		section_begin(record);
		if ((n = section_walk(&w, found, &done)) != 0) {
			const struct entry *e = found[pick % n];
			uint64_t deadline = entry_deadline(e);

			fn(entry_key(e), entry_key_len(e), deadline != 0 ? deadline : TTLKV_NO_EXPIRY, context);
			section_end(record);
			return TTLKV_OK;
		}
		section_end(record);
	}
	return TTLKV_NOT_FOUND;
}
