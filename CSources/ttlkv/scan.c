/*
 * Resumable iteration over live keys (ttlkv_scan), for Redis SCAN.
 *
 * A cursor is a table position: the shard index in the high 32 bits, the
 * slot offset within that shard's table in the low 32 (tables stay below
 * 2^31 slots). A call walks the slots from there as a reader, exactly as
 * the sweep does (ck_hs_next_spmc inside an epoch section, no lock),
 * reports live keys, and returns the position after the last slot it
 * looked at, moving on to the next shard at the end of one; 0 means the
 * pass is over. Nothing is kept between calls, so abandoned scans cost
 * nothing. Since ck_hs leaves a key in its slot until the key is removed or
 * rewritten (a rewrite may move it to an earlier free slot of its probe
 * sequence) or the table grows, a key left alone for the whole pass is
 * seen exactly once.
 */
#include "internal.h"

/* Slots visited per call at most: 16 per requested key, and at least
 * MIN_SLOTS (tens of microseconds of sequential reads), so that a pass over
 * a large, sparsely filled table (preallocated, or emptied by expiry) takes
 * few calls, while a call that finds nothing still returns soon. */
#define SLOTS_PER_KEY 16
#define MIN_SLOTS 65536

#define CURSOR(shard, offset) (((uint64_t)(shard) << 32) | (uint64_t)(offset))

struct scan_progress {
	size_t keys;        /* still to report */
	size_t slots;       /* still to visit */
	uint64_t now;
};

/* Inside a read section: reports live keys of shard from *offset until the
 * budget runs out (false, *offset where to resume) or the shard ends (true). */
static bool
scan_shard(struct shard *shard, unsigned long *offset, struct scan_progress *p,
    ttlkv_scan_fn *fn, void *context)
{
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	void *object;

	it.offset = *offset;
	while (p->keys != 0 && p->slots != 0) {
		unsigned long before = it.offset;
		const struct entry *e;

		if (!ck_hs_next_spmc(&shard->hs, &it, &object))
			return true;
		p->slots -= it.offset - before < p->slots ? it.offset - before : p->slots;
		e = slot_entry(object);
		TSAN_ACQUIRE(e);
		if (!deadline_passed(LOAD(&e->deadline), p->now)) {
			fn(e->bytes, e->key_len, context);
			p->keys--;
		}
	}
	*offset = it.offset;
	return false;
}

ttlkv_status
ttlkv_scan(ttlkv *store, uint64_t cursor, size_t max_keys,
    ttlkv_scan_fn *fn, void *context, uint64_t *next_cursor)
{
	struct scan_progress progress;
	ck_epoch_record_t *record;
	uint64_t shard = cursor >> 32;
	unsigned long offset = (unsigned long)(cursor & 0xffffffffu);

	if (store == NULL || fn == NULL || next_cursor == NULL || max_keys == 0)
		return TTLKV_INVALID_ARGUMENT;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	progress.keys = max_keys;
	progress.slots = max_keys > SIZE_MAX / SLOTS_PER_KEY ? SIZE_MAX : max_keys * SLOTS_PER_KEY;
	if (progress.slots < MIN_SLOTS)
		progress.slots = MIN_SLOTS;
	progress.now = store_now(store);
	section_begin(record);
	while (shard < store->n_shards && progress.keys != 0 && progress.slots != 0) {
		if (!scan_shard(&store->shards[shard], &offset, &progress, fn, context))
			break;
		shard++;
		offset = 0;
	}
	section_end(record);
	*next_cursor = shard < store->n_shards ? CURSOR(shard, offset) : 0;
	return TTLKV_OK;
}
