/*
 * Maintenance for programs without an expiry worker: the incremental sweep
 * and on-demand reclamation.
 *
 * The sweep scans slots as a reader (ck_hs_next_spmc inside an epoch
 * section, no lock) and copies the keys of expired entries it finds into a
 * local buffer, up to SWEEP_BATCH of them. It then leaves the section, and
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

/* Inside a read section: copies the key of e; false if the batch is full. */
static bool
batch_add(struct sweep_batch *b, const struct ttlkv *store, const struct entry *e)
{
	unsigned char *to;

	if (b->n == SWEEP_BATCH)
		return false;
	if (b->used + e->key_len <= SWEEP_KEY_BYTES) {
		to = b->keys + b->used;
		b->used += e->key_len;
	} else if (b->n == 0 && (b->big = ttlkv__alloc(e->key_len)) != NULL) {
		to = b->big;
	} else {
		return false;
	}
	if (e->key_len != 0)
		memcpy(to, e->bytes, e->key_len);
	b->found[b->n].hash = ttlkv__hash(store, e->bytes, e->key_len);
	b->found[b->n].key = to;
	b->found[b->n].len = e->key_len;
	b->n++;
	return true;
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
		if (e == NULL || !deadline_passed(LOAD(&e->deadline), now) ||
		    !ttlkv__retire_prepare(shard) || !ttlkv__expired_reserve(shard, e))
			continue;
		ttlkv__expired_note(shard, e);
		ttlkv__unlink(shard, b->found[i].hash, e, true);
		removed++;
	}
	shard_unlock(shard);
	ttlkv__free(b->big);
	return removed;
}

/*
 * Scans from *offset for up to budget slots, collecting expired keys into b.
 * Returns slots visited; *wrapped tells whether the shard's end was reached.
 */
static size_t
scan_shard(struct shard *shard, unsigned long *offset, size_t budget,
    uint64_t now, struct sweep_batch *b, bool *wrapped)
{
	ck_hs_iterator_t it = CK_HS_ITERATOR_INITIALIZER;
	unsigned long start = *offset, resume = start;
	void *object;

	it.offset = start;
	*wrapped = true;
	while (ck_hs_next_spmc(&shard->hs, &it, &object)) {
		struct entry *e = slot_entry(object);

		TSAN_ACQUIRE(e);
		if (deadline_passed(LOAD(&e->deadline), now) && !batch_add(b, shard->store, e)) {
			/* Batch full: come back to this entry next time. */
			*wrapped = false;
			break;
		}
		resume = it.offset;
		if (resume - start >= budget) {
			*wrapped = false;
			break;
		}
	}
	if (!*wrapped) {
		*offset = resume;
		return resume > start ? resume - start : 1;
	}
	*offset = 0;
	return start < LOAD(&shard->slots) ? LOAD(&shard->slots) - start : 1;
}

static void
flush(struct shard *shard)
{
	shard_lock(shard);
	ttlkv__retire_flush(shard);
	shard_unlock(shard);
}

static void
free_ready(struct shard *shard)
{
	void *out[64];
	size_t n;

	do {
		shard_lock(shard);
		n = ttlkv__take_ready(shard, out, 64);
		shard_unlock(shard);
		ttlkv__free_blocks(out, n);
	} while (n != 0);
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
			flush(shard);
			free_ready(shard);
			store->sweep_shard = (store->sweep_shard + 1) % store->n_shards;
			wraps++;
		}
	}
	pthread_mutex_unlock(&store->sweep_lock);
	if (removed != NULL)
		*removed = n_removed;
	return TTLKV_OK;
}

ttlkv_status
ttlkv_reclaim(ttlkv *store, int wait_for_readers)
{
	ttlkv_status status = lock_check(store);

	if (status != TTLKV_OK)
		return status;
	for (uint32_t i = 0; i < store->n_shards; i++)
		flush(&store->shards[i]);
	ttlkv__grace(store, wait_for_readers != 0);
	for (uint32_t i = 0; i < store->n_shards; i++)
		free_ready(&store->shards[i]);
	return TTLKV_OK;
}
