/*
 * Whole-table traversals: ttlkv_scan, a resumable cursor over the live keys
 * (what a language binding iterates and what Redis's SCAN needs), and
 * ttlkv_clear.
 *
 * A cursor is a position in one shard's slot array, packed in 64 bits:
 *
 *     bits 48-63  shard index
 *     bits 32-47  low bits of the shard's table generation (shard->generation)
 *     bits  0-31  slot offset in that shard's table
 *
 * Cursor 0 starts a traversal and a call returns 0 when it is complete, as
 * in Redis. A call reads the generation before it pins the table, and a
 * grow or a rebuild publishes its new table before it bumps the generation, so a cursor never pairs a generation with
 * a newer table than the one its offset counts in. When the generation in the
 * cursor is not the shard's any more, the table has been replaced and the
 * offset means nothing: the shard is traversed again from its first slot.
 * Keys can then come twice; a key that stays live and unwritten throughout
 * is never missed. (A write may move its key to an earlier free slot of its
 * probe sequence: ck_hs_fas reuses tombstones, so a key rewritten during a
 * traversal may be missed.)
 *
 * ttlkv_clear walks each shard the same way as a writer: under the shard lock,
 * at most CLEAR_BATCH removals and CLEAR_SLOTS slots per hold, restarting the shard when its table
 * is replaced between holds, so that no writer waits long for it.
 */
#include "internal.h"

#define CURSOR_SHARD_SHIFT 48
#define CURSOR_GENERATION_SHIFT 32
#define CURSOR_FIELD_MASK UINT64_C(0xffff)
#define CURSOR_OFFSET_MASK UINT64_C(0xffffffff)

/* Removals, and slots passed, per hold of a shard's lock in ttlkv_clear. */
#define CLEAR_BATCH 64
#define CLEAR_SLOTS 4096

static uint64_t
cursor_pack(uint32_t shard, uint64_t gen, unsigned long offset)
{
	return (uint64_t)shard << CURSOR_SHARD_SHIFT | gen << CURSOR_GENERATION_SHIFT |
	    ((uint64_t)offset & CURSOR_OFFSET_MASK);
}

/*
 * Inside a read section: reports the live entries of shard from *offset on
 * until `budget` slots are passed or the shard ends; returns the slots passed
 * and sets *offset to where to go on, or to 0 with *finished set. The clock
 * is read when a deadline first needs it and again after every callback, as
 * ttlkv_read_many does: fn takes time, and a key that expires meanwhile must
 * not be reported by a later step.
 */
static size_t
scan_shard(struct ttlkv *store, const void *map, unsigned long *offset, size_t budget,
    ttlkv_scan_fn *fn, void *context, bool *finished)
{
	struct slot_scan scan = { map, *offset };
	unsigned long end = ttlkv__map_slots(scan.map), start = *offset;
	unsigned long limit = budget < end - (start < end ? start : end) ? start + budget : end;
	const void *slot;
	uint64_t now = 0;

	while ((slot = ttlkv__scan_next(&scan, limit)) != NULL) {
		const struct entry *e = slot_entry(slot);
		uint64_t deadline;

		if (!entry_live(store, e, &deadline, &now))
			continue;
		fn(entry_key(e), entry_key_len(e), deadline != 0 ? deadline : TTLKV_NO_EXPIRY, context);
		now = 0;
	}
	*finished = scan.offset >= end;
	*offset = *finished ? 0 : scan.offset;
	return scan.offset > start ? scan.offset - start : 1;
}

