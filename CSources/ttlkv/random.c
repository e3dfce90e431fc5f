/*
 * One live key picked at random (ttlkv_random_key, Redis's RANDOMKEY).
 *
 * The caller's random number picks a shard (its high bits, as hashes pick
 * shards) and a slot of that shard's table (its low bits); the first live
 * entry from there on is the answer, walking on through the following
 * shards and around to the slots before the start. The walk reads tables
 * as a reader, a few thousand slots per read section, fetching the shard's
 * table again for each section (a grow or rebuild may have replaced it: the
 * offset is then clamped to the new table, which may pass keys over, as the
 * header says).
 */
#include "internal.h"

/* Slots per read section. */
#define RANDOM_SLOTS 4096

/*
 * Inside a read section: the first live entry of shard's table in slots
 * [*offset, limit) (limit clamped to the table), reading at most
 * RANDOM_SLOTS slots; *offset moves past those read.
 */
static const struct entry *
first_live(struct shard *shard, unsigned long *offset, unsigned long limit)
{
	struct slot_scan scan = { ttlkv__table_map(shard), *offset };
	unsigned long end = ttlkv__map_slots(scan.map);
	const void *slot;
	uint64_t now = 0, deadline;

	if (limit > end)
		limit = end;
	if (scan.offset > limit)
		scan.offset = limit;
	if (limit - scan.offset > RANDOM_SLOTS)
		limit = scan.offset + RANDOM_SLOTS;
	while ((slot = ttlkv__scan_next(&scan, limit)) != NULL) {
		const struct entry *e = slot_entry(slot);

		if (entry_live(shard->store, e, &deadline, &now)) {
			*offset = scan.offset;
			return e;
		}
	}
	*offset = limit;
	return NULL;
}

/* Walks shard's slots [from, to) in sections; on a live entry calls fn
 * inside its section and returns true. */
static bool
walk(struct shard *shard, ck_epoch_record_t *record, unsigned long from, unsigned long to,
    ttlkv_scan_fn *fn, void *context)
{
	unsigned long offset = from;

	while (offset < to) {
		const struct entry *e;
		uint64_t deadline;

		section_begin(record);
		if (offset >= ttlkv__map_slots(ttlkv__table_map(shard))) {
			section_end(record);
			return false;
		}
		e = first_live(shard, &offset, to);
		if (e != NULL) {
			deadline = LOAD(&e->deadline);
			fn(e->bytes, e->key_len, deadline != 0 ? deadline : TTLKV_NO_EXPIRY, context);
			section_end(record);
			return true;
		}
		section_end(record);
	}
	return false;
}

ttlkv_status
ttlkv_random_key(ttlkv *store, uint64_t random, ttlkv_scan_fn *fn, void *context)
{
	ck_epoch_record_t *record;
	struct shard *first;
	unsigned long start, slots;

	if (store == NULL || fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	first = shard_for(store, random);
	section_begin(record);
	slots = ttlkv__map_slots(ttlkv__table_map(first));
	section_end(record);
	start = (unsigned long)(random % slots);
	if (walk(first, record, start, ~0ul, fn, context))
		return TTLKV_OK;
	for (uint32_t i = 1; i < store->n_shards; i++) {
		uint32_t index = (uint32_t)((first - store->shards) + i) % store->n_shards;

		if (walk(&store->shards[index], record, 0, ~0ul, fn, context))
			return TTLKV_OK;
	}
	return walk(first, record, 0, start, fn, context) ? TTLKV_OK : TTLKV_NOT_FOUND;
}
