/*
 * The incremental sweep, for programs without an expiry worker.
 *
 * The sweep scans slots as a reader (inside an epoch section, no lock) and
 * copies the keys of expired entries it finds into a local buffer, up to
 * SWEEP_BATCH of them. It then leaves the section, and
 * only then takes the shard lock to remove those keys that are still expired.
 * No lock is ever taken inside a read section: a thread holding a lock may be
 * waiting for readers to leave theirs. A cursor (shard, slot offset) carries
 * over between calls, so repeated small sweeps visit the whole table in turn.
 */
#include "internal.h"

#include <string.h>

#define SWEEP_BATCH 64
#define SWEEP_KEY_BYTES 4096

struct sweep_batch {
	size_t n;
	size_t used;
	unsigned char *big;   /* one key too long for keys[], heap-allocated */
	struct {
		uint64_t hash;
		const unsigned char *key;
		uint32_t len;
	} found[SWEEP_BATCH];
	unsigned char keys[SWEEP_KEY_BYTES];
};

enum batch_result { BATCH_ADDED, BATCH_FULL, BATCH_SKIPPED };

/* Inside a read section: copies the key of e. A key too long for the batch's
 * buffer gets a batch of its own; if that allocation fails the key is
 * skipped (a later sweep retries it) rather than retried forever. */
static enum batch_result
batch_add(struct sweep_batch *b, const struct ttlkv *store, const struct entry *e)
{
	unsigned char *to;

	if (b->n == SWEEP_BATCH)
		return BATCH_FULL;
	if (b->used + entry_key_len(e) <= SWEEP_KEY_BYTES) {
		to = b->keys + b->used;
		b->used += entry_key_len(e);
	} else if (b->n != 0) {
		return BATCH_FULL;
	} else if ((b->big = ttlkv__alloc(entry_key_len(e))) != NULL) {
		to = b->big;
	} else {
		return BATCH_SKIPPED;
	}
	if (entry_key_len(e) != 0)
		memcpy(to, entry_key(e), entry_key_len(e));
	b->found[b->n].hash = ttlkv__hash(store, entry_key(e), entry_key_len(e));
	b->found[b->n].key = to;
	b->found[b->n].len = entry_key_len(e);
	b->n++;
	return BATCH_ADDED;
}

/* Outside any read section: removes the batch's keys that are still expired. */
static size_t
remove_expired(struct shard *shard, struct sweep_batch *b, uint64_t now)
{
	size_t removed = 0;

	shard_lock(shard);
	for (size_t i = 0; i < b->n; i++) {
		struct probe probe;
		struct entry *e;

		probe_init(&probe, b->found[i].key, b->found[i].len);
		e = table_find(shard, b->found[i].hash, &probe);
		if (e == NULL || !deadline_passed(entry_deadline(e), now) ||
		    !ttlkv__retire_prepare(shard, e) || !ttlkv__expired_reserve(shard, e))
			continue;
		ttlkv__expired_note(shard, e);
		ttlkv__unlink(shard, b->found[i].hash, e, REMOVAL_EXPIRY);
		removed++;
	}
	shard_release(shard, FREES_PER_WRITE);
	ttlkv__free(b->big);
	return removed;
}

/*
 * Inside a read section: scans up to budget slots of the shard's table from
 * *offset, collecting expired keys into b. Returns the slots visited (at
 * least 1); *wrapped tells whether the table's end was reached.
 */
static size_t
scan_shard(struct shard *shard, unsigned long *offset, size_t budget,
    uint64_t now, struct sweep_batch *b, bool *wrapped)
{
	struct slot_scan scan = { ttlkv__table_map(shard), *offset };
	unsigned long end = ttlkv__map_slots(scan.map);
	unsigned long limit = budget < end - (*offset < end ? *offset : end) ? *offset + budget : end;
	const void *slot;
	size_t visited;

	while ((slot = ttlkv__scan_next(&scan, limit)) != NULL) {
		const struct entry *e = slot_entry(slot);

		TSAN_ACQUIRE(e);
		if (deadline_passed(entry_deadline(e), now) &&
		    batch_add(b, shard->store, e) == BATCH_FULL) {
			scan.offset--; /* come back to this entry */
			break;
		}
	}
	visited = scan.offset > *offset ? scan.offset - *offset : 1;
	*wrapped = scan.offset >= end;
	*offset = *wrapped ? 0 : scan.offset;
	return visited;
}

ttlkv_status
ttlkv_sweep(ttlkv *store, size_t max_slots, size_t *removed)
{
	ck_epoch_record_t *record;
	size_t visited = 0, n_removed = 0;
	uint32_t wraps = 0;
	uint64_t now;
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	if ((record = ttlkv__reader()) == NULL)
		return TTLKV_OUT_OF_MEMORY;
	now = store_now(store);
	pthread_mutex_lock(&store->sweep_lock);
	while (visited < max_slots && wraps < store->n_shards) {
		struct shard *shard = &store->shards[store->sweep_shard];
		struct sweep_batch batch;
		bool wrapped;

		batch.n = 0;
		batch.used = 0;
		batch.big = NULL;
		section_begin(record);
		visited += scan_shard(shard, &store->sweep_offset, max_slots - visited,
		    now, &batch, &wrapped);
		section_end(record);
		if (batch.n != 0)
			n_removed += remove_expired(shard, &batch, now);
		if (wrapped) {
			ttlkv__retire_flush(shard);
			ttlkv__free_ready(shard, true, SIZE_MAX);
			store->sweep_shard = (store->sweep_shard + 1) % store->n_shards;
			wraps++;
		}
	}
	pthread_mutex_unlock(&store->sweep_lock);
	/* Past the reclamation cap a sweep waits for readers as a writer
	 * does, once it holds no lock (another sweep would wait for it). */
	writer_backpressure(store);
	if (removed != NULL)
		*removed = n_removed;
	return ttlkv_maintain(store, max_slots, NULL);
}