ttlkv_status
ttlkv_scan(ttlkv *store, uint64_t *cursor, size_t count, ttlkv_scan_fn *fn, void *context)
{
	ck_epoch_record_t *record;
	uint32_t index;
	uint64_t gen;
	unsigned long offset;
	size_t visited = 0;

	if (store == NULL || cursor == NULL || fn == NULL)
		return TTLKV_INVALID_ARGUMENT;
	index = (uint32_t)(*cursor >> CURSOR_SHARD_SHIFT);
	if (index >= store->n_shards)
		return TTLKV_INVALID_ARGUMENT;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	if (count == 0)
		count = 1;
	gen = *cursor >> CURSOR_GENERATION_SHIFT & CURSOR_FIELD_MASK;
	offset = (unsigned long)(*cursor & CURSOR_OFFSET_MASK);
	section_begin(record);
	do {
		struct shard *shard = &store->shards[index];
		uint64_t current;
		const void *map;
		bool finished;

		map = shard_map(shard, &current);
		if (current != gen)
			offset = 0;
		gen = current;
		visited += scan_shard(store, map, &offset, count - visited, fn, context, &finished);
		if (finished && ++index == store->n_shards) {
			read_section_end(record);
			*cursor = 0;
			return TTLKV_OK;
		}
		if (finished)
			gen = shard_generation(&store->shards[index]);
	} while (visited < count);
	read_section_end(record);
	*cursor = cursor_pack(index, gen, offset);
	return TTLKV_OK;
}

/* Under the shard lock: removes one entry for ttlkv_clear, reporting it as
 * expired if its deadline has passed. */
static ttlkv_status
clear_entry(struct shard *shard, struct entry *e, uint64_t now)
{
	bool expired = deadline_passed(entry_deadline(e), now);

	if (!ttlkv__retire_prepare(shard, e) || (expired && !ttlkv__expired_reserve(shard, e)))
		return TTLKV_OUT_OF_MEMORY;
	if (expired)
		ttlkv__expired_note(shard, e);
	ttlkv__unlink(shard, ttlkv__hash(shard->store, entry_key(e), entry_key_len(e)), e,
	    expired ? REMOVAL_EXPIRY : REMOVAL_CLEAR);
	return TTLKV_OK;
}

#ifdef TTLKV_TESTING
#include "ttlkv_testing.h"

static uint64_t clear_hold_slots_max;

uint64_t
ttlkv_testing_clear_hold_slots(void)
{
	return __atomic_exchange_n(&clear_hold_slots_max, 0, __ATOMIC_RELAXED);
}
#endif

/* Removes up to CLEAR_BATCH entries of shard, passing at most
 * CLEAR_SLOTS slots, from *offset on, under its lock; sets *finished once
 * the shard's end is reached. */
static ttlkv_status
clear_batch(struct shard *shard, unsigned long *offset, uint64_t *gen, bool *finished)
{
	ttlkv_status status = TTLKV_OK;
	uint64_t now = store_now(shard->store);
	struct slot_scan scan;
	unsigned long end;
	const void *slot;

	shard_lock(shard);
	if (shard_generation(shard) != *gen) {
		*gen = shard_generation(shard);
		*offset = 0;
	}
	scan.map = ttlkv__table_map(shard);
	scan.offset = *offset;
	end = ttlkv__map_slots(scan.map);
	for (int removed = 0; removed < CLEAR_BATCH && status == TTLKV_OK; removed++) {
		if ((slot = ttlkv__scan_next(&scan, *offset + CLEAR_SLOTS)) == NULL)
			break;
		status = clear_entry(shard, slot_entry(slot), now);
		if (status != TTLKV_OK)
			scan.offset--; /* not removed: this slot again next time */
	}
	*finished = scan.offset >= end;
	TESTING_PEAK(clear_hold_slots_max, scan.offset - *offset);
	*offset = scan.offset;
	shard_unlock(shard);
	return status;
}

ttlkv_status
ttlkv_clear(ttlkv *store)
{
	ttlkv_status status = lock_check(store);

	for (uint32_t i = 0; status == TTLKV_OK && i < store->n_shards; i++) {
		unsigned long offset = 0;
		uint64_t gen = shard_generation(&store->shards[i]);
		bool finished = false;

		while (status == TTLKV_OK && !finished)
			status = clear_batch(&store->shards[i], &offset, &gen, &finished);
	}
	return status;
}
